//! Replicas for merge scenarios: stores in temporary folders that exchange changes
//! directly, as they would through the center.

#![allow(dead_code)] // each test binary uses its own part of this module
#![allow(clippy::unwrap_used)] // test helpers: a failure is a test failure

pub mod spoil;

use gridsync_core::sample::{Sample, with_check_character};
use gridsync_core::{AreaCode, Date, DbKey, Gender, Person, Store};
use tempfile::TempDir;

pub const GRID: &str = "44010601200300102";
pub const TOWNSHIP_KEY: &[u8] = b"township-440106012-test-secret";

pub struct Replica {
    pub store: Store,
    _dir: TempDir,
}

impl Replica {
    pub fn new(worker: &str) -> Self {
        let dir = TempDir::new().unwrap();
        let mut store = Store::open(dir.path().join("replica.db"), DbKey::Raw(&[3; 32])).unwrap();
        store.set_worker(worker).unwrap();
        store.set_township_key(TOWNSHIP_KEY).unwrap();
        Self { store, _dir: dir }
    }

    /// Reopens the database, as after an app restart.
    pub fn reopen(self) -> Self {
        let path = self._dir.path().join("replica.db");
        drop(self.store);
        Self { store: Store::open(path, DbKey::Raw(&[3; 32])).unwrap(), _dir: self._dir }
    }
}

/// Everything `from` holds, applied to `to`.
pub fn send(from: &Replica, to: &mut Replica) {
    let changes: Vec<_> = from.store.changes_after(0, u32::MAX).unwrap().into_iter().map(|(_, c)| c).collect();
    to.store.apply_remote(&changes).unwrap();
}

pub fn exchange(a: &mut Replica, b: &mut Replica) {
    send(a, b);
    send(b, a);
}

pub fn grid() -> AreaCode {
    AreaCode::parse("area_code", GRID).unwrap()
}

/// 王芳, born 1990-03-07, with a valid resident ID number.
pub fn wang_fang() -> Person {
    let mut person = Sample::new(1).person(&grid(), None);
    person.name = "王芳".into();
    person.gender = Gender::Female;
    person.birth_date = Date::new("d", 1990, 3, 7).unwrap();
    person.id_number = Some(with_check_character("44010619900307002"));
    person.phone = None;
    person.occupation = None;
    person
}
