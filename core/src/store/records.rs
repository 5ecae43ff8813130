//! Loading and persisting record documents: the `records` row, the append-only
//! `change_log`, and compaction of a record's tail of changes into its snapshot.

use automerge::{ActorId, Change, ChangeHash};
use rusqlite::{Connection, OptionalExtension, params};

use crate::doc::{RecordDoc, encode_heads};
use crate::error::{Error, Result};
use crate::model::{Kind, Millis};

/// A record's tail of changes is folded into a new snapshot once it is this long, so
/// loading stays cheap while an edit never rewrites the whole document.
const COMPACT_AFTER: i64 = 32;

/// Where a change was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// On this device; to be pushed to the center.
    Local = 0,
    /// Received from the center (already stored there).
    Remote = 1,
}

/// The kind of record `id`, if it exists.
pub(crate) fn record_kind(conn: &Connection, id: &str) -> Result<Option<Kind>> {
    let kind: Option<String> =
        conn.prepare_cached("SELECT kind FROM records WHERE id = ?1")?.query_row([id], |row| row.get(0)).optional()?;
    kind.map(|k| Kind::parse(&k).ok_or_else(|| Error::Document(format!("unknown record kind {k:?}")))).transpose()
}

/// Loads record `id`'s document, checking it is of kind `expected` when given.
pub(crate) fn load_doc(conn: &Connection, actor: &ActorId, id: &str, expected: Option<Kind>) -> Result<RecordDoc> {
    let row = conn
        .prepare_cached("SELECT kind, snapshot, snapshot_seq FROM records WHERE id = ?1")?
        .query_row([id], |row| Ok((row.get::<_, String>(0)?, row.get::<_, Option<Vec<u8>>>(1)?, row.get::<_, i64>(2)?)))
        .optional()?;
    let Some((kind, snapshot, snapshot_seq)) = row else {
        return Err(Error::NotFound { kind: expected.map_or("record", Kind::as_str), id: id.to_owned() });
    };
    let kind = Kind::parse(&kind).ok_or_else(|| Error::Document(format!("unknown record kind {kind:?}")))?;
    if let Some(expected) = expected.filter(|e| *e != kind) {
        return Err(Error::WrongKind {
            id: id.to_owned(),
            expected: expected.as_str(),
            actual: kind.as_str().to_owned(),
        });
    }
    let mut stmt =
        conn.prepare_cached("SELECT bytes FROM change_log WHERE record_id = ?1 AND seq > ?2 ORDER BY seq")?;
    let tail =
        stmt.query_map(params![id, snapshot_seq], |row| row.get::<_, Vec<u8>>(0))?.collect::<Result<Vec<_>, _>>()?;
    RecordDoc::load(kind, actor, snapshot.as_deref(), tail.iter().map(Vec::as_slice))
}

/// A change of record `id` as its log holds it, if it does.
pub(crate) fn logged_change(conn: &Connection, id: &str, hash: &ChangeHash) -> Result<Option<Change>> {
    let bytes: Option<Vec<u8>> = conn
        .prepare_cached("SELECT bytes FROM change_log WHERE record_id = ?1 AND hash = ?2")?
        .query_row(params![id, hash.0], |row| row.get(0))
        .optional()?;
    bytes
        .map(|bytes| {
            Change::from_bytes(bytes).map_err(|e| Error::Document(format!("a logged change does not parse: {e}")))
        })
        .transpose()
}

/// Stores `doc` after `changes` were made to it or applied to it: the records row,
/// one change_log row per change not logged before, and a new snapshot when the tail
/// has grown long. Runs inside the caller's transaction. Returns how many changes were
/// new to the log.
pub(crate) fn persist_doc(
    tx: &Connection,
    id: &str,
    doc: &RecordDoc,
    changes: &[Change],
    origin: Origin,
    device: Option<&str>,
    now: Millis,
) -> Result<usize> {
    let area_code = doc.area_code().unwrap_or_default();

    // The tail grows by every change logged; counted in the same upsert as the heads
    // instead of a second update of the row, then corrected when some were logged
    // already (a repeated delivery, or changes that waited in the log for their
    // dependencies and are passed in again once applied).
    let mut tail_len: i64 = tx
        .prepare_cached(
            "INSERT INTO records (id, kind, area_code, heads, deleted, conflicts, tail_len, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?8, ?7, ?7)
             ON CONFLICT (id) DO UPDATE SET heads = ?4, deleted = ?5, conflicts = ?6,
               updated_at = ?7, tail_len = tail_len + ?8
             RETURNING tail_len",
        )?
        .query_row(
            params![
                id,
                doc.kind().as_str(),
                area_code,
                encode_heads(&doc.heads()),
                doc.is_deleted()?,
                doc.conflict_count()? as i64,
                now,
                changes.len() as i64
            ],
            |row| row.get(0),
        )?;

    // The area code is indexed: set only when it changed, or each write would rewrite its
    // index entry (see projection's `Table::write`).
    tx.prepare_cached("UPDATE records SET area_code = ?2 WHERE id = ?1 AND area_code IS NOT ?2")?
        .execute(params![id, area_code])?;

    let mut insert = tx.prepare_cached(
        "INSERT INTO change_log (record_id, hash, bytes, origin, acked, logged_at, device)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (record_id, hash) DO NOTHING",
    )?;
    let mut logged = 0;
    for change in changes {
        let acked = origin == Origin::Remote;
        logged +=
            insert.execute(params![id, change.hash().0, change.raw_bytes(), origin as i64, acked, now, device])?;
    }
    if logged < changes.len() {
        tail_len = tx
            .prepare_cached("UPDATE records SET tail_len = tail_len - ?2 WHERE id = ?1 RETURNING tail_len")?
            .query_row(params![id, (changes.len() - logged) as i64], |row| row.get(0))?;
    }
    // Changes still waiting for their dependencies are not in a snapshot: compacting now
    // would drop them, so wait until they have been applied.
    if tail_len > COMPACT_AFTER && !doc.has_queued_changes() {
        tx.prepare_cached(
            "UPDATE records SET snapshot = ?2, tail_len = 0,
                 snapshot_seq = (SELECT max(seq) FROM change_log WHERE record_id = ?1)
             WHERE id = ?1",
        )?
        .execute(params![id, doc.save()])?;
    }
    Ok(logged)
}
