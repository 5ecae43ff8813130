// A second client of the gridsync sync protocol, version 1, written from docs/ alone
// (protocol.md, data-model.md, merge.md, vectors/v1.json). Node 20, ESM.
//
// What is here: the envelope (CBOR + zstd), request signing, the record layout of each
// kind as automerge documents starting from the kind's genesis change, and a small
// client: enrol, push, pull (bootstrap and changes cursors, paging), digest, heads,
// fetch, and photos (a reference under `attachment.<hash>` on an incident or visit, its
// blobs uploaded in chunks resumed from the center's `received`, downloaded and checked
// against their SHA-256; test JPEGs come from ./jpeg.mjs). The state of a phone is one JSON-able object (see `newState`) that the caller
// persists; `persist` is called before every request, so a counter is never reused.

import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

import * as A from '@automerge/automerge';
import { encode as cbor2Encode, decode as cborDecode } from 'cbor2';
import { init as zstdInit, compress as zstdCompress, decompress as zstdDecompress } from '@bokuweb/zstd-wasm';

// ---------------------------------------------------------------------------------
// Errors

export class GridsyncError extends Error {
  /** @param {string} kind Protocol | Unauthorized | Revoked | OutOfScope | Network | Rejected | Invalid */
  constructor(kind, message, extra = {}) {
    super(`${kind}: ${message}`);
    this.kind = kind;
    Object.assign(this, extra);
  }
}

// ---------------------------------------------------------------------------------
// Envelope: "GSY", major 1, minor 0, flags (bit 0: zstd), CBOR payload.

export const MAJOR = 1;
export const MINOR = 0;
export const MAX_ENVELOPE = 4 * 1024 * 1024;
export const MAX_PAYLOAD = 32 * 1024 * 1024;
export const COMPRESS_FROM = 160;
const MAGIC = Buffer.from('GSY');

/** Node Buffers as plain Uint8Arrays: cbor2 writes a Uint8Array as a byte string but a
 * Buffer as its toJSON() map. */
function bytesAsUint8Array(value) {
  if (Buffer.isBuffer(value)) return new Uint8Array(value.buffer, value.byteOffset, value.length);
  if (Array.isArray(value)) return value.map(bytesAsUint8Array);
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, bytesAsUint8Array(v)]));
  }
  return value;
}

let zstdReady = null;
/** The zstd WebAssembly module loads asynchronously once; call before any envelope. */
export function ready() {
  zstdReady ??= zstdInit();
  return zstdReady;
}

/** CBOR of `message` (plain objects, strings, numbers, booleans, null, Uint8Array). */
export function cborEncode(message) {
  // Maps with text keys and definite lengths, byte strings untagged, integers in their
  // shortest form (cbor2's defaults); the envelope vectors re-encode byte for byte.
  return Buffer.from(cbor2Encode(bytesAsUint8Array(message)));
}

export function encodeEnvelope(message, { compress = 'auto' } = {}) {
  const payload = cborEncode(message);
  const squeeze = compress === 'auto' ? payload.length >= COMPRESS_FROM : Boolean(compress);
  const body = squeeze ? Buffer.from(zstdCompress(payload, 3)) : payload;
  return Buffer.concat([MAGIC, Buffer.from([MAJOR, MINOR, squeeze ? 1 : 0]), body]);
}

/** The content size a zstd frame header declares, or null when it declares none. */
function zstdFrameContentSize(frame) {
  if (frame.length < 5 || frame.readUInt32LE(0) !== 0xfd2fb528) throw new GridsyncError('Protocol', 'not a zstd frame');
  const fhd = frame[4];
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd >> 5) & 1;
  const dictIdSize = [0, 1, 2, 4][fhd & 3];
  const fcsSize = fcsFlag === 0 ? singleSegment : [0, 2, 4, 8][fcsFlag];
  if (fcsSize === 0) return null;
  const at = 5 + (singleSegment ? 0 : 1) + dictIdSize;
  if (frame.length < at + fcsSize) throw new GridsyncError('Protocol', 'truncated zstd frame header');
  switch (fcsSize) {
    case 1:
      return frame[at];
    case 2:
      return frame.readUInt16LE(at) + 256;
    case 4:
      return frame.readUInt32LE(at);
    default: {
      const size = frame.readBigUInt64LE(at);
      return size > BigInt(MAX_PAYLOAD) ? MAX_PAYLOAD + 1 : Number(size);
    }
  }
}

export function decodeEnvelope(bytes) {
  const buf = Buffer.from(bytes);
  if (buf.length > MAX_ENVELOPE) throw new GridsyncError('Protocol', `envelope of ${buf.length} bytes is over 4 MiB`);
  if (buf.length < 6 || !buf.subarray(0, 3).equals(MAGIC)) throw new GridsyncError('Protocol', 'not a gridsync envelope');
  if (buf[3] !== MAJOR) throw new GridsyncError('Protocol', `unsupported_version: major ${buf[3]}`);
  let payload = buf.subarray(6);
  if (buf[5] & 1) {
    const declared = zstdFrameContentSize(payload);
    if (declared !== null && declared > MAX_PAYLOAD) throw new GridsyncError('Protocol', 'payload decompresses past 32 MiB');
    try {
      // With no declared size, the output buffer is the limit itself: a bomb fails there.
      payload = Buffer.from(zstdDecompress(payload, { defaultHeapSize: declared ?? MAX_PAYLOAD }));
    } catch (e) {
      throw new GridsyncError('Protocol', `bad zstd payload: ${e.message}`);
    }
  }
  try {
    return cborDecode(payload);
  } catch (e) {
    throw new GridsyncError('Protocol', `bad CBOR payload: ${e.message}`);
  }
}

// ---------------------------------------------------------------------------------
// Signing

export const SIGNING_PREFIX = 'gridsync-request-v1';

export function sha256(bytes) {
  return crypto.createHash('sha256').update(bytes).digest();
}

export function signingInput(method, path, device, counter, body) {
  return `${SIGNING_PREFIX}\n${method}\n${path}\n${device}\n${counter}\n${sha256(body).toString('hex')}`;
}

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** An Ed25519 device key from its 32-byte seed. */
export function keyFromSeed(seed) {
  const privateKey = crypto.createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, Buffer.from(seed)]),
    format: 'der',
    type: 'pkcs8',
  });
  return privateKey;
}

export function generateSeed() {
  return crypto.randomBytes(32);
}

export function publicKeyOf(privateKey) {
  const spki = crypto.createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return Buffer.from(spki.subarray(spki.length - 32));
}

export function sign(privateKey, method, path, device, counter, body) {
  const input = signingInput(method, path, device, counter, body);
  return crypto.sign(null, Buffer.from(input, 'utf8'), privateKey).toString('hex');
}

// ---------------------------------------------------------------------------------
// Ids

