// Checks the client against docs/vectors/v1.json: `node --test vectors.test.mjs`.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as A from '@automerge/automerge';
import fs from 'node:fs';
import { checkVectors, Client, newState, readRecord, foldIncident, gb11643Check, personId, uuidv7, isRecordId, encodeEnvelope, decodeEnvelope, ready, sha256Hex } from './client.mjs';
import { encodeJpeg, jpegSize, testImage } from './jpeg.mjs';

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

test('a photo reference is one str under attachment.<hash>, as data-model.md lays it out', () => {
  const state = { ...newState(), worker_id: 'w-test', scope: ['440106012003001'] };
  const c = new Client(state);
  const id = c.create('incident', { area_code: '44010601200300101', title: '排水沟堵塞', categories: ['环境卫生'], occurred_at: 1767225600000 });
  const photo = fs.readFileSync(new URL('fixtures/photo.jpg', import.meta.url));
  const thumb = fs.readFileSync(new URL('fixtures/thumb.jpg', import.meta.url));
  assert.deepEqual(jpegSize(photo), { width: 96, height: 64 });
  assert.deepEqual(jpegSize(thumb), { width: 24, height: 16 });
  const hash = sha256Hex(photo);
  const ref = { hash, size: photo.length, width: 96, height: 64, thumbnail: { hash: sha256Hex(thumb), size: thumb.length }, caption: '排水沟堵塞', addedAt: 1796057617021 };
  assert.ok(c.attachPhotoReference(id, ref));
  assert.equal(c.attachPhotoReference(id, { ...ref, caption: 'another' }), null, 'a reference is never rewritten');
  const doc = c.docs.get(id).doc;
  const value = doc[`attachment.${hash}`];
  assert.ok(A.isImmutableString(value));
  assert.equal(
    value.val,
    `{"hash":"${hash}","size":${photo.length},"media_type":"image/jpeg","width":96,"height":64,"thumbnail":{"hash":"${sha256Hex(thumb)}","size":${thumb.length}},"caption":"排水沟堵塞","taken_at":null,"added_at":1796057617021,"added_by":"w-test"}`,
  );
  const change = A.decodeChange(Buffer.from(c.state.pending.at(-1).bytes_b64, 'base64'));
  assert.equal(change.message, 'w-test');
  assert.ok(change.time < 1e11, 'change time in seconds');
  assert.deepEqual(change.ops.map((o) => [o.action, o.key]), [['set', `attachment.${hash}`]]);
  assert.deepEqual(readRecord(doc).attachments.map((a) => a.hash), [hash]);
  assert.equal(c.statedBlobSize(id, sha256Hex(thumb)), thumb.length);
  assert.throws(() => c.attachPhotoReference(id, { ...ref, hash: hash.toUpperCase() }), /64 lower-case hex/);
  assert.throws(() => c.attachPhotoReference(id, { ...ref, hash: sha256Hex(Buffer.from('x')), width: 8193 }), /1-8192/);
  const household = c.create('household', { area_code: '44010601200300101', household_no: '1', household_type: 'family', address: 'x', residence_matches: true, housing: 'owned' });
  assert.throws(() => c.attachPhotoReference(household, ref), /holds no photos/);
});

test('the JPEG encoder writes baseline JPEGs of any size', () => {
  for (const [w, h] of [[1, 1], [8, 8], [13, 7], [40, 33]]) {
    const jpeg = encodeJpeg(testImage(w, h, 3));
    assert.deepEqual([...jpeg.subarray(0, 2)], [0xff, 0xd8]);
    assert.deepEqual([...jpeg.subarray(-2)], [0xff, 0xd9]);
    assert.deepEqual(jpegSize(jpeg), { width: w, height: h });
  }
});
