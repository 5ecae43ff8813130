//! The three phone-side arms, behind one trait so every scenario runs the same calls on
//! each: A, plain rusqlite (the floor); B, naive automerge; C, gridsync.

pub mod gridsync;
pub mod naive;
pub mod plain;

use gridsync_core::IncidentStatus;

use crate::data::Dataset;

/// The same encryption and durability for every arm: SQLCipher, WAL, synchronous=FULL.
pub const PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;";
pub const KEY: [u8; 32] = [0x42; 32];

/// Opens an encrypted SQLite database the way gridsync's store does.
pub fn open_encrypted(path: &std::path::Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).expect("open the database");
    conn.pragma_update(None, "key", format!("x'{}'", hex::encode(KEY))).expect("key");
    conn.execute_batch(PRAGMAS).expect("pragmas");
    conn
}

pub trait Arm {
    /// Creates every record of `data`, each in its own committed transaction.
    fn create_all(&mut self, data: &Dataset);
    /// Creates every household and person of `data` in one transaction: a village's
    /// register imported from a spreadsheet.
    fn import_register(&mut self, data: &Dataset);
    /// Sets one field (the address) of household `index`, committed.
    fn edit_address(&mut self, data: &Dataset, index: usize, address: &str);
    /// One grid's households, first page of 100.
    fn list_grid(&mut self, grid: &str) -> usize;
    /// The members of household `index`.
    fn members(&mut self, index: usize) -> usize;
    /// Incidents of the township with `status`, first page of 100.
    fn incidents_with_status(&mut self, status: IncidentStatus) -> usize;
    /// Persons matching a typed query (汉字, initials or ID tail), at most 20.
    fn search(&mut self, query: &str) -> usize;
}
