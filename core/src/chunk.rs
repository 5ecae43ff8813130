//! What an automerge change chunk declares, read from its bytes without automerge.
//!
//! automerge counts a change's ops by walking every one of them while it parses the
//! bytes, and an op column is run-length encoded: a 170-byte change can declare 10⁹
//! ops in one run, and parsing it alone takes minutes. So the record rules read the
//! declared count here first, from the chunk's header and its action column's runs,
//! and refuse a change over the bound before automerge sees it. The layout is
//! automerge's binary format ("Change chunks": header, dependencies, actor, seq, start
//! op, time, message, other actors, column metadata, column data, extra bytes).

/// The magic bytes every automerge chunk starts with.
pub const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// The chunk type of an uncompressed change.
pub const CHANGE_CHUNK: u8 = 1;
/// The op column that holds each op's action: every op has exactly one, so its run
/// lengths add up to the change's op count (column id 4, of type unsigned integer).
const ACTION_COLUMN: u64 = (4 << 4) | 2;

/// The number of ops an uncompressed change chunk declares, counted from its action
/// column's runs and given up as soon as it passes `limit` (then some count above
/// `limit`). `None` when the bytes are not laid out as a change chunk.
pub fn declared_ops(bytes: &[u8], limit: u64) -> Option<u64> {
    let mut chunk = Reader(bytes);
    if chunk.take(4)? != MAGIC {
        return None;
    }
    chunk.take(4)?; // checksum
    if chunk.take(1)? != [CHANGE_CHUNK] {
        return None;
    }
    let len = usize::try_from(chunk.uleb()?).ok()?;
    let mut body = Reader(chunk.take(len)?);
    let deps = usize::try_from(body.uleb()?).ok()?;
    body.take(deps.checked_mul(32)?)?;
    body.length_prefixed()?; // actor
    body.uleb()?; // seq
    body.uleb()?; // start op
    body.sleb()?; // time
    body.length_prefixed()?; // message
    for _ in 0..body.uleb()? {
        body.length_prefixed()?; // other actors
    }
    let columns = body.uleb()?;
    let mut layout = Vec::new();
    for _ in 0..columns.min(body.0.len() as u64) {
        layout.push((body.uleb()?, usize::try_from(body.uleb()?).ok()?));
    }
    if layout.len() as u64 != columns {
        return None;
    }
    let mut ops = 0;
    for (spec, len) in layout {
        let data = body.take(len)?;
        if spec == ACTION_COLUMN {
            ops = run_lengths(data, limit)?;
        }
    }
    Some(ops)
}

/// The values a run-length encoded integer column holds, added up to just past
/// `limit`: runs of one repeated value (a positive length), of literal values (a
/// negative one) and of nulls (zero, then their count).
fn run_lengths(data: &[u8], limit: u64) -> Option<u64> {
    let mut column = Reader(data);
    let mut total: u64 = 0;
    while !column.0.is_empty() && total <= limit {
        let run = column.sleb()?;
        total = total.saturating_add(match run {
            1.. => {
                column.uleb()?;
                run.unsigned_abs()
            }
            0 => column.uleb()?,
            _ => {
                for _ in 0..run.unsigned_abs().min(limit + 1) {
                    column.uleb()?;
                }
                run.unsigned_abs()
            }
        });
    }
    Some(total)
}

/// A change chunk like `bytes` (a change of `from` ops whose columns are each one long
/// run, as automerge writes `from` null inserts into one list) whose runs are made
/// `to - from` longer, with the chunk's length and checksum made right: the change a
/// stolen phone sends to declare `to` ops in a few bytes. For the red-team tests.
#[cfg(any(test, feature = "testkit"))]
pub fn lengthen_runs(bytes: &[u8], from: u64, to: u64) -> Option<Vec<u8>> {
    let longer = |count: u64| if count + 2 >= from && count <= from { count + (to - from) } else { count };
    rewrite_runs(bytes, &longer, false)
}

/// A change chunk holding the same ops as `bytes`, its action column's first run of
/// repeated values written as two runs: encoded as automerge never encodes it. For
/// the red-team tests.
#[cfg(any(test, feature = "testkit"))]
pub fn split_action_run(bytes: &[u8]) -> Option<Vec<u8>> {
    rewrite_runs(bytes, &|count| count, true)
}