function uuidText(b) {
  const h = Buffer.from(b).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function uuidv7(ms = Date.now()) {
  const b = crypto.randomBytes(16);
  b.writeUIntBE(ms, 0, 6);
  b[6] = 0x70 | (b[6] & 0x0f);
  b[8] = 0x80 | (b[8] & 0x3f);
  return uuidText(b);
}

/**
 * The id of a person registered with an identity document: the first 16 bytes of
 * HMAC-SHA256(township key, "gridsync/person-id/v1\0" ‖ id_type ‖ "\0" ‖ number), as a
 * UUIDv8. The docs do not say whether the version and variant bits overwrite the HMAC's
 * (RFC 9562 says they must); they are set here, as RFC 9562 has it.
 */
export function personId(townshipKey, idType, idNumber) {
  const mac = crypto
    .createHmac('sha256', Buffer.from(townshipKey))
    .update(Buffer.concat([Buffer.from('gridsync/person-id/v1\0', 'utf8'), Buffer.from(idType, 'utf8'), Buffer.from([0]), Buffer.from(idNumber, 'utf8')]))
    .digest();
  const b = Buffer.from(mac.subarray(0, 16));
  b[6] = 0x80 | (b[6] & 0x0f);
  b[8] = 0x80 | (b[8] & 0x3f);
  return uuidText(b);
}

const RECORD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[78][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
export function isRecordId(id) {
  return typeof id === 'string' && RECORD_ID.test(id);
}

/** The GB 11643 check character of the first 17 digits of a resident ID number. */
export function gb11643Check(first17) {
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * weights[i];
  return '10X98765432'[sum % 11];
}

// ---------------------------------------------------------------------------------
// The record layout (data-model.md), fields in schema order: the order a writer puts
// them, which the household change vector confirms.

export const GENESIS_ACTOR = Buffer.from('gridsync-genesis').toString('hex');
export const KINDS = ['household', 'person', 'visit', 'incident'];

const str = 'str';
const int = 'int';
const bool = 'bool';
const json = 'json';
const text = 'text';
const set = 'set';
const entries = 'entries';
const timeline = 'timeline';

export const SCHEMA = {
  household: [
    ['area_code', str],
    ['household_no', str],
    ['household_type', str],
    ['address', str],
    ['gps', json],
    ['residence_matches', bool],
    ['housing', str],
    ['tags', set],
    ['phone', str],
    ['notes', text],
  ],
  person: [
    ['area_code', str],
    ['name', str],
    ['former_name', str],
    ['id_type', str],
    ['id_number', str],
    ['gender', str],
    ['ethnicity', str],
    ['birth_date', str],
    ['phone', str],
    ['household_id', str],
    ['relationship', str],
    ['person_type', str],
    ['registered_address', str],
    ['current_address', str],
    ['occupation', str],
    ['status', str],
    ['status_changed_at', int],
    ['focus_groups', entries],
    ['notes', text],
  ],
  visit: [
    ['area_code', str],
    ['target', json],
    ['visited_at', int],
    ['visitor', str],
    ['gps', json],
    ['purpose', str],
    ['next_due', str],
    ['findings', timeline],
    ['notes', text],
  ],
  incident: [
    ['area_code', str],
    ['service_no', str],
    ['title', str],
    ['categories', set],
    ['location', str],
    ['gps', json],
    ['occurred_at', int],
    ['people_count', int],
    ['involved_persons', set],
    ['involved_households', set],
    ['major', bool],
    ['timeline', timeline],
    ['notes', text],
  ],
};

const NESTED = { set: 'map', entries: 'map', timeline: 'list', text: 'text' };

/** The genesis change of `kind`, built as data-model.md describes it. */
export function buildGenesis(kind) {
  if (!SCHEMA[kind]) throw new GridsyncError('Invalid', `unknown kind ${kind}`);
  let doc = A.init({ actor: GENESIS_ACTOR });
  doc = A.change(doc, { time: 0 }, (r) => {
    r.kind = new A.ImmutableString(kind);
    r.v = new A.Uint(1);
    for (const [key, type] of SCHEMA[kind]) {
      const nested = NESTED[type];
      if (nested === 'map') r[key] = {};
      else if (nested === 'list') r[key] = [];
      else if (nested === 'text') r[key] = ''; // a JS string becomes automerge Text
    }
  });
  return Buffer.from(A.getLastLocalChange(doc));
}

const GENESIS = Object.fromEntries(KINDS.map((k) => [k, buildGenesis(k)]));
export function genesisChange(kind) {
  return GENESIS[kind];
}

/** A new record of `kind`: the genesis, with `actor` as the author of what follows. */
export function newDocument(kind, actor) {
  return A.applyChanges(A.init({ actor }), [genesisChange(kind)])[0];
}

function plain(value) {
  if (value instanceof A.ImmutableString) return value.val;
  if (typeof value === 'bigint') return Number(value);
  return value;
}

function sameJson(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Writes `fields` (a plain object: strings, numbers, booleans, JSON objects for json
 * fields, arrays of members for sets, objects for entries, a string for notes) into the
 * record inside an `A.change` callback `r`: only fields present in `fields` are looked
 * at, and only those whose value differs from the document's are written. `null` or ''
 * removes a scalar. Timelines are never written here (see `appendEntry`).
 */
export function writeFields(r, kind, fields) {
  for (const [key, type] of SCHEMA[kind]) {
    if (!(key in fields)) continue;
    const value = fields[key];
    const current = plain(r[key]);
    switch (type) {
      case str:
        if (value === null || value === undefined || value === '') {
          if (key in r) delete r[key];
        } else if (current !== value) {
          r[key] = new A.ImmutableString(String(value));
        }
        break;
      case int:
        if (value === null || value === undefined) {
          if (key in r) delete r[key];
        } else if (current !== value) {
          if (!Number.isSafeInteger(value)) throw new GridsyncError('Invalid', `${key} must be an integer`);
          r[key] = new A.Int(value);
        }
        break;
      case bool:
        if (value === null || value === undefined) {
          if (key in r) delete r[key];
        } else if (current !== value) {
          r[key] = Boolean(value);
        }
        break;
      case json: {
        const encoded = value === null || value === undefined ? null : JSON.stringify(value);
        if (encoded === null) {
          if (key in r) delete r[key];
        } else if (current !== encoded) {
          r[key] = new A.ImmutableString(encoded);
        }
        break;
      }
      case set: {
        const wanted = new Set(value ?? []);
        for (const member of Object.keys(r[key])) if (!wanted.has(member)) delete r[key][member];
        for (const member of wanted) if (r[key][member] !== true) r[key][member] = true;
        break;
      }
      case entries: {
        const wanted = value ?? {};
        for (const name of Object.keys(r[key])) if (!(name in wanted)) delete r[key][name];
        for (const [name, entry] of Object.entries(wanted)) {
          const encoded = JSON.stringify(entry);
          if (plain(r[key][name]) !== encoded) r[key][name] = new A.ImmutableString(encoded);
        }
        break;
      }
      case text:
        // Edit characters inside the genesis's Text; never replace the object.
        if ((r[key] ?? '') !== (value ?? '')) A.updateText(r, [key], value ?? '');
        break;
      case timeline:
        throw new GridsyncError('Invalid', `${key} is a timeline: append entries, never write it`);
      default:
        throw new GridsyncError('Invalid', `unknown field type ${type}`);
    }
  }
}

/** The record as plain values (sets as sorted arrays, JSON fields parsed). */
export function readRecord(doc) {
  const kind = plain(doc.kind);
  const schema = SCHEMA[kind];
  if (!schema) throw new GridsyncError('Protocol', `a document of unknown kind ${kind}`);
  const out = { kind, v: plain(doc.v) };
  if (doc.deleted !== undefined) out.deleted = doc.deleted;
  for (const [key, type] of schema) {
    const value = doc[key];
    if (value === undefined) continue;
    switch (type) {
      case json:
        try {
          out[key] = JSON.parse(plain(value));
        } catch {
          out[key] = plain(value);
        }
        break;
      case set:
        out[key] = Object.keys(value)
          .filter((m) => value[m] === true)
          .sort();
        break;
      case entries:
        out[key] = {};
        for (const [name, entry] of Object.entries(value)) {
          try {
            out[key][name] = JSON.parse(plain(entry));
          } catch {
            /* an entry this version cannot read is skipped */
          }
        }
        break;
      case timeline:
        out[key] = [];
        for (const entry of value) {
          try {
            out[key].push(JSON.parse(plain(entry)));
          } catch {
            /* skipped when reading, kept in the document */
          }
        }
        break;
      case text:
        out[key] = String(value);
        break;
      default:
        out[key] = plain(value);
    }
  }
  if (kind === 'incident') Object.assign(out, foldIncident(out.timeline ?? []));
  if (PHOTO_KINDS.includes(kind)) out.attachments = readAttachments(doc);
  return out;
}

// ---------------------------------------------------------------------------------
// Photo references (data-model.md "Photos 现场照片", protocol.md "Photos")

export const PHOTO_KINDS = ['incident', 'visit'];
export const ATTACHMENT_PREFIX = 'attachment.';
export const MAX_BLOB = 4 * 1024 * 1024;
export const MAX_SIDE = 8192;
export const MAX_ATTACHMENTS = 16;
export const MAX_CHUNK = 256 * 1024;
export const DEFAULT_CHUNK = 64 * 1024;
const HASH = /^[0-9a-f]{64}$/;

export function isBlobHash(hash) {
  return typeof hash === 'string' && HASH.test(hash);
}

export function sha256Hex(bytes) {
  return sha256(bytes).toString('hex');
}

export function attachmentKey(hash) {
  return `${ATTACHMENT_PREFIX}${hash}`;
}

function checkBlobRef(what, hash, size) {
  if (!isBlobHash(hash)) throw new GridsyncError('Invalid', `${what}.hash must be 64 lower-case hex digits`);
  if (!Number.isSafeInteger(size) || size < 1 || size > MAX_BLOB) throw new GridsyncError('Invalid', `${what}.size must be 1 B-4 MiB`);
}

/**
 * The JSON string of one photo reference, keys in the order of protocol.md's example,
 * compact, optional values null. Checks the bounds data-model.md gives.
 */
export function photoReference({ hash, size, width, height, thumbnail, caption = '', takenAt = null, addedAt, addedBy }) {
  checkBlobRef('photo', hash, size);
  for (const [name, v] of [
    ['width', width],
    ['height', height],
  ]) {
    if (!Number.isSafeInteger(v) || v < 1 || v > MAX_SIDE) throw new GridsyncError('Invalid', `photo.${name} must be 1-8192 px`);
  }
  if (!thumbnail) throw new GridsyncError('Invalid', 'a photo reference needs its thumbnail {hash, size}');
  checkBlobRef('thumbnail', thumbnail.hash, thumbnail.size);
  if (typeof caption !== 'string' || [...caption].length > 200) throw new GridsyncError('Invalid', 'caption must be text of at most 200 characters');
  if (takenAt !== null && !Number.isSafeInteger(takenAt)) throw new GridsyncError('Invalid', 'taken_at must be ms or null');
  if (!Number.isSafeInteger(addedAt)) throw new GridsyncError('Invalid', 'added_at must be ms');
  if (typeof addedBy !== 'string' || addedBy === '') throw new GridsyncError('Invalid', 'added_by must be a worker id');
  return JSON.stringify({
    hash,
    size,
    media_type: 'image/jpeg',
    width,
    height,
    thumbnail: { hash: thumbnail.hash, size: thumbnail.size },
    caption,
    taken_at: takenAt,
    added_at: addedAt,
    added_by: addedBy,
  });
}

/** The photo references a document holds, oldest first; one that does not read is skipped. */
export function readAttachments(doc) {
  const out = [];
  for (const key of Object.keys(doc)) {
    if (!key.startsWith(ATTACHMENT_PREFIX)) continue;
    const value = plain(doc[key]);
    if (typeof value !== 'string') continue;
    try {
      const ref = JSON.parse(value);
      if (ref && typeof ref === 'object' && ref.hash === key.slice(ATTACHMENT_PREFIX.length)) out.push(ref);
    } catch {
      /* a reference this version cannot read is kept in the document, not shown */
    }
  }
  return out.sort((a, b) => (a.added_at ?? 0) - (b.added_at ?? 0) || (a.hash < b.hash ? -1 : 1));
}

// ---------------------------------------------------------------------------------
// The incident loop as a fold over the timeline (merge.md)

export const STEPS = [
  'report', 'accept', 'return', 'decline', 'assign', 'divert', 'escalate', 'start_handling', 'complete',
  'resolve_on_site', 'verify', 'verify_fail', 'call_back', 'close', 'shut', 'reopen', 'mark_urgent',
  'supervise', 'comment', 'review',
];
const FLAGS = new Set(['mark_urgent', 'supervise', 'comment', 'review']);
const OPEN = new Set(['draft', 'reported', 'returned', 'accepted', 'assigned', 'diverted', 'escalated', 'in_progress', 'completed', 'verified']);
const MOVES = {
  report: { draft: 'reported', returned: 'reported' },
  accept: { reported: 'accepted' },
  return: { reported: 'returned' },
  decline: { reported: 'declined' },
  assign: { accepted: 'assigned' },
  divert: { accepted: 'diverted' },
  escalate: { accepted: 'escalated' },
  start_handling: { accepted: 'in_progress', assigned: 'in_progress', diverted: 'in_progress', escalated: 'in_progress' },
  complete: { in_progress: 'completed' },
  resolve_on_site: { draft: 'completed', reported: 'completed', accepted: 'completed' },
  verify: { completed: 'verified' },
  verify_fail: { completed: 'in_progress' },
  call_back: { completed: 'verified', verified: 'verified' },
  close: { verified: 'closed' },
  reopen: { closed: 'in_progress', declined: 'reported', shut: 'reported' },
};

export function nextStatus(status, step) {
  if (FLAGS.has(step)) return status;
  if (step === 'shut') return OPEN.has(status) ? 'shut' : null;
  return MOVES[step]?.[status] ?? null;
}

export function foldIncident(entries) {
  let status = 'draft';
  let urgent = false;
  let supervision = null;
  let review = [];
  const rank = { normal: 1, yellow: 2, red: 3 };
  for (const e of entries) {
    if (!STEPS.includes(e.step)) continue;
    if (e.step === 'mark_urgent') urgent = true;
    if (e.step === 'supervise' && e.supervision && (rank[e.supervision] ?? 0) > (rank[supervision] ?? 0)) supervision = e.supervision;
    if (e.step === 'review') review = [];
    const next = nextStatus(status, e.step);
    if (next === null) review.push(`${e.step} by ${e.by} does not follow ${status} (concurrent steps)`);
    else status = next;
  }
  return { status, urgent, supervision, needs_review: review.length > 0, review };
}

// ---------------------------------------------------------------------------------
// Transport

function isLoopback(hostname) {
  const h = hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\./.test(h);
}

/** One POST; resolves to {status, body (Buffer)}; rejects with Network on failure. */
function post(url, headers, body, { ca = null, timeoutMs = 90_000 } = {}) {
  const u = new URL(url);
  let lib;
  const options = {
    method: 'POST',
    hostname: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port || (u.protocol === 'https:' ? 443 : 80),
    path: u.pathname,
    headers: { ...headers, 'content-type': 'application/x-gridsync', 'content-length': body.length },
  };
  if (u.protocol === 'https:') {
    if (!ca) throw new GridsyncError('Protocol', 'https needs the center CA from enrolment (pinned, no platform trust store)');
    lib = https;
    options.ca = ca;
  } else if (u.protocol === 'http:' && isLoopback(u.hostname)) {
    lib = http;
  } else {
    throw new GridsyncError('Protocol', `plain HTTP only to a loopback address, not ${u.host}`);
  }
  return new Promise((resolve, reject) => {
    const req = lib.request(options, (res) => {
      const chunks = [];
      let size = 0;
      res.on('data', (c) => {
        size += c.length;
        if (size > MAX_ENVELOPE + 1024) {
          req.destroy(new GridsyncError('Protocol', 'answer over 4 MiB'));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks), headers: res.headers }));
      res.on('error', (e) => reject(new GridsyncError('Network', e.message, { retryable: true })));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('request timed out')));
    req.on('error', (e) => reject(e instanceof GridsyncError ? e : new GridsyncError('Network', e.message, { retryable: true })));
    req.end(body);
  });
}

const STATUS_KIND = {
  400: 'Protocol',
  401: 'Unauthorized',
  403: 'Unauthorized',
  404: 'NotFound',
  410: 'Revoked',
  413: 'Protocol',
  429: 'RateLimited',
};

function errorFrom(status, body, headers = {}) {
  let code = 'unknown';
  let message = '';
  try {
    const e = decodeEnvelope(body);
    code = e?.code ?? code;
    message = e?.message ?? '';
  } catch {
    message = body.subarray(0, 200).toString('utf8');
  }
  let kind = STATUS_KIND[status] ?? (status >= 500 ? 'Network' : 'Protocol');
  const extra = { status, code };
  if (code === 'revoked') {
    kind = 'Revoked';
    extra.wipe = false;
  }
  if (status === 410) extra.wipe = true;
  if (code === 'out_of_scope') kind = 'OutOfScope';
  // protocol.md "Errors": 404 not_held is `NotFound {kind: "attachment"}` (named `what`
  // here: `kind` is this error's own kind).
  if (status === 404 && code === 'not_held') extra.what = 'attachment';
  if (status >= 500) extra.retryable = true;
  if (status === 429 || status === 503) {
    // Wait Retry-After (seconds), within the backoff cap.
    extra.retryable = true;
    const after = Number(headers['retry-after']);
    if (Number.isFinite(after) && after >= 0) extra.retryAfterMs = Math.min(after * 1000, 30_000);
  }
  return new GridsyncError(kind, `${status} ${code}: ${message}`, extra);
}

// ---------------------------------------------------------------------------------
// The client

/** A fresh phone: a new key and actor, not yet enrolled. */
export function newState() {
  return {
    seed_hex: generateSeed().toString('hex'),
    actor: crypto.randomBytes(16).toString('hex'),
    device_id: null,
    worker_id: null,
    scope: [],
    township_key_hex: null,
    ca_certificate: null,
    center_url: null,
    counter: '0',
    cursor: { mode: 'bootstrap', prefixes: null, after_id: '', resume: null },
    records: {}, // id -> { kind, doc_b64 }
    pending: [], // { record_id, kind, bytes_b64, hash }
    quarantine: [], // { record_id, kind, bytes_b64, hash, code, reason }
  };
}

export class Client {
  /**
   * @param {object} state as from `newState`, or loaded from a file
   * @param {{persist?: (state) => void, retries?: number}} options
   */
  constructor(state, { persist = () => {}, retries = 3 } = {}) {
    this.state = state;
    this.persist = persist;
    this.retries = retries;
    this.key = keyFromSeed(Buffer.from(state.seed_hex, 'hex'));
    this.docs = new Map();
    for (const [id, rec] of Object.entries(state.records)) {
      this.docs.set(id, { kind: rec.kind, doc: A.load(Buffer.from(rec.doc_b64, 'base64'), { actor: state.actor }) });
    }
    /** Body bytes of the last request: {up, down}. */
    this.last = { up: 0, down: 0, path: null };
    this.totals = { up: 0, down: 0, requests: 0 };
  }

  save() {
    for (const [id, { kind, doc }] of this.docs) {
      this.state.records[id] = { kind, doc_b64: Buffer.from(A.save(doc)).toString('base64') };
    }
    this.persist(this.state);
  }

  nextCounter() {
    const stored = BigInt(this.state.counter);
    const clock = BigInt(Date.now()) * 1000n;
    const next = clock > stored ? clock : stored + 1n;
    this.state.counter = next.toString();
    this.persist(this.state); // stored before sending: never reused, even when killed
    return next;
  }

  /** A signed request; retried (signed anew with a new counter) on network errors and 5xx. */
  async request(path, message, { device = this.state.device_id, url = this.state.center_url } = {}) {
    await ready();
    const body = encodeEnvelope(message);
    if (body.length > MAX_ENVELOPE) throw new GridsyncError('Protocol', `request body of ${body.length} bytes is over 4 MiB`);
    let delay = 1000;
    for (let attempt = 0; ; attempt++) {
      const counter = this.nextCounter();
      const headers = {
        'x-gridsync-device': device,
        'x-gridsync-counter': counter.toString(),
        'x-gridsync-signature': sign(this.key, 'POST', path, device, counter, body),
      };
      try {
        const answer = await post(new URL(path, url).toString(), headers, body, { ca: this.state.ca_certificate });
        this.last = { up: body.length, down: answer.body.length, path, status: answer.status };
        this.totals.up += body.length;
        this.totals.down += answer.body.length;
        this.totals.requests += 1;
        if (answer.status === 200) return { status: 200, message: decodeEnvelope(answer.body) };
        if (answer.status === 422 && path === '/v1/push') return { status: 422, message: decodeEnvelope(answer.body) };
        throw errorFrom(answer.status, answer.body, answer.headers);
      } catch (e) {
        const retryable = e instanceof GridsyncError ? e.retryable === true : false;
        if (!retryable || attempt >= this.retries) throw e;
        await new Promise((r) => setTimeout(r, e.retryAfterMs ?? delay));
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }

  // -- enrolment ---------------------------------------------------------------

  async enrol(url, code, { deviceName = 'gridsync js client', appVersion = 'js-0.1' } = {}) {
    this.state.center_url = url;
    const message = {
      code,
      public_key: publicKeyOf(this.key),
      actor: this.state.actor,
      device_name: deviceName,
      app_version: appVersion,
    };
    const { message: answer } = await this.request('/v1/enrol', message, { device: 'enrol', url });
    for (const field of ['device_id', 'worker_id', 'scope', 'township_key']) {
      if (answer?.[field] === undefined) throw new GridsyncError('Protocol', `EnrolResponse without ${field}`);
    }
    Object.assign(this.state, {
      device_id: answer.device_id,
      worker_id: answer.worker_id,
      scope: answer.scope,
      township_key_hex: Buffer.from(answer.township_key).toString('hex'),
      ca_certificate: answer.ca_certificate ?? null,
    });
    this.save();
    return answer;
  }

  // -- local writes --------------------------------------------------------------

  inScope(areaCode) {
    return typeof areaCode === 'string' && this.state.scope.some((p) => areaCode.startsWith(p));
  }

  /** Makes one local change on record `id` with `fn(r)` and queues it for push. */
  localChange(id, fn) {
    const entry = this.docs.get(id);
    if (!entry) throw new GridsyncError('Invalid', `no record ${id}`);
    const before = A.getHeads(entry.doc);
    const doc = A.change(entry.doc, { message: this.state.worker_id, time: Math.floor(Date.now() / 1000) }, fn);
    const after = A.getHeads(doc);
    if (sameJson(before, after)) return null; // nothing differed: no change
    const area = plain(doc.area_code);
    if (!this.inScope(area)) throw new GridsyncError('OutOfScope', `area ${area} is outside the scope`);
    const bytes = Buffer.from(A.getLastLocalChange(doc));
    entry.doc = doc;
    this.state.pending.push({ record_id: id, kind: entry.kind, bytes_b64: bytes.toString('base64'), hash: A.decodeChange(bytes).hash });
    this.save();
    return bytes;
  }

  create(kind, fields, id = uuidv7()) {
    if (this.docs.has(id)) throw new GridsyncError('Invalid', `record ${id} exists`);
    if (!this.inScope(fields.area_code)) throw new GridsyncError('OutOfScope', `area ${fields.area_code} is outside the scope`);
    this.docs.set(id, { kind, doc: newDocument(kind, this.state.actor) });
    try {
      this.localChange(id, (r) => writeFields(r, kind, fields));
    } catch (e) {
      this.docs.delete(id);
      throw e;
    }
    return id;
  }

  edit(id, fields) {
    const { kind } = this.docs.get(id);
    return this.localChange(id, (r) => writeFields(r, kind, fields));
  }

  /** Appends a timeline entry (an incident follow-up or a visit finding). */
  appendEntry(id, entry) {
    const { kind, doc } = this.docs.get(id);
    const key = kind === 'incident' ? 'timeline' : kind === 'visit' ? 'findings' : null;
    if (!key) throw new GridsyncError('Invalid', `a ${kind} has no timeline`);
    if (kind === 'incident') {
      if (!STEPS.includes(entry.step)) throw new GridsyncError('Invalid', `unknown step ${entry.step}`);
      const { status } = readRecord(doc);
      if (nextStatus(status, entry.step) === null) throw new GridsyncError('Invalid', `IllegalStep { step: ${entry.step}, status: ${status} }`);
    }
    const encoded = JSON.stringify(entry);
    return this.localChange(id, (r) => {
      r[key].push(new A.ImmutableString(encoded));
    });
  }

  followUp(id, step, { note = '', deadline = null, supervision = null, at = Date.now() } = {}) {
    return this.appendEntry(id, { id: uuidv7(at), at, by: this.state.worker_id, step, note, deadline, supervision });
  }

  // -- photos --------------------------------------------------------------------

  /**
   * Puts the reference of a photo (and its thumbnail) on an incident or visit: one change
   * writing the root key `attachment.<hash>` as a str holding the reference's JSON. The
   * bytes go separately (`uploadBlob`, after the change is pushed). Returns the change's
   * bytes, or null when the record already holds this photo (a reference is never
   * rewritten or removed: photos are evidence).
   */
  attachPhotoReference(id, { hash, size, width, height, thumbnail, caption = '', takenAt = null, addedAt = Date.now(), addedBy = this.state.worker_id }) {
    const entry = this.docs.get(id);
    if (!entry) throw new GridsyncError('Invalid', `no record ${id}`);
    if (!PHOTO_KINDS.includes(entry.kind)) throw new GridsyncError('Invalid', `a ${entry.kind} holds no photos`);
    const json = photoReference({ hash, size, width, height, thumbnail, caption, takenAt, addedAt, addedBy });
    const key = attachmentKey(hash);
    if (entry.doc[key] !== undefined) return null;
    const held = Object.keys(entry.doc).filter((k) => k.startsWith(ATTACHMENT_PREFIX)).length;
    if (held >= MAX_ATTACHMENTS) throw new GridsyncError('Invalid', `at most ${MAX_ATTACHMENTS} photos per record`);
    return this.localChange(id, (r) => {
      r[key] = new A.ImmutableString(json);
    });
  }

  /** The size record `id` states for blob `hash` (a photo or a thumbnail), or null. */
  statedBlobSize(id, hash) {
    const entry = this.docs.get(id);
    if (!entry) return null;
    for (const ref of readAttachments(entry.doc)) {
      if (ref.hash === hash) return ref.size;
      if (ref.thumbnail?.hash === hash) return ref.thumbnail.size;
    }
    return null;
  }

  /** `status` of blobs named through records: a Map hash -> {state, received}. */
  async blobStatus(names) {
    if (names.length > 100) throw new GridsyncError('Invalid', 'a status names at most 100 blobs');
    const { message } = await this.request('/v1/blobs/status', { blobs: names.map(({ record_id, hash }) => ({ record_id, hash })) });
    const out = new Map();
    for (const b of message.blobs ?? []) out.set(b.hash, { state: b.state, received: b.received ?? null });
    return out;
  }

  async blobStatusOf(id, hash) {
    const answer = (await this.blobStatus([{ record_id: id, hash }])).get(hash);
    if (!answer) throw new GridsyncError('Protocol', `a status answer without ${hash}`);
    if (!['stored', 'partial', 'unreferenced'].includes(answer.state)) throw new GridsyncError('Protocol', `blob state ${answer.state}`);
    if (answer.state === 'unreferenced') {
      throw new GridsyncError('Unreferenced', `the center has no record ${id} in scope referencing ${hash}: push the record first`);
    }
    return answer;
  }

  /**
   * Uploads blob `bytes` referenced by record `id` (which must be pushed first): `status`,
   * then `put` chunks from the `received` the center reports. A `put` refused with `400`
   * (an offset that is not what the center holds) is followed by a `status` and the
   * upload goes on from its `received`.
   *
   * `maxChunks` stops after that many chunks (a cut link, for tests); `assumeOffset`
   * skips the first `status` and starts there (a client that lost its place).
   * Returns {hash, total, stored, sent_bytes, chunks, offsets, refusals}.
   */
  async uploadBlob(id, bytes, { chunkBytes = DEFAULT_CHUNK, maxChunks = Infinity, assumeOffset = null, maxRefusals = 3 } = {}) {
    const data = Buffer.from(bytes);
    const hash = sha256Hex(data);
    const total = data.length;
    if (total < 1 || total > MAX_BLOB) throw new GridsyncError('Invalid', `a blob is 1 B-4 MiB, not ${total}`);
    const stated = this.statedBlobSize(id, hash);
    if (stated === null) throw new GridsyncError('Invalid', `record ${id} does not reference ${hash}`);
    if (stated !== total) throw new GridsyncError('Invalid', `record ${id} states ${stated} bytes for ${hash}, not ${total}`);
    const chunk = Math.max(1, Math.min(MAX_CHUNK, Math.floor(chunkBytes)));
    const report = { hash, total, stored: false, sent_bytes: 0, chunks: 0, offsets: [], refusals: 0 };

    let offset;
    if (assumeOffset === null) {
      const st = await this.blobStatusOf(id, hash);
      if (st.state === 'stored') return { ...report, stored: true };
      offset = st.received;
    } else {
      offset = assumeOffset;
    }
    for (;;) {
      if (!Number.isSafeInteger(offset) || offset < 0 || offset >= total) throw new GridsyncError('Protocol', `an upload offset of ${offset} for a blob of ${total} bytes`);
      if (report.chunks >= maxChunks) return report;
      const piece = data.subarray(offset, Math.min(total, offset + chunk));
      report.chunks += 1;
      report.offsets.push(offset);
      report.sent_bytes += piece.length;
      let answer;
      try {
        ({ message: answer } = await this.request('/v1/blobs/put', { record_id: id, hash, offset, total, bytes: piece }));
      } catch (e) {
        const wrongOffset = e instanceof GridsyncError && e.status === 409 && e.code === 'wrong_offset';
        const refusedWhole = e instanceof GridsyncError && e.status === 400 && e.code === 'bad_request';
        if (!wrongOffset && !refusedWhole) throw e;
        // A wrong offset, or (on the last chunk) a blob the center's check refused and
        // dropped whole: ask where the center stands.
        report.refusals += 1;
        const st = await this.blobStatusOf(id, hash);
        if (st.state === 'stored') return { ...report, stored: true };
        const wasLast = offset + piece.length === total;
        if (wasLast && st.received === 0) throw new GridsyncError('Invalid', `the center refused blob ${hash} once whole (${e.message})`);
        if (report.refusals > maxRefusals) throw e;
        offset = st.received;
        continue;
      }
      if (answer.stored === true) return { ...report, stored: true };
      if (!Number.isSafeInteger(answer.received) || answer.received <= offset || answer.received > total) {
        throw new GridsyncError('Protocol', `a put at ${offset} answered received ${answer.received}`);
      }
      if (answer.received === total) throw new GridsyncError('Protocol', `the center holds all ${total} bytes of ${hash} but did not store it`);
      offset = answer.received;
    }
  }

  /**
   * Downloads blob `hash` through record `id`: `get` chunks until `total`, then checks
   * the SHA-256. Returns {bytes (Buffer), total, chunks}.
   */
  async downloadBlob(id, hash, { chunkBytes = DEFAULT_CHUNK } = {}) {
    if (!isBlobHash(hash)) throw new GridsyncError('Invalid', `${hash} is not a blob hash`);
    const maxBytes = Math.max(1, Math.min(MAX_CHUNK, Math.floor(chunkBytes)));
    const parts = [];
    let offset = 0;
    let total = null;
    let chunks = 0;
    for (;;) {
      const { message } = await this.request('/v1/blobs/get', { record_id: id, hash, offset, max_bytes: maxBytes });
      chunks += 1;
      if (!Number.isSafeInteger(message.total) || message.total < 0 || message.total > MAX_BLOB) throw new GridsyncError('Protocol', `a blob total of ${message.total}`);
      if (total === null) total = message.total;
      if (message.total !== total) throw new GridsyncError('Protocol', `blob ${hash} changed size during the download`);
      const got = Buffer.from(message.bytes ?? []);
      if (offset + got.length > total) throw new GridsyncError('Protocol', `a get answered bytes past the blob's ${total}`);
      if (got.length === 0 && offset < total) throw new GridsyncError('Protocol', `a get at ${offset} of ${total} answered no bytes`);
      parts.push(got);
      offset += got.length;
      if (offset >= total) break;
    }
    const bytes = Buffer.concat(parts);
    const actual = sha256Hex(bytes);
    if (actual !== hash) throw new GridsyncError('Protocol', `blob ${hash} downloaded as ${actual}`);
    return { bytes, total, chunks };
  }

  get(id) {
    const entry = this.docs.get(id);
    return entry ? readRecord(entry.doc) : null;
  }

  heads(id) {
    return A.getHeads(this.docs.get(id).doc).sort();
  }

  // -- applying what the center sends ------------------------------------------

  applySnapshot({ record_id, kind, document }) {
    if (!isRecordId(record_id) || !KINDS.includes(kind)) throw new GridsyncError('Protocol', `bad snapshot ${record_id} ${kind}`);
    const loaded = A.load(Buffer.from(document), { actor: this.state.actor });
    if (plain(loaded.kind) !== kind) throw new GridsyncError('Protocol', `snapshot ${record_id} is not a ${kind}`);
    const entry = this.docs.get(record_id);
    if (entry) entry.doc = A.merge(entry.doc, loaded);
    else this.docs.set(record_id, { kind, doc: loaded });
  }

  applyChange({ record_id, kind, bytes }) {
    if (!isRecordId(record_id) || !KINDS.includes(kind)) throw new GridsyncError('Protocol', `bad change ${record_id} ${kind}`);
    let entry = this.docs.get(record_id);
    if (!entry) {
      entry = { kind, doc: newDocument(kind, this.state.actor) };
      this.docs.set(record_id, entry);
    }
    if (entry.kind !== kind) throw new GridsyncError('Protocol', `change for ${record_id} names kind ${kind}, the record is a ${entry.kind}`);
    // A change whose dependencies have not arrived waits inside the document.
    entry.doc = A.applyChanges(entry.doc, [Buffer.from(bytes)])[0];
  }

  // -- push ------------------------------------------------------------------------

  /** Pushes pending changes in batches (≤ 500 changes, ≤ 128 KiB); returns counts. */
  async push({ maxChanges = 500, maxBytes = 128 * 1024 } = {}) {
    let pushed = 0;
    let refused = 0;
    while (this.state.pending.length > 0) {
      const batch = [];
      let size = 0;
      for (const p of this.state.pending) {
        const n = Buffer.from(p.bytes_b64, 'base64').length;
        if (batch.length > 0 && (batch.length >= maxChanges || size + n > maxBytes)) break;
        batch.push(p);
        size += n;
      }
      const batchId = crypto.randomUUID();
      const message = {
        batch_id: batchId,
        changes: batch.map((p) => ({ record_id: p.record_id, kind: p.kind, bytes: Buffer.from(p.bytes_b64, 'base64') })),
      };
      const { status, message: answer } = await this.request('/v1/push', message);
      if (status === 200) {
        const accepted = new Set((answer.accepted ?? []).map((h) => Buffer.from(h).toString('hex')));
        const before = this.state.pending.length;
        this.state.pending = this.state.pending.filter((p) => !accepted.has(p.hash));
        pushed += before - this.state.pending.length;
        if (before === this.state.pending.length) throw new GridsyncError('Protocol', 'a push answer acknowledged nothing');
      } else {
        const rejected = answer.rejected ?? [];
        if (rejected.length === 0) throw new GridsyncError('Protocol', 'a 422 push answer names no rejected change');
        for (const r of rejected) {
          const hash = Buffer.from(r.hash).toString('hex');
          const i = this.state.pending.findIndex((p) => p.hash === hash);
          if (i >= 0) {
            this.state.quarantine.push({ ...this.state.pending[i], code: r.code, reason: r.reason });
            this.state.pending.splice(i, 1);
            refused += 1;
          }
        }
      }
      this.save();
    }
    return { pushed, refused, quarantine: this.state.quarantine };
  }

  // -- pull ------------------------------------------------------------------------

  /** Pulls until the center has no more; each page applied and its cursor stored together. */
  async pull({ maxItems = 200, maxBytes = 65536 } = {}) {
    let snapshots = 0;
    let changes = 0;
    let pages = 0;
    for (;;) {
      const { message: page } = await this.request('/v1/pull', { cursor: this.state.cursor, max_items: maxItems, max_bytes: maxBytes });
      pages += 1;
      for (const s of page.snapshots ?? []) {
        this.applySnapshot(s);
        snapshots += 1;
      }
      for (const c of page.changes ?? []) {
        this.applyChange(c);
        changes += 1;
      }
      this.state.cursor = page.cursor;
      const widened = (page.scope ?? []).filter((p) => !this.state.scope.includes(p));
      this.state.scope = page.scope ?? this.state.scope;
      this.save();
      if (widened.length > 0 && page.cursor?.mode === 'changes') {
        // A widened scope: bootstrap the new prefixes, then go on from the older cursor
        // (re-pulled changes are ignored: they are content-addressed).
        const resumeAfter = page.cursor.after;
        this.state.cursor = { mode: 'bootstrap', prefixes: widened, after_id: '', resume: null };
        const inner = await this.pull({ maxItems, maxBytes });
        snapshots += inner.snapshots;
        changes += inner.changes;
        pages += inner.pages;
        if (this.state.cursor.mode === 'changes') this.state.cursor.after = Math.min(this.state.cursor.after, resumeAfter);
        this.save();
      }
      if (!page.more) break;
    }
    return { snapshots, changes, pages };
  }

  /** Pull then push, as a phone's sync. */
  async sync() {
    const pulled = await this.pull();
    const pushed = await this.push();
    return { ...pulled, ...pushed };
  }

  // -- digest, heads, fetch -----------------------------------------------------

  recordsInScope() {
    return [...this.docs.entries()]
      .filter(([, { doc }]) => this.inScope(plain(doc.area_code)))
      .map(([id, { doc }]) => ({ record_id: id, heads: A.getHeads(doc) }));
  }

  async centerDigest() {
    const { message } = await this.request('/v1/digest', null);
    return {
      records: message.records,
      total: Buffer.from(message.total).toString('hex'),
      buckets: message.buckets.map((b) => Buffer.from(b).toString('hex')),
    };
  }

  async centerHeads(buckets) {
    const { message } = await this.request('/v1/heads', { buckets });
    return message.records.map((r) => ({ record_id: r.record_id, heads: Buffer.from(r.heads).toString('hex') }));
  }

  async fetchRecords(ids) {
    let fetched = 0;
    for (let i = 0; i < ids.length; i += 200) {
      let wanted = ids.slice(i, i + 200);
      while (wanted.length > 0) {
        const { message } = await this.request('/v1/fetch', { record_ids: wanted });
        const got = message.snapshots ?? [];
        for (const s of got) {
          this.applySnapshot(s);
          fetched += 1;
        }
        const gotIds = new Set(got.map((s) => s.record_id));
        // The answer stops after 4 MiB: ask again for the rest (unless nothing came).
        const rest = wanted.filter((id) => !gotIds.has(id));
        if (got.length === 0 || rest.length === wanted.length) break;
        wanted = rest;
      }
    }
    this.save();
    return fetched;
  }

  /** Compares the digest; on a difference, fetches and re-sends what differs. */
  async verify() {
    const mine = digest(this.recordsInScope());
    const center = await this.centerDigest();
    const equalBefore = mine.total === center.total;
    let fetched = 0;
    let resent = 0;
    if (!equalBefore) {
      const differing = [...Array(16).keys()].filter((b) => mine.buckets[b] !== center.buckets[b]);
      const theirs = new Map((await this.centerHeads(differing)).map((r) => [r.record_id, r.heads]));
      const local = new Map(
        this.recordsInScope()
          .filter((r) => differing.includes(bucketOf(r.record_id)))
          .map((r) => [r.record_id, [...r.heads].sort().join('')]),
      );
      const ids = [...new Set([...theirs.keys(), ...local.keys()])].filter((id) => theirs.get(id) !== local.get(id));
      fetched = await this.fetchRecords(ids.filter((id) => theirs.has(id)));
      for (const id of ids) {
        const entry = this.docs.get(id);
        if (!entry || theirs.get(id) === [...A.getHeads(entry.doc)].sort().join('')) continue;
        // Still different: local changes the center lacks. Send them all again.
        for (const bytes of A.getAllChanges(entry.doc)) {
          const c = A.decodeChange(bytes);
          if (c.actor !== this.state.actor || this.state.pending.some((p) => p.hash === c.hash)) continue;
          this.state.pending.push({ record_id: id, kind: entry.kind, bytes_b64: Buffer.from(bytes).toString('base64'), hash: c.hash });
          resent += 1;
        }
      }
      if (resent > 0) await this.push();
    }
    const after = digest(this.recordsInScope());
    const centerAfter = equalBefore ? center : await this.centerDigest();
    return { equal_before: equalBefore, equal_after: after.total === centerAfter.total, fetched, resent };
  }
}

// ---------------------------------------------------------------------------------
// Digest: SHA-256 over record_id ‖ 0x00 ‖ sorted heads, in record-id byte order.

export function bucketOf(recordId) {
  return sha256(Buffer.from(recordId, 'utf8'))[0] % 16;
}

/** @param {{record_id: string, heads: string[]}[]} records heads as hex */
export function digest(records) {
  const sorted = [...records].sort((a, b) => Buffer.compare(Buffer.from(a.record_id, 'utf8'), Buffer.from(b.record_id, 'utf8')));
  const total = crypto.createHash('sha256');
  const buckets = Array.from({ length: 16 }, () => crypto.createHash('sha256'));
  for (const r of sorted) {
    const item = Buffer.concat([Buffer.from(r.record_id, 'utf8'), Buffer.from([0]), ...[...r.heads].sort().map((h) => Buffer.from(h, 'hex'))]);
    total.update(item);
    buckets[bucketOf(r.record_id)].update(item);
  }
  return { records: sorted.length, total: total.digest('hex'), buckets: buckets.map((h) => h.digest('hex')) };
}

// ---------------------------------------------------------------------------------
// Test vectors (docs/vectors/v1.json)

export const VECTORS_PATH = fileURLToPath(new URL('../../docs/vectors/v1.json', import.meta.url));

/**
 * The vector household change rebuilt with this client's writer. data-model.md gives
 * only its actor, worker and time ("what"); its field values are read off the vector's
 * own bytes (they are written nowhere else).
 */
export const VECTOR_HOUSEHOLD = {
  area_code: '44010601200300102',
  household_no: '0030010200001',
  household_type: 'family',
  address: '龙潭村262号',
  residence_matches: false,
  housing: 'owned',
  tags: ['危房户'],
  phone: '16892356520',
};

/** Checks every vector; returns a list of what was checked, throws on the first miss. */
export async function checkVectors(path = VECTORS_PATH) {
  await ready();
  const v = JSON.parse(fs.readFileSync(path, 'utf8'));
  const checked = [];
  const expect = (ok, what) => {
    if (!ok) throw new GridsyncError('Protocol', `vector mismatch: ${what}`);
    checked.push(what);
  };

  // Genesis changes, built from data-model.md's description.
  for (const g of v.genesis) {
    const built = buildGenesis(g.kind);
    expect(built.toString('hex') === g.bytes_hex, `genesis ${g.kind} bytes`);
    const c = A.decodeChange(built);
    expect(c.hash === g.hash_hex, `genesis ${g.kind} hash`);
    expect(c.actor === g.actor_hex && c.seq === g.seq && c.startOp === g.start_op && c.time === g.time && c.deps.length === g.deps && c.message === g.message, `genesis ${g.kind} metadata`);
  }

  // The household change, rebuilt with the writer.
  {
    const actor = Buffer.from('vector-device-01').toString('hex');
    let doc = newDocument('household', actor);
    doc = A.change(doc, { message: 'w-0001', time: Date.UTC(2026, 0, 1) / 1000 }, (r) => writeFields(r, 'household', VECTOR_HOUSEHOLD));
    const bytes = Buffer.from(A.getLastLocalChange(doc));
    expect(bytes.toString('hex') === v.change.bytes_hex, 'household change bytes (rebuilt by the writer)');
    expect(A.decodeChange(bytes).hash === v.change.hash_hex, 'household change hash');
    const read = readRecord(doc);
    expect(read.address === VECTOR_HOUSEHOLD.address && read.kind === 'household' && read.v === 1, 'household change reads back');
  }

  // The signed request.
  {
    const s = v.signed_request;
    const key = keyFromSeed(Buffer.from(s.ed25519_seed_hex, 'hex'));
    expect(publicKeyOf(key).toString('hex') === s.public_key_hex, 'ed25519 public key from seed');
    const body = Buffer.from(s.body_hex, 'hex');
    expect(signingInput(s.method, s.path, s.device, s.counter, body) === s.signing_input, 'signing input');
    expect(sign(key, s.method, s.path, s.device, s.counter, body) === s.signature_hex, 'signature');
  }

  // Envelopes: decode both, re-encode both byte for byte.
  {
    const u = Buffer.from(v.envelopes.uncompressed.hex, 'hex');
    const pull = decodeEnvelope(u);
    expect(pull.cursor.mode === 'bootstrap' && pull.cursor.prefixes === null && pull.cursor.after_id === '' && pull.cursor.resume === null && pull.max_items === 200 && pull.max_bytes === 65536, 'uncompressed envelope decodes');
    const fresh = { cursor: { mode: 'bootstrap', prefixes: null, after_id: '', resume: null }, max_items: 200, max_bytes: 65536 };
    expect(encodeEnvelope(fresh).equals(u), 'uncompressed envelope re-encodes');
    const c = Buffer.from(v.envelopes.compressed.hex, 'hex');
    const push = decodeEnvelope(c);
    expect(push.batch_id === 'b-1' && push.changes.length === 1 && Buffer.from(push.changes[0].bytes).toString('hex') === v.change.bytes_hex && push.changes[0].kind === 'household' && push.changes[0].record_id === v.change.record_id, 'compressed envelope decodes');
    const again = encodeEnvelope({ batch_id: 'b-1', changes: [{ record_id: v.change.record_id, kind: 'household', bytes: Buffer.from(v.change.bytes_hex, 'hex') }] });
    expect(again.equals(c), 'compressed envelope re-encodes (zstd level 3)');
  }

  // The pull answer.
  {
    const p = decodeEnvelope(Buffer.from(v.pull_answer.hex, 'hex'));
    expect(Array.isArray(p.snapshots) && p.snapshots.length === 0, 'pull answer: no snapshots');
    expect(p.changes.length === 1 && Buffer.from(p.changes[0].bytes).toString('hex') === v.change.bytes_hex, 'pull answer: the change');
    expect(p.cursor.mode === 'changes' && p.cursor.after === 42, 'pull answer: cursor changes after 42');
    expect(typeof p.more === 'boolean' && typeof p.remaining === 'number' && Array.isArray(p.scope), 'pull answer: more, remaining, scope');
    // Applying it yields the vector record.
    const c = new Client({ ...newState(), scope: [v.digest.prefix] });
    for (const ch of p.changes) c.applyChange(ch);
    expect(c.get(v.change.record_id)?.address === VECTOR_HOUSEHOLD.address, 'pull answer applies');
    const d = digest(c.recordsInScope());
    expect(d.total === v.digest.total_hex, 'digest of the applied pull answer');
  }

  // The digest.
  {
    const d = digest(v.digest.records.map((r) => ({ record_id: r.record_id, heads: r.heads_hex.match(/.{64}/g) })));
    expect(d.total === v.digest.total_hex, 'digest total');
    expect(d.buckets.every((b, i) => b === v.digest.buckets_hex[i]), 'digest buckets');
  }
  return checked;
}
