//! Reads over the records of a scope, shared by phone and center: the SQL condition for
//! a set of area prefixes, and the (record id, heads) digest both sides compare.

use ring::digest::{Context, SHA256};
use rusqlite::{Connection, params_from_iter, types::Value as SqlValue};

use super::Store;
use crate::area::prefix_range;
use crate::error::Result;
use crate::sync::wire::{DigestResponse, RecordHeads};

/// Digests are split into this many buckets by the first byte of SHA-256(record id).
pub use crate::sync::wire::DIGEST_BUCKETS;

/// `(column >= ? AND column < ?) OR …` for each prefix, with its parameters. An empty
/// scope matches nothing.
pub fn area_condition(column: &str, prefixes: &[String]) -> (String, Vec<SqlValue>) {
    if prefixes.is_empty() {
        return ("0".into(), Vec::new());
    }
    let mut params = Vec::with_capacity(prefixes.len() * 2);
    let clauses: Vec<String> = prefixes
        .iter()
        .map(|prefix| {
            let (low, high) = prefix_range(prefix);
            params.push(low.into());
            params.push(high.into());
            format!("({column} >= ? AND {column} < ?)")
        })
        .collect();
    (format!("({})", clauses.join(" OR ")), params)
}

/// The bucket of a record id.
pub fn bucket_of(record_id: &str) -> u8 {
    ring::digest::digest(&SHA256, record_id.as_bytes()).as_ref()[0] % DIGEST_BUCKETS
}

/// Calls `each` with (id, heads) of every record in scope, in id order, one row at a time.
fn for_each_record(
    conn: &Connection,
    prefixes: &[String],
    mut each: impl FnMut(&str, &[u8]) -> Result<()>,
) -> Result<()> {
    let (condition, params) = area_condition("area_code", prefixes);
    let mut stmt = conn.prepare_cached(&format!("SELECT id, heads FROM records WHERE {condition} ORDER BY id"))?;
    let mut rows = stmt.query(params_from_iter(params.iter()))?;
    while let Some(row) = rows.next()? {
        let id = row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
        let heads = row.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
        each(id, heads)?;
    }
    Ok(())
}

/// The digest of (record id, heads) over a scope, whole and per bucket, fed one record
/// at a time in id order: phone and center compute it the same way.
pub struct ScopeDigest {
    total: Context,
    buckets: Vec<Context>,
    records: u64,
}

impl std::fmt::Debug for ScopeDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopeDigest").field("records", &self.records).finish_non_exhaustive()
    }
}

impl Default for ScopeDigest {
    fn default() -> Self {
        Self {
            total: Context::new(&SHA256),
            buckets: (0..DIGEST_BUCKETS).map(|_| Context::new(&SHA256)).collect(),
            records: 0,
        }
    }
}

impl ScopeDigest {
    /// Adds a record: its id and its encoded heads (`doc::encode_heads`).
    pub fn add(&mut self, id: &str, heads: &[u8]) {
        let bucket = bucket_of(id) as usize;
        for context in [&mut self.total, &mut self.buckets[bucket]] {
            context.update(id.as_bytes());
            context.update(&[0]);
            context.update(heads);
        }
        self.records += 1;
    }

    pub fn finish(self) -> DigestResponse {
        DigestResponse {
            records: self.records,
            total: self.total.finish().as_ref().to_vec(),
            buckets: self.buckets.into_iter().map(|b| b.finish().as_ref().to_vec()).collect(),
        }
    }
}

impl Store {
    /// The digest of (record id, heads) over the records under `prefixes`: whole and per
    /// bucket. Equal digests mean equal documents.
    pub fn digest(&self, prefixes: &[String]) -> Result<DigestResponse> {
        let mut digest = ScopeDigest::default();
        for_each_record(&self.conn, prefixes, |id, heads| {
            digest.add(id, heads);
            Ok(())
        })?;
        Ok(digest.finish())
    }

    /// (record id, heads) of the records under `prefixes` whose bucket is in `buckets`.
    pub fn heads_in_buckets(&self, prefixes: &[String], buckets: &[u8]) -> Result<Vec<RecordHeads>> {
        let mut out = Vec::new();
        for_each_record(&self.conn, prefixes, |id, heads| {
            if buckets.contains(&bucket_of(id)) {
                out.push(RecordHeads { record_id: id.to_owned(), heads: heads.to_vec() });
            }
            Ok(())
        })?;
        Ok(out)
    }
}
