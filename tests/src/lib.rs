//! The scenario harness: a real center on loopback, phones that are real stores with
//! their own encrypted files and real HTTP clients, a TCP proxy that injects faults, and
//! raw HTTP for requests no honest client would send.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // a harness failure is a test failure

pub mod oracle;
pub mod pg;
pub mod proxy;
pub mod raw;
pub mod workload;

use std::path::PathBuf;
use std::time::Duration;

use gridsync_center::console::accounts::Staff;
use gridsync_center::console::incidents::{StepTaken, take_step};
use gridsync_center::{Center, RunningCenter};
use gridsync_core::client::{self, CancelFlag, ClientConfig, NoProgress, SyncClient, SyncReport, VerifyReport};
use gridsync_core::store::ChangeAudit;
use gridsync_core::sync::wire::Snapshot;
use gridsync_core::{DbKey, Result, Step, Store};
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
        Self::start_with_rates(gridsync_center::limits::Rates::default())
    }

    /// Like [`TestCenter::start`], limiting requests at `rates`.
    pub fn start_with_rates(rates: gridsync_center::limits::Rates) -> Self {
        Self::start_on(Backend::from_env(), rates)
    }

    /// A test center on `backend`.
    pub fn start_on(backend: Backend, rates: gridsync_center::limits::Rates) -> Self {
        let dir = TempDir::new().unwrap();
        let blobs = gridsync_center::blobs::FsBlobStore::open(dir.path().join("blobs")).unwrap();
        let center = Center::open_url(&center_db_on(backend, &dir)).unwrap().with_blobs(Box::new(blobs));
        let running = RunningCenter::serve(center, "127.0.0.1:0", None, rates).unwrap();
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
        self.running.with(Center::max_seq).unwrap()
    }

    /// The center's change log: every change received, and how many were stored twice.
    pub fn audit(&self) -> ChangeAudit {
        self.running.with(center_audit)
    }

    /// A store holding what the center holds now (every record's document), for the
    /// checks that read records as a phone would, on either storage backend.
    pub fn replica(&self) -> Replica {
        self.running.with(Replica::of)
    }

    /// Takes `step` on `incident` as the township's dispatcher (调度员) on the console,
    /// at `at` (ms): the center's steps, which no grid worker's phone takes.
    pub fn dispatch(&self, incident: &str, step: Step, deadline: Option<i64>, at: i64) {
        let taken = StepTaken { step, note: String::new(), deadline, supervision: None };
        self.running.with(|c| take_step(c, &dispatcher(), incident, taken, at)).unwrap();
    }

    /// Requests the center failed itself (answered 5xx), as opposed to refused.
    pub fn internal_errors(&self) -> i64 {
        let refusals = self.running.with(Center::refusals).unwrap();
        refusals.into_iter().find(|(reason, _)| reason == "internal").map_or(0, |(_, n)| n)
    }
}

/// The township's dispatcher, as the console signs them in.
pub fn dispatcher() -> Staff {
    Staff {
        id: "s-disp".into(),
        name: "调度员".into(),
        role: gridsync_core::Role::Dispatcher,
        scope: gridsync_core::Scope::new([TOWNSHIP.to_owned()]).unwrap(),
    }
}

/// The storage a test center runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded file in the test's temporary folder.
    Sqlite,
    /// A fresh database on the cluster `GRIDSYNC_PG_URL` names (`scripts/with-postgres`).
    Postgres,
}

