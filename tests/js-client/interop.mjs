// Another automerge implementation meets a gridsync record: the stock
// @automerge/automerge package, nothing of gridsync's own client.
//   node interop.mjs <record.automerge> <out-folder>
// Loads the document gridsync exported, prints its fields as one JSON line, and writes
// two changes a township's own tool could make: `good.change` (a corrected address and a
// line added to the notes, as docs/data-model.md says these fields are written) and
// `bad.change` (a phone number no validation accepts).
import fs from 'node:fs';
import path from 'node:path';
import * as A from '@automerge/automerge';

const [docPath, outDir] = process.argv.slice(2);
const doc = A.load(new Uint8Array(fs.readFileSync(docPath)));

const plain = (value) => (value instanceof A.ImmutableString ? value.val : value);
const fields = {};
for (const [key, value] of Object.entries(doc)) {
  fields[key] = typeof value === 'object' && value !== null && !(value instanceof A.ImmutableString)
    ? Object.keys(value) // a set: its members are its keys
    : plain(value);
}
fields.notes = String(doc.notes);
// Counters and 64-bit ints (`v`) come back as BigInt where they are large.
console.log(JSON.stringify(fields, (_, value) => (typeof value === 'bigint' ? Number(value) : value)));

const at = { message: 'w-tool', time: Math.floor(Date.now() / 1000) };
const good = A.change(A.clone(doc), at, (d) => {
  d.address = new A.ImmutableString('幸福村外部工具路9号');
  A.splice(d, ['notes'], 0, 0, '外部工具核对。');
});
fs.writeFileSync(path.join(outDir, 'good.change'), A.getLastLocalChange(good));
const bad = A.change(A.clone(doc), at, (d) => {
  d.phone = new A.ImmutableString('12345');
});
fs.writeFileSync(path.join(outDir, 'bad.change'), A.getLastLocalChange(bad));
