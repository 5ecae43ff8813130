//! The record tables as a center's embedded (SQLite) storage writes them: the same
//! `records`, `change_log` and projections a phone keeps, written by the same code, so
//! an embedded center database is a store that every gridsync tool can read.

use automerge::Change;
use rusqlite::Connection;

pub use super::digest::area_condition;
use super::projection;
use super::records::{self, Origin};
use crate::doc::RecordDoc;
use crate::error::Result;
use crate::model::Millis;

/// Stores `doc` after `changes` from `device` were applied to it and checked, with its
/// projection, inside the caller's transaction. Returns how many changes were new.
pub fn save_received(
    conn: &Connection,
    id: &str,
    doc: &RecordDoc,
    changes: &[Change],
    device: &str,
    now: Millis,
) -> Result<usize> {
    let logged = records::persist_doc(conn, id, doc, changes, Origin::Remote, Some(device), now)?;
    projection::project(conn, id, doc, now)?;
    Ok(logged)
}
