#!/usr/bin/env node
// The JS client's side of tests/scenarios/js_client.rs, run in phases; the phone's state
// (device key, device id, counter, cursor, actor, documents) lives in a JSON file.
//
//   node scenario.mjs enrol   <state.json> <center_url> <enrolment_code>
//   node scenario.mjs work    <state.json>
//   node scenario.mjs catchup <state.json> <household_id> [<incident_id>]
//
// GRIDSYNC_JS_PAGE_ITEMS sets max_items of every pull (default 200), to walk pages.
// Results go to stdout as one JSON object per line; progress to stderr. Any failure
// exits non-zero with a message.

import fs from 'node:fs';

import { Client, checkVectors, digest, gb11643Check, newState, personId, ready } from './client.mjs';

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
  log(`created household ${household}, person ${person}, incident ${incident} (${client.get(incident).status})`);

  const pushed = await client.push();
  if (pushed.refused > 0) {
    throw new Error(`the center refused ${pushed.refused} change(s): ${JSON.stringify(pushed.quarantine.map(({ record_id, code, reason }) => ({ record_id, code, reason })))}`);
  }
  log(`pushed ${pushed.pushed} changes`);
  out({ household, person, incident });
}

async function catchup([path, householdId, incidentId]) {
  if (!path || !householdId) throw new Error('usage: catchup <state.json> <household_id> [<incident_id>]');
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
