//! The scenario harness: a real center on loopback, phones that are real stores with
//! their own encrypted files and real HTTP clients, a TCP proxy that injects faults, and
//! raw HTTP for requests no honest client would send.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // a harness failure is a test failure

pub mod proxy;
pub mod raw;

use std::path::PathBuf;
use std::time::Duration;

use gridsync_center::RunningCenter;
use gridsync_core::sync::client::{self, CancelFlag, ClientConfig, NoProgress, SyncClient, SyncReport, VerifyReport};
use gridsync_core::{DbKey, Result, Store};
use ring::rand::{SecureRandom, SystemRandom};
use tempfile::TempDir;

pub const GRID_ONE: &str = "440106012003001";
pub const GRID_TWO: &str = "440106012004001";
pub const TOWNSHIP: &str = "440106012";

/// A center on a free loopback port, with a temporary database.
#[derive(Debug)]
pub struct TestCenter {
    pub running: RunningCenter,
    pub dir: TempDir,
}

impl TestCenter {
    /// A center with workers `w-one` (grid one), `w-one-b` (grid one), `w-two` (grid
    /// two) and `w-town` (the township).
    pub fn start() -> Self {
        let dir = TempDir::new().unwrap();
        let running = RunningCenter::start(&dir.path().join("center.db"), "127.0.0.1:0").unwrap();
        running.with(|c| {
            c.set_worker("w-one", "网格员甲", &[GRID_ONE.into()]).unwrap();
            c.set_worker("w-one-b", "网格员乙", &[GRID_ONE.into()]).unwrap();
            c.set_worker("w-two", "网格员丙", &[GRID_TWO.into()]).unwrap();
            c.set_worker("w-town", "主任", &[TOWNSHIP.into()]).unwrap();
        });
        Self { running, dir }
    }

    pub fn url(&self) -> String {
        self.running.url()
    }

    pub fn code(&self, worker: &str) -> String {
        self.running.with(|c| c.issue_enrolment_code(worker, 3_600_000)).unwrap()
    }

    /// Enrols a new phone for `worker` through `url` (the center's or a proxy's).
    pub fn phone(&self, worker: &str, url: &str) -> Phone {
        Phone::enrol(url, &self.code(worker), config())
    }

    pub fn changes(&self) -> u64 {
        self.running.with(|c| c.store().max_seq()).unwrap()
    }
}

/// A client configuration for loopback tests: quick retries.
pub fn config() -> ClientConfig {
    ClientConfig {
        allow_insecure_loopback: true,
        retries: 3,
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        request_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        ..ClientConfig::default()
    }
}

pub fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    SystemRandom::new().fill(&mut key).unwrap();
    key
}

/// A phone: a store in its own encrypted file and a sync client.
pub struct Phone {
    pub store: Store,
    pub client: SyncClient,
    pub path: PathBuf,
    pub key: [u8; 32],
    _dir: TempDir,
}

impl std::fmt::Debug for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Phone").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Phone {
    pub fn enrol(url: &str, code: &str, config: ClientConfig) -> Self {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("phone.db");
        let key = random_key();
        let mut store = Store::open(&path, DbKey::Raw(&key)).unwrap();
        client::enrol(&mut store, url, code, "test phone", None, &config).unwrap();
        let client = SyncClient::for_store(&store, config).unwrap();
        Self { store, client, path, key, _dir: dir }
    }

    pub fn sync(&mut self) -> Result<SyncReport> {
        self.client.sync(&mut self.store, &NoProgress, &CancelFlag::default())
    }

    pub fn verify(&mut self) -> Result<VerifyReport> {
        self.client.verify(&mut self.store, &NoProgress, &CancelFlag::default())
    }

    /// Reopens the store, as after the app was killed, with a client built anew.
    pub fn restart(self, config: ClientConfig) -> Self {
        let Phone { store, path, key, _dir, .. } = self;
        drop(store);
        let store = Store::open(&path, DbKey::Raw(&key)).unwrap();
        let client = SyncClient::for_store(&store, config).unwrap();
        Self { store, client, path, key, _dir }
    }

    pub fn records(&self) -> usize {
        self.store.heads_in_area("").unwrap().len()
    }
}