impl Backend {
    /// The backend of the scenarios: `GRIDSYNC_TEST_BACKEND=postgres`, or SQLite.
    pub fn from_env() -> Self {
        if std::env::var("GRIDSYNC_TEST_BACKEND").is_ok_and(|b| b == "postgres") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// The cluster's URL. `None` (the test skips, saying so) when no cluster was given,
    /// unless `GRIDSYNC_REQUIRE_PG` is set, as the README's test command sets it: there a
    /// missing cluster fails the test instead of passing it unseen.
    pub fn postgres_url() -> Option<String> {
        match std::env::var("GRIDSYNC_PG_URL") {
            Ok(url) => Some(url),
            Err(_) if std::env::var_os("GRIDSYNC_REQUIRE_PG").is_some() => {
                panic!("GRIDSYNC_PG_URL is not set: run under scripts/with-postgres")
            }
            Err(_) => {
                eprintln!("skipped: no PostgreSQL (run under scripts/with-postgres)");
                None
            }
        }
    }
}

/// The database a test center runs on, for the backend of the scenarios (see
/// [`Backend::from_env`]): a path in `dir` or a PostgreSQL URL.
pub fn center_db(dir: &TempDir) -> String {
    center_db_on(Backend::from_env(), dir)
}

pub fn center_db_on(backend: Backend, dir: &TempDir) -> String {
    match backend {
        Backend::Sqlite => dir.path().join("center.db").to_string_lossy().into_owned(),
        Backend::Postgres => {
            let url = std::env::var("GRIDSYNC_PG_URL").expect("GRIDSYNC_PG_URL (run under scripts/with-postgres)");
            gridsync_center::storage::postgres::fresh_database(&url).unwrap()
        }
    }
}

/// A center's change log as the reliability suites count it: every change received,
/// and how many rows repeat one.
pub fn center_audit(center: &Center) -> ChangeAudit {
    let log = center.log_audit().unwrap();
    ChangeAudit { made_here: 0, received: log.rows, duplicated: log.rows - log.distinct }
}

/// A phone-side store holding a copy of every record a center holds.
pub struct Replica {
    pub store: Store,
    _dir: TempDir,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica").finish_non_exhaustive()
    }
}

impl Replica {
    pub fn of(center: &Center) -> Self {
        let dir = TempDir::new().unwrap();
        let mut store = Store::open(dir.path().join("replica.db"), DbKey::Raw(&random_key())).unwrap();
        for kind in gridsync_core::Kind::ALL {
            center
                .for_each_record(kind, "", |id, _| {
                    let doc = center.record_doc(id)?.expect("a listed record");
                    let snapshot = Snapshot { record_id: id.to_owned(), kind, document: doc.save() };
                    store.apply_snapshots(&[snapshot]).map_err(|e| e.to_string())?;
                    Ok(())
                })
                .unwrap();
        }
        Self { store, _dir: dir }
    }
}

impl std::ops::Deref for Replica {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

/// Every test center fails its test when it failed a request itself (a panic, a 5xx):
/// a suite cannot pass over a center error it did not look for.
impl Drop for TestCenter {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert_eq!(self.internal_errors(), 0, "the center failed requests itself (see its log)");
        }
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
        self.close().open(config)
    }

    /// Closes the store, keeping its file (for another process to open).
    pub fn close(self) -> ClosedPhone {
        ClosedPhone { path: self.path, key: self.key, dir: self._dir }
    }

    pub fn records(&self) -> usize {
        self.store.heads_in_area("").unwrap().len()
    }

    pub fn audit(&self) -> ChangeAudit {
        self.store.change_audit().unwrap()
    }
}

/// A phone's files while no store has them open.
#[derive(Debug)]
pub struct ClosedPhone {
    pub path: PathBuf,
    pub key: [u8; 32],
    dir: TempDir,
}

