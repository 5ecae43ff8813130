#!/usr/bin/env node
// The JS client's side of tests/scenarios/js_client.rs, run in phases; the phone's state
// (device key, device id, counter, cursor, actor, documents) lives in a JSON file.
//
//   node scenario.mjs enrol   <state.json> <center_url> <enrolment_code>
//   node scenario.mjs work    <state.json>
//   node scenario.mjs catchup <state.json> <household_id> [<incident_id> [<photo_hash>]]
//
// `work` also attaches fixtures/photo.jpg (with fixtures/thumb.jpg as its thumbnail) to
// its incident and uploads both in 256-byte chunks, cutting and resuming each upload;
// `catchup` downloads the photo <photo_hash> another phone attached to <incident_id>.
//
// GRIDSYNC_JS_PAGE_ITEMS sets max_items of every pull (default 200), to walk pages.
// Results go to stdout as one JSON object per line; progress to stderr. Any failure
// exits non-zero with a message.

import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

import { Client, checkVectors, digest, gb11643Check, newState, personId, ready, sha256Hex } from './client.mjs';
import { jpegSize } from './jpeg.mjs';

const fixture = (name) => fs.readFileSync(fileURLToPath(new URL(`fixtures/${name}`, import.meta.url)));
/** Small chunks, so that a photo of a few KB takes several. */
const CHUNK = 256;

function log(...args) {
  console.error('[js-client]', ...args);
}