/// `bytes` with every run count `c` of its op columns written as `longer(c)`, and its
/// action column's first repeated run split in two when `split` holds.
#[cfg(any(test, feature = "testkit"))]
fn rewrite_runs(bytes: &[u8], longer: &dyn Fn(u64) -> u64, mut split: bool) -> Option<Vec<u8>> {
    let mut chunk = Reader(bytes);
    chunk.take(9)?;
    let len = usize::try_from(chunk.uleb()?).ok()?;
    let body = chunk.take(len)?;
    let mut fields = Reader(body);
    let deps = usize::try_from(fields.uleb()?).ok()?;
    fields.take(deps * 32)?;
    fields.length_prefixed()?;
    fields.uleb()?;
    fields.uleb()?;
    fields.sleb()?;
    fields.length_prefixed()?;
    for _ in 0..fields.uleb()? {
        fields.length_prefixed()?;
    }
    let header = &body[..body.len() - fields.0.len()];
    let layout: Vec<(u64, usize)> = (0..fields.uleb()?)
        .map(|_| Some((fields.uleb()?, usize::try_from(fields.uleb()?).ok()?)))
        .collect::<Option<_>>()?;
    let mut meta = Vec::new();
    let mut data = Vec::new();
    write_uleb(&mut meta, layout.len() as u64);
    for (spec, len) in layout {
        let mut column = Reader(fields.take(len)?);
        let mut out = Vec::new();
        while !column.0.is_empty() {
            match spec & 7 {
                4 => write_uleb(&mut out, longer(column.uleb()?)), // boolean: counts
                7 => out.extend_from_slice(column.take(column.0.len())?), // raw values
                kind => {
                    let run = column.sleb()?;
                    let value = |column: &mut Reader<'_>, out: &mut Vec<u8>| -> Option<()> {
                        match kind {
                            3 => write_sleb(out, column.sleb()?),
                            5 => {
                                let text = column.length_prefixed()?;
                                write_uleb(out, text.len() as u64);
                                out.extend_from_slice(text);
                            }
                            _ => write_uleb(out, column.uleb()?),
                        }
                        Some(())
                    };
                    match run {
                        2.. if split && spec == ACTION_COLUMN => {
                            split = false;
                            let first = column.uleb()?;
                            for half in [run / 2, run - run / 2] {
                                write_sleb(&mut out, half);
                                write_uleb(&mut out, first);
                            }
                        }
                        1.. => {
                            write_sleb(&mut out, i64::try_from(longer(run.unsigned_abs())).ok()?);
                            value(&mut column, &mut out)?;
                        }
                        0 => {
                            write_sleb(&mut out, 0);
                            write_uleb(&mut out, longer(column.uleb()?));
                        }
                        _ => {
                            write_sleb(&mut out, run);
                            for _ in 0..run.unsigned_abs() {
                                value(&mut column, &mut out)?;
                            }
                        }
                    }
                }
            }
        }
        write_uleb(&mut meta, spec);
        write_uleb(&mut meta, out.len() as u64);
        data.extend(out);
    }
    let mut contents = header.to_vec();
    contents.extend(meta);
    contents.extend(data);
    contents.extend_from_slice(fields.0); // extra bytes
    let mut hashed = vec![CHANGE_CHUNK];
    write_uleb(&mut hashed, contents.len() as u64);
    hashed.extend(contents);
    let checksum = ring::digest::digest(&ring::digest::SHA256, &hashed);
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&checksum.as_ref()[..4]);
    out.extend(hashed);
    Some(out)
}

#[cfg(any(test, feature = "testkit"))]
fn write_uleb(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        out.push(if value == 0 { byte } else { byte | 0x80 });
        if value == 0 {
            break;
        }
    }
}

