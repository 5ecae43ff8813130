// Checks the client against docs/vectors/v1.json: `node --test vectors.test.mjs`.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as A from '@automerge/automerge';
import { checkVectors, Client, newState, readRecord, foldIncident, gb11643Check, personId, uuidv7, isRecordId, encodeEnvelope, decodeEnvelope, ready } from './client.mjs';

test('the client reproduces every vector of docs/vectors/v1.json', async () => {
  const checked = await checkVectors();
  assert.ok(checked.length >= 20, checked.join(', '));
});

test('envelopes round-trip, compressed from 160 bytes on', async () => {
  await ready();
  const small = encodeEnvelope({ buckets: [1, 2] });
  assert.equal(small[5], 0);
  const big = encodeEnvelope({ record_ids: Array.from({ length: 10 }, () => uuidv7()) });
  assert.equal(big[5], 1);
  assert.equal(decodeEnvelope(big).record_ids.length, 10);
  assert.throws(() => decodeEnvelope(Buffer.from('GSY\x02\x00\x00\xf6', 'latin1')), /unsupported_version/);
});

test('writes use the documented automerge types', () => {
  const state = { ...newState(), worker_id: 'w-test', scope: ['440106012003001'] };
  const c = new Client(state);
  const id = c.create('incident', { area_code: '44010601200300101', title: '路灯不亮', categories: ['公共设施'], occurred_at: 1767225600000, people_count: 3, major: false, notes: '村口' });
  c.followUp(id, 'report');
  const doc = c.docs.get(id).doc;
  assert.ok(A.isImmutableString(doc.title));
  assert.equal(typeof doc.occurred_at, 'number');
  assert.equal(String(doc.notes), '村口');
  assert.equal(readRecord(doc).status, 'reported');
  assert.equal(c.state.pending.length, 2);
  const change = A.decodeChange(Buffer.from(c.state.pending[0].bytes_b64, 'base64'));
  assert.equal(change.message, 'w-test');
  assert.equal(change.actor, state.actor);
  const occurred = change.ops.find((o) => o.key === 'occurred_at');
  assert.equal(occurred.datatype, 'int');
  // An unchanged save makes no change.
  assert.equal(c.edit(id, { title: '路灯不亮' }), null);
  assert.ok(isRecordId(id));
});

test('the incident fold follows merge.md', () => {
  const by = 'w';
  const steps = (...names) => names.map((step) => ({ step, by }));
  assert.equal(foldIncident(steps('report', 'accept', 'start_handling', 'complete', 'verify', 'close')).status, 'closed');
  const f = foldIncident(steps('report', 'accept', 'start_handling', 'complete', 'verify', 'close', 'escalate'));
  assert.equal(f.status, 'closed');
  assert.ok(f.needs_review);
});

test('resident ID check characters and derived person ids', () => {
  assert.equal(gb11643Check('44010619900307002'), '8'); // 440106199003070028, merge.md's example
  const a = personId(Buffer.alloc(32, 1), 'resident_id', '440106199003070028');
  assert.ok(isRecordId(a));
  assert.equal(a[14], '8');
});