function out(value) {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

const PAGE = { maxItems: Number(process.env.GRIDSYNC_JS_PAGE_ITEMS ?? 200) };

function load(path) {
  return JSON.parse(fs.readFileSync(path, 'utf8'));
}

function persister(path) {
  return (state) => {
    const tmp = `${path}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(state));
    fs.renameSync(tmp, path);
  };
}

/** A micro-grid in the worker's scope: the first scope prefix that is a grid, plus "01". */
function areaIn(scope) {
  const grid = scope.find((p) => p.length === 15) ?? scope.find((p) => p.length === 17);
  if (!grid) throw new Error(`no grid in scope ${JSON.stringify(scope)}`);
  return grid.length === 15 ? `${grid}01` : grid;
}

async function enrol([path, url, code]) {
  if (!path || !url || !code) throw new Error('usage: enrol <state.json> <center_url> <enrolment_code>');
  const checked = await checkVectors();
  log(`vectors: ${checked.length} checks passed`);
  const state = newState();
  const client = new Client(state, { persist: persister(path) });
  client.persist(state);
  const answer = await client.enrol(url, code, { deviceName: 'js scenario phone' });
  log(`enrolled as device ${answer.device_id} for ${answer.worker_id}, scope ${answer.scope.join(',')}`);
  const pulled = await client.pull(PAGE);
  log(`bootstrap: ${pulled.snapshots} documents, ${pulled.changes} changes in ${pulled.pages} pages; cursor ${JSON.stringify(client.state.cursor)}`);
  out({ vectors: checked.length, device_id: answer.device_id, worker_id: answer.worker_id, scope: answer.scope, bootstrap: pulled });
}

async function work([path]) {
  if (!path) throw new Error('usage: work <state.json>');
  const client = new Client(load(path), { persist: persister(path) });
  const area = areaIn(client.state.scope);
  const now = Date.now();

  const household = client.create('household', {
    area_code: area,
    household_no: 'JS-0001',
    household_type: 'family',
    address: '幸福村js路1号',
    gps: { lat: 23.1291, lon: 113.2644 },
    residence_matches: true,
    housing: 'rented',
    tags: ['出租屋'],
    phone: '13800138123',
    notes: '由JS客户端登记',
  });

  // A person registered with a resident ID: the id is derived under the township key.
  const first17 = '44010619850612003';
  const idNumber = first17 + gb11643Check(first17);
  const personIdValue = personId(Buffer.from(client.state.township_key_hex, 'hex'), 'resident_id', idNumber);
  const person = client.create(
    'person',
    {
      area_code: area,
      name: '陈js',
      id_type: 'resident_id',
      id_number: idNumber,
      gender: 'male', // the 17th digit, 3, is odd
      ethnicity: '01',
      birth_date: '1985-06-12',
      phone: '13912345678',
      household_id: household,
      relationship: '02',
      person_type: 'registered',
      current_address: '幸福村js路1号',
      occupation: '务农',
      status: 'active',
      focus_groups: { 独居老人: { worker: client.state.worker_id, from: '2025-01-01', until: null } },
      notes: '',
    },
    personIdValue,
  );

  const incident = client.create('incident', {
    area_code: area,
    service_no: 'JS-2026-0001',
    title: '村口路灯损坏',
    categories: ['公共设施'],
    location: '幸福村村口',
    occurred_at: now - 3_600_000,
    people_count: 2,
    involved_persons: [person],
    involved_households: [household],
    major: false,
    notes: '夜间无照明，存在安全隐患',
  });
  client.followUp(incident, 'report', { note: '已上报' });

  // A photo of the broken lamp: the reference first (a change of the incident), the
  // bytes after the record is pushed.
  const photo = fixture('photo.jpg');
  const thumb = fixture('thumb.jpg');
  const size = jpegSize(photo);
  const reference = {
    hash: sha256Hex(photo),
    size: photo.length,
    width: size.width,
    height: size.height,
    thumbnail: { hash: sha256Hex(thumb), size: thumb.length },
    caption: '村口路灯灯罩破裂',
    addedAt: now,
  };
  if (!client.attachPhotoReference(incident, reference)) throw new Error('attaching the photo made no change');
  if (client.attachPhotoReference(incident, reference) !== null) throw new Error('attaching the same photo twice made a change');
  log(`created household ${household}, person ${person}, incident ${incident} (${client.get(incident).status}) with photo ${reference.hash}`);

  const pushed = await client.push();
  if (pushed.refused > 0) {
    throw new Error(`the center refused ${pushed.refused} change(s): ${JSON.stringify(pushed.quarantine.map(({ record_id, code, reason }) => ({ record_id, code, reason })))}`);
  }
  log(`pushed ${pushed.pushed} changes`);
  out({ household, person, incident });

  // The thumbnail: one chunk, then a client that lost its place starts again from 0;
  // the center refuses that offset and the client goes on from the status's `received`.
  const thumbCut = await client.uploadBlob(incident, thumb, { chunkBytes: CHUNK, maxChunks: 1 });
  const thumbLost = await client.uploadBlob(incident, thumb, { chunkBytes: CHUNK, assumeOffset: 0 });
  log(`thumbnail: ${JSON.stringify(thumbCut)} then ${JSON.stringify(thumbLost)}`);
  if (thumbCut.stored || thumbCut.sent_bytes !== CHUNK) throw new Error(`the cut thumbnail upload: ${JSON.stringify(thumbCut)}`);
  if (!thumbLost.stored || thumbLost.refusals !== 1 || thumbLost.offsets[1] !== CHUNK) throw new Error(`the thumbnail upload from a wrong offset: ${JSON.stringify(thumbLost)}`);

  // The photo: three chunks, a cut, then a fresh client (the app started again, its
  // state from the file) asks the center and sends only what it lacks.
  const photoCut = await client.uploadBlob(incident, photo, { chunkBytes: CHUNK, maxChunks: 3 });
  const restarted = new Client(load(path), { persist: persister(path) });
  const upBefore = restarted.totals.up;
  const photoResumed = await restarted.uploadBlob(incident, photo, { chunkBytes: CHUNK });
  const resumedEnvelopeBytes = restarted.totals.up - upBefore;
  const photoAgain = await restarted.uploadBlob(incident, photo, { chunkBytes: CHUNK });
  log(`photo: ${JSON.stringify(photoCut)} then ${JSON.stringify(photoResumed)} then ${JSON.stringify(photoAgain)}`);
  if (photoCut.stored || photoCut.sent_bytes !== 3 * CHUNK) throw new Error(`the cut photo upload: ${JSON.stringify(photoCut)}`);
  if (!photoResumed.stored || photoResumed.offsets[0] !== photoCut.sent_bytes || photoResumed.sent_bytes !== photo.length - photoCut.sent_bytes || photoResumed.refusals !== 0) {
    throw new Error(`the resumed photo upload re-sent or skipped bytes: ${JSON.stringify(photoResumed)}`);
  }
  if (!photoAgain.stored || photoAgain.sent_bytes !== 0) throw new Error(`a stored photo was sent again: ${JSON.stringify(photoAgain)}`);

  // Read back through the center, in chunks of another size.
  const back = await restarted.downloadBlob(incident, reference.hash, { chunkBytes: 1000 });
  if (!back.bytes.equals(photo)) throw new Error('the photo came back different');
  out({
    photo: {
      incident,
      hash: reference.hash,
      size: photo.length,
      thumbnail_hash: reference.thumbnail.hash,
      caption: reference.caption,
      cut: { sent_bytes: photoCut.sent_bytes, chunks: photoCut.chunks },
      resumed: { sent_bytes: photoResumed.sent_bytes, chunks: photoResumed.chunks, first_offset: photoResumed.offsets[0], envelope_bytes_up: resumedEnvelopeBytes },
      again_sent_bytes: photoAgain.sent_bytes,
      thumbnail: { sent_bytes: thumbCut.sent_bytes + thumbLost.sent_bytes, refusals: thumbLost.refusals },
      downloaded_chunks: back.chunks,
    },
  });
}

async function catchup([path, householdId, incidentId, photoHash]) {
  if (!path || !householdId) throw new Error('usage: catchup <state.json> <household_id> [<incident_id> [<photo_hash>]]');
  const client = new Client(load(path), { persist: persister(path) });

  const pulled = await client.pull(PAGE);
  log(`pulled ${pulled.snapshots} documents and ${pulled.changes} changes in ${pulled.pages} pages`);
  const household = client.get(householdId);
  if (!household) throw new Error(`household ${householdId} is not on this phone`);
  out({ household });
  if (incidentId) {
    const incident = client.get(incidentId);
    if (!incident) throw new Error(`incident ${incidentId} is not on this phone`);
    out({ incident: { status: incident.status, needs_review: incident.needs_review, steps: incident.timeline.map((e) => `${e.step} by ${e.by}`) } });
  }
  if (photoHash) {
    // The photo another phone attached: its reference came with the pull, its bytes and
    // its thumbnail's come from the center on demand.
    const ref = client.get(incidentId).attachments.find((a) => a.hash === photoHash);
    if (!ref) throw new Error(`incident ${incidentId} does not reference photo ${photoHash}`);
    const photo = await client.downloadBlob(incidentId, photoHash, { chunkBytes: 4096 });
    const thumb = await client.downloadBlob(incidentId, ref.thumbnail.hash, { chunkBytes: 4096 });
    const dims = jpegSize(photo.bytes);
    const jpeg = (b) => b[0] === 0xff && b[1] === 0xd8;
    out({
      rust_photo: {
        hash: photoHash,
        sha256: sha256Hex(photo.bytes),
        size: photo.bytes.length,
        stated_size: ref.size,
        starts_ffd8: jpeg(photo.bytes),
        width: dims?.width ?? null,
        height: dims?.height ?? null,
        reference: ref,
        chunks: photo.chunks,
        thumbnail_ok: jpeg(thumb.bytes) && thumb.bytes.length === ref.thumbnail.size && sha256Hex(thumb.bytes) === ref.thumbnail.hash,
      },
    });
  }

  // An idle sync: nothing pending, nothing new at the center.
  if (client.state.pending.length > 0) throw new Error(`${client.state.pending.length} changes still pending`);
  const before = client.totals.requests;
  const idle = await client.pull(PAGE);
  const requests = client.totals.requests - before;
  if (idle.snapshots + idle.changes > 0) throw new Error(`the idle sync pulled ${JSON.stringify(idle)}`);
  out({ idle_sync: { requests, round_trips: idle.pages, body_bytes_up: client.last.up, body_bytes_down: client.last.down, note: 'HTTP body bytes (envelopes), headers not counted' } });

  const mine = digest(client.recordsInScope());
  const center = await client.centerDigest();
  const equal = mine.total === center.total && mine.buckets.every((b, i) => b === center.buckets[i]);
  if (!equal) log(`digest differs: mine ${mine.records} records ${mine.total}, center ${center.records} records ${center.total}`);
  out({ digest_equal: equal, records: mine.records, center_records: center.records });

  // Heads of every bucket, record by record, and a fetch of the household that changes nothing.
  const theirs = new Map((await client.centerHeads([...Array(16).keys()])).map((r) => [r.record_id, r.heads]));
  const local = client.recordsInScope();
  const headsEqual = theirs.size === local.length && local.every((r) => theirs.get(r.record_id) === [...r.heads].sort().join(''));
  const headsBefore = client.heads(householdId).join();
  const fetched = await client.fetchRecords([householdId, householdId]);
  out({ heads_equal: headsEqual, fetched, fetch_changed_nothing: client.heads(householdId).join() === headsBefore });
}

const phases = { enrol, work, catchup };
const [phase, ...args] = process.argv.slice(2);
try {
  if (!phases[phase]) throw new Error(`unknown phase ${phase ?? '(none)'}; one of ${Object.keys(phases).join(', ')}`);
  await ready();
  await phases[phase](args);
} catch (e) {
  console.error(`js-client ${phase ?? ''} failed: ${e?.stack ?? e}`);
  process.exit(1);
}