#[cfg(any(test, feature = "testkit"))]
fn write_sleb(out: &mut Vec<u8>, mut value: i64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        let done = (value == 0 && byte & 0x40 == 0) || (value == -1 && byte & 0x40 != 0);
        out.push(if done { byte } else { byte | 0x80 });
        if done {
            break;
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn length_prefixed(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.uleb()?).ok()?;
        self.take(len)
    }

    /// An unsigned LEB128 number of at most 64 bits.
    fn uleb(&mut self) -> Option<u64> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = *self.take(1)?.first()?;
            value |= u64::from(byte & 0x7f).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// A signed LEB128 number of at most 64 bits.
    fn sleb(&mut self) -> Option<i64> {
        let mut value: i64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = *self.take(1)?.first()?;
            value |= i64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                if shift + 7 < 64 && byte & 0x40 != 0 {
                    value |= -1i64 << (shift + 7);
                }
                return Some(value);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    use super::*;

    /// A change of `n` ops made by automerge itself.
    fn change_of(n: usize) -> Vec<u8> {
        let mut doc = AutoCommit::new();
        let text = doc.put_object(ROOT, "notes", automerge::ObjType::Text).unwrap();
        doc.splice_text(&text, 0, 0, &"长".repeat(n - 1)).unwrap();
        doc.get_last_local_change().unwrap().raw_bytes().to_vec()
    }

    #[test]
    fn counts_the_ops_automerge_counts() {
        for n in [1, 2, 3, 100, 5_000] {
            let bytes = change_of(n);
            assert_eq!(automerge::Change::from_bytes(bytes.clone()).unwrap().len(), n);
            assert_eq!(declared_ops(&bytes, 1 << 20), Some(n as u64), "{n} ops");
        }
    }

    #[test]
    fn stops_counting_past_the_limit() {
        // One run of 5,000 characters: counted whole, and nothing after it is read.
        assert!(declared_ops(&change_of(5_000), 100).unwrap() > 100);
    }

    #[test]
    fn refuses_what_is_not_a_change_chunk() {
        let bytes = change_of(3);
        assert_eq!(declared_ops(&bytes[..bytes.len() - 20], 100), None, "cut short");
        assert_eq!(declared_ops(b"not a change", 100), None);
        assert_eq!(declared_ops(&[], 100), None);
        let mut other = bytes.clone();
        other[8] = 0; // a document chunk
        assert_eq!(declared_ops(&other, 100), None);
    }

    #[test]
    fn reads_runs_of_every_form() {
        // 3 × value 7, then 2 literals, then 4 nulls: 9.
        assert_eq!(run_lengths(&[0x03, 0x07, 0x7e, 0x01, 0x02, 0x00, 0x04], 100), Some(9));
        // One run of 10⁹ in six bytes.
        let mut huge = Vec::new();
        write_sleb(&mut huge, 1_000_000_000);
        huge.push(0x01);
        assert!(run_lengths(&huge, 25_000).unwrap() > 25_000);
    }

    /// A change of `n` null inserts into one list: every op column one run.
    pub(crate) fn null_inserts(n: usize) -> Vec<u8> {
        let mut doc = AutoCommit::new();
        doc.commit();
        let list = doc.put_object(ROOT, "tags", automerge::ObjType::List).unwrap();
        doc.commit();
        for index in 0..n {
            doc.insert(&list, index, automerge::ScalarValue::Null).unwrap();
        }
        doc.get_last_local_change().unwrap().raw_bytes().to_vec()
    }

    /// The attack is real: automerge takes a change whose runs were lengthened as
    /// holding that many ops (and walks every one to count them), while the header
    /// reader counts past the bound and stops.
    #[test]
    fn lengthened_runs_declare_ops_that_automerge_walks() {
        let small = null_inserts(50);
        let forged = lengthen_runs(&small, 50, 200_000).unwrap();
        assert!(forged.len() < 200, "{} bytes", forged.len());
        assert_eq!(automerge::Change::from_bytes(forged.clone()).unwrap().len(), 200_000);
        assert!(declared_ops(&forged, 25_000).unwrap() > 25_000);
        let billion = lengthen_runs(&small, 50, 1_000_000_000).unwrap();
        assert!(declared_ops(&billion, 25_000).unwrap() > 25_000);
    }

    #[test]
    fn a_split_run_holds_the_same_ops_in_other_bytes() {
        let honest = null_inserts(10);
        let split = split_action_run(&honest).unwrap();
        assert_ne!(split, honest);
        let (a, b) = (automerge::Change::from_bytes(honest).unwrap(), automerge::Change::from_bytes(split).unwrap());
        assert_eq!(a.decode().operations, b.decode().operations);
        assert_ne!(a.hash(), b.hash());
        assert_eq!(declared_ops(b.raw_bytes(), 100), Some(10));
    }
}
