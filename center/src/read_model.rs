//! The console's read model: a gridsync store (the phone's projections, search, conflict
//! lists and field history) holding every record the center holds, caught up from the
//! change log before each page is drawn. It is a cache: a temporary file under a random
//! key, built on a process's first console request and thrown away when it stops, so
//! several center processes on one PostgreSQL each keep their own and none can go stale
//! for longer than one request. Every query through it is still bounded by the staff
//! member's scope, by the page that asks.

use std::sync::{Mutex, MutexGuard, PoisonError};

use gridsync_core::store::RemoteChange;
use gridsync_core::sync::wire::Snapshot;
use gridsync_core::{DbKey, Kind, Store};
use ring::rand::{SecureRandom, SystemRandom};

use crate::center::Center;

/// Changes applied per round while catching up (each round is one transaction).
const CATCH_UP_PAGE: u32 = 500;

/// The read model, built on first use.
#[derive(Debug, Default)]
pub struct ReadModel {
    inner: Mutex<Option<Built>>,
}

#[derive(Debug)]
struct Built {
    store: Store,
    /// The last change of the center's log the store holds.
    seq: u64,
    _dir: tempfile::TempDir,
}

impl ReadModel {
    /// Runs `f` on the store once it holds everything the center has committed.
    pub fn read<T>(&self, center: &Center, f: impl FnOnce(&mut Store) -> Result<T, String>) -> Result<T, String> {
        let mut guard = self.lock();
        if guard.is_none() {
            *guard = Some(Built::load(center)?);
        }
        let built = guard.as_mut().ok_or("the read model is missing")?;
        built.catch_up(center)?;
        f(&mut built.store)
    }

    fn lock(&self) -> MutexGuard<'_, Option<Built>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Built {
    /// Every record's document, then the changes that came meanwhile.
    fn load(center: &Center) -> Result<Self, String> {
        let dir = tempfile::TempDir::new().map_err(|e| e.to_string())?;
        let mut key = [0u8; 32];
        SystemRandom::new().fill(&mut key).map_err(|_| "no system randomness")?;
        let mut store = Store::open(dir.path().join("console.db"), DbKey::Raw(&key)).map_err(|e| e.to_string())?;
        let seq = center.max_seq().map_err(|e| e.to_string())?;
        for kind in Kind::ALL {
            center.for_each_record(kind, "", |id, stored| {
                let doc = crate::push::load(stored).map_err(|e| format!("record {id}: {e}"))?;
                let snapshot = Snapshot { record_id: id.to_owned(), kind, document: doc.save() };
                store.apply_snapshots(&[snapshot]).map(drop).map_err(|e| e.to_string())
            })?;
        }
        let mut built = Built { store, seq, _dir: dir };
        built.catch_up(center)?;
        Ok(built)
    }

    fn catch_up(&mut self, center: &Center) -> Result<(), String> {
        loop {
            let page = center.changes_after(self.seq, CATCH_UP_PAGE).map_err(|e| e.to_string())?;
            let Some(last) = page.last().map(|c| c.seq) else { return Ok(()) };
            let changes: Vec<RemoteChange> = page
                .into_iter()
                .map(|c| RemoteChange { record_id: c.record_id, kind: c.kind, bytes: c.bytes })
                .collect();
            self.store.apply_remote(&changes).map_err(|e| e.to_string())?;
            self.seq = last;
        }
    }
}