impl ClosedPhone {
    pub fn open(self, config: ClientConfig) -> Phone {
        let store = Store::open(&self.path, DbKey::Raw(&self.key)).unwrap();
        let client = SyncClient::for_store(&store, config).unwrap();
        Phone { store, client, path: self.path, key: self.key, _dir: self.dir }
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// The figures a suite prints at its end. `report` fails the test on any loss or
/// duplicate, so the numbers shown are the numbers checked; a suite that counts no loss
/// prints none.
#[derive(Debug, Default)]
pub struct Figures {
    pub suite: &'static str,
    pub cases: u64,
    pub faults: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub refused: u64,
    /// Whether this suite counted loss and duplicates ([`Figures::count_loss`]); a suite
    /// that did not prints no such figure.
    loss_counted: bool,
    /// Further figures of this suite, in order.
    pub more: Vec<(&'static str, String)>,
}

impl Figures {
    pub fn new(suite: &'static str) -> Self {
        Self { suite, ..Self::default() }
    }

    /// Sets a further figure.
    pub fn note(&mut self, name: &'static str, value: impl std::fmt::Display) {
        match self.more.iter_mut().find(|(n, _)| *n == name) {
            Some((_, old)) => *old = value.to_string(),
            None => self.more.push((name, value.to_string())),
        }
    }

    /// Adds to a further figure that counts.
    pub fn add(&mut self, name: &'static str, value: u64) {
        let old: u64 = self.more.iter().find(|(n, _)| *n == name).and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
        self.note(name, old + value);
    }

    /// Counts the changes `phones` made that the center (whose change log is audited as
    /// `at_center`) lacks (`lost`) or holds twice (`duplicates`), given that none was
    /// refused.
    pub fn audit(&mut self, at_center: ChangeAudit, phones: &[&Phone]) {
        let made: u64 = phones.iter().map(|p| p.audit().made_here).sum();
        let duplicated = at_center.duplicated + phones.iter().map(|p| p.audit().duplicated).sum::<u64>();
        self.count_loss(made.saturating_sub(at_center.received), duplicated);
        assert_eq!(at_center.received, made, "the center holds exactly the changes the phones made");
    }

    /// Adds writes found lost and duplicated by a check that could find them.
    pub fn count_loss(&mut self, lost: u64, duplicates: u64) {
        self.lost += lost;
        self.duplicates += duplicates;
        self.loss_counted = true;
    }

    /// Counts with the oracle the acknowledged writes lost or doubled on `replicas`,
    /// adding them to `writes_checked`; the report fails the test on any loss, listing it.
    pub fn check(&mut self, oracle: &oracle::Oracle, replicas: &[(&str, &Store)]) {
        self.check_again(oracle, replicas);
        self.add("writes_checked", oracle.len() as u64);
    }

    /// Like [`Figures::check`], for writes a later check counts (a killed phone's own
    /// writes, checked right after the kill and with everyone's at the end).
    pub fn check_again(&mut self, oracle: &oracle::Oracle, replicas: &[(&str, &Store)]) {
        let verdict = oracle.check(replicas);
        for finding in &verdict.findings {
            println!("oracle: {finding}");
        }
        self.count_loss(verdict.lost, verdict.duplicates);
    }

    pub fn report(&self) {
        let more: String = self.more.iter().map(|(name, value)| format!(" {name}={value}")).collect();
        let loss = if self.loss_counted {
            format!(" lost={} duplicates={}", self.lost, self.duplicates)
        } else {
            String::new()
        };
        println!(
            "figures {}: cases={} faults={}{loss} refused={}{more}",
            self.suite, self.cases, self.faults, self.refused
        );
        assert_eq!((self.lost, self.duplicates), (0, 0), "{} lost or duplicated changes", self.suite);
    }
}

/// How many cases a suite runs: `name` from the environment if set, else `default`, or
/// twenty times it for a long run (`GRIDSYNC_LONG=1`, see tests/README.md).
pub fn env_count(name: &str, default: u64) -> u64 {
    let long = std::env::var("GRIDSYNC_LONG").is_ok_and(|v| v == "1");
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(if long { default * 20 } else { default })
}

/// Every name, ID number and phone number `store` holds: what must never reach a log.
pub fn personal_data(store: &Store) -> Vec<String> {
    let mut found = Vec::new();
    let mut page = gridsync_core::Page::first(500);
    loop {
        let persons = store.list_persons("", &page).unwrap();
        for person in &persons.items {
            found.push(person.name.clone());
            found.extend(person.id_number.clone());
            found.extend(person.phone.clone());
        }
        match persons.next {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    found
}

/// Fails if any line of `logs` carries any of `personal`.
pub fn assert_no_personal_data(logs: &str, personal: &[String]) {
    assert!(!personal.is_empty(), "a check against nothing proves nothing");
    for line in logs.lines() {
        for value in personal {
            assert!(!line.contains(value.as_str()), "personal data in a log line: {line}");
        }
    }
}

/// The center's refusals by reason, summed.
pub fn refusals(center: &TestCenter) -> u64 {
    center.running.with(|c| c.refusals().unwrap()).iter().map(|(_, n)| *n as u64).sum()
}
