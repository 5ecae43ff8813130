//! Serving what phones read: pull pages (compacted documents for a bootstrap, then
//! changes after a cursor), fetches of named records, and the scope digest. Each answer
//! is read in one read transaction, one consistent snapshot of the storage.

use gridsync_core::Scope;
use gridsync_core::store::{RemoteChange, ScopeDigest, bucket_of};
use gridsync_core::sync::wire::{Cursor, DigestResponse, PullResponse, RecordHeads, Snapshot};

use crate::push::load;
use crate::storage::{StorageError, Tx};

/// The most distinct records one fetch may name, and the most document bytes it answers.
pub const MAX_FETCH_RECORDS: usize = 200;
pub const MAX_FETCH_BYTES: usize = 4 << 20;

/// Limits of one pull page.
#[derive(Debug, Clone, Copy)]
pub struct PageLimits {
    pub max_items: u32,
    pub max_bytes: u32,
}

/// The next page of what `device` (with `scope`) should receive after `cursor`.
pub fn serve_pull(
    tx: &mut dyn Tx,
    device: &str,
    scope: &Scope,
    cursor: &Cursor,
    limits: PageLimits,
) -> Result<PullResponse, StorageError> {
    let max_items = limits.max_items.clamp(1, 2_000);
    let max_bytes = limits.max_bytes.clamp(1_024, 4 << 20) as usize;
    let mut response = PullResponse {
        snapshots: Vec::new(),
        changes: Vec::new(),
        cursor: cursor.clone(),
        more: false,
        remaining: 0,
        scope: scope.prefixes().to_vec(),
    };
    match cursor {
        Cursor::Bootstrap { prefixes, after_id, resume } => {
            let prefixes = intersect(prefixes.as_deref(), scope);
            let resume = match resume {
                Some(seq) => *seq,
                None => tx.max_seq()?,
            };
            let ids = tx.record_ids_after(&prefixes, after_id, max_items + 1)?;
            let mut bytes = 0;
            let mut last = after_id.clone();
            for id in ids.iter().take(max_items as usize) {
                if bytes >= max_bytes && !response.snapshots.is_empty() {
                    break;
                }
                last.clone_from(id);
                if let Some(snapshot) = readable_snapshot(tx, id)? {
                    bytes += snapshot.document.len();
                    response.snapshots.push(snapshot);
                }
            }
            let finished = ids.len() <= max_items as usize && ids.last().is_none_or(|id| *id == last);
            response.remaining = tx.count_records_after(&prefixes, &last)?;
            response.cursor = if finished {
                Cursor::Changes { after: resume }
            } else {
                Cursor::Bootstrap { prefixes: Some(prefixes), after_id: last, resume: Some(resume) }
            };
            // After the last snapshot page, the changes since `resume` follow.
            response.more = !(finished && resume == tx.max_seq()?);
        }
        Cursor::Changes { after } => {
            let rows = tx.changes_after(scope.prefixes(), device, *after, max_items + 1)?;
            let mut bytes = 0;
            let mut last = *after;
            let mut more = false;
            for row in rows {
                if response.changes.len() == max_items as usize
                    || (bytes + row.bytes.len() > max_bytes && !response.changes.is_empty())
                {
                    more = true;
                    break;
                }
                bytes += row.bytes.len();
                last = row.seq;
                response.changes.push(RemoteChange { record_id: row.record_id, kind: row.kind, bytes: row.bytes });
            }
            if !more {
                // Everything after `after` was seen: skip past the device's own and
                // out-of-scope changes too. Safe only because a visible sequence implies
                // every lower one is visible (`storage`, "Sequences commit in order").
                last = last.max(tx.max_seq()?);
            }
            response.more = more;
            response.cursor = Cursor::Changes { after: last };
            if more {
                response.remaining = tx.count_changes_after(scope.prefixes(), device, last)?;
            }
        }
    }
    Ok(response)
}

/// Compacted documents of the records named, each once, skipping any outside `scope`
/// and any that cannot be read (reported, never a failed answer), and stopping at
/// [`MAX_FETCH_BYTES`] (the phone asks again for the rest). `None` when more than
/// [`MAX_FETCH_RECORDS`] distinct records are named.
pub fn fetch(tx: &mut dyn Tx, scope: &Scope, ids: &[String]) -> Result<Option<Vec<Snapshot>>, StorageError> {
    let mut unique: Vec<&String> = ids.iter().collect();
    unique.sort();
    unique.dedup();
    if unique.len() > MAX_FETCH_RECORDS {
        return Ok(None);
    }
    let mut out = Vec::new();
    let mut bytes = 0;
    for id in unique {
        if bytes >= MAX_FETCH_BYTES {
            break;
        }
        let Some(record) = tx.record(id)? else { continue };
        let in_scope = gridsync_core::AreaCode::parse("area_code", &record.area_code).is_ok_and(|a| scope.contains(&a));
        if in_scope && let Some(snapshot) = snapshot_of(id, &record) {
            bytes += snapshot.document.len();
            out.push(snapshot);
        }
    }
    Ok(Some(out))
}

/// The digest of (record id, heads) over the records under `prefixes`.
pub fn digest(tx: &mut dyn Tx, prefixes: &[String]) -> Result<DigestResponse, StorageError> {
    let mut digest = ScopeDigest::default();
    tx.for_each_heads(prefixes, &mut |id, heads| {
        digest.add(id, heads);
        Ok(())
    })?;
    Ok(digest.finish())
}

/// (record id, heads) of the records under `prefixes` whose bucket is in `buckets`.
pub fn heads_in_buckets(
    tx: &mut dyn Tx,
    prefixes: &[String],
    buckets: &[u8],
) -> Result<Vec<RecordHeads>, StorageError> {
    let mut out = Vec::new();
    tx.for_each_heads(prefixes, &mut |id, heads| {
        if buckets.contains(&bucket_of(id)) {
            out.push(RecordHeads { record_id: id.to_owned(), heads: heads.to_vec() });
        }
        Ok(())
    })?;
    Ok(out)
}

fn readable_snapshot(tx: &mut dyn Tx, id: &str) -> Result<Option<Snapshot>, StorageError> {
    Ok(tx.record(id)?.and_then(|record| snapshot_of(id, &record)))
}

/// A record's compacted document, or `None` when it cannot be read (a record the rules
/// did not yet guard, damaged on disk): one bad record must not fail the answer every
/// phone of its grid needs. Logged for the township's IT.
fn snapshot_of(id: &str, record: &crate::storage::StoredRecord) -> Option<Snapshot> {
    let _turn = LOADS.enter();
    match load(record) {
        Ok(doc) => Some(Snapshot { record_id: id.to_owned(), kind: doc.kind(), document: doc.save() }),
        Err(err) => {
            tracing::error!(record = id, reason = %err, "record unreadable: skipped in pulls and fetches");
            None
        }
    }
}

/// Whole documents loaded for answers at once in this process. A load holds the
/// record's ops in memory (up to `rules::MAX_RECORD_OPS`, some 40 MB): twelve fetches
/// or first syncs of large records side by side would otherwise hold twelve of them.
const MAX_LOADS_AT_ONCE: usize = 4;
static LOADS: Gate = Gate::new(MAX_LOADS_AT_ONCE);

/// A counting semaphore for blocking threads (the answers are built on them).
struct Gate {
    inside: std::sync::Mutex<usize>,
    left: std::sync::Condvar,
    most: usize,
}

/// A place inside a [`Gate`], given back when dropped.
struct Turn<'a>(&'a Gate);

impl Gate {
    const fn new(most: usize) -> Self {
        Self { inside: std::sync::Mutex::new(0), left: std::sync::Condvar::new(), most }
    }

    fn enter(&self) -> Turn<'_> {
        let mut inside = self.inside.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while *inside >= self.most {
            inside = self.left.wait(inside).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *inside += 1;
        Turn(self)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        *self.0.inside.lock().unwrap_or_else(std::sync::PoisonError::into_inner) -= 1;
        self.0.left.notify_one();
    }
}

/// The prefixes of `requested` (all of `scope` when `None`) that lie within `scope`.
fn intersect(requested: Option<&[String]>, scope: &Scope) -> Vec<String> {
    let Some(requested) = requested else { return scope.prefixes().to_vec() };
    let mut out: Vec<String> = Vec::new();
    for prefix in requested {
        for allowed in scope.prefixes() {
            if prefix.starts_with(allowed.as_str()) {
                out.push(prefix.clone());
            } else if allowed.starts_with(prefix.as_str()) {
                out.push(allowed.clone());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn a_gate_lets_in_at_most_its_number() {
        static GATE: Gate = Gate::new(2);
        let (inside, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|threads| {
            for _ in 0..8 {
                threads.spawn(|| {
                    let _turn = GATE.enter();
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    inside.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), 2, "two at once, never more");
    }
}
