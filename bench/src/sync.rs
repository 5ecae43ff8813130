//! Sync on the wire, counted in bytes and round trips: C with a real center on loopback
//! and the real client; B with automerge's own per-document sync protocol between two
//! sets of documents in memory (its messages as they would travel, one request per round
//! carrying every document's message); A as the floor, the changed rows themselves,
//! CBOR + zstd, in one round trip, with no metadata at all.

use std::collections::BTreeMap;
use std::time::Duration;

use automerge::sync::{State, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT};
use gridsync_center::RunningCenter;
use gridsync_center::relay::CountingRelay;
use gridsync_core::client::{self, CancelFlag, ClientConfig, NoProgress, SyncClient};
use gridsync_core::sample::Sample;
use gridsync_core::{DbKey, Store};

use crate::arms::Arm;
use crate::arms::gridsync::Gridsync;
use crate::data::{Dataset, TOWNSHIP};
use crate::measure::{CpuSnapshot, Transfer, process_cpu_seconds, timed};

/// The sync scenarios of one arm at one size.
#[derive(Debug, Default, Clone, Copy)]
pub struct SyncFigures {
    /// Everything created on the phone reaching the center.
    pub initial_push: Transfer,
    pub nothing_changed: Transfer,
    pub one_field: Transfer,
    /// `EDITS` single-field edits in one sync.
    pub many_edits: Transfer,
    /// A fresh phone of the same scope.
    pub first_sync: Transfer,
    /// Loopback wall time of each, C only.
    pub wall: [Duration; 5],
    /// CPU seconds the fresh phone spent in its first sync (its own threads, counted by
    /// the kernel; the center's are apart), C only.
    pub first_sync_phone_cpu: f64,
}

/// The threads of the center and of the counting relay in this process (tokio's
/// default worker name, the center's thread, the relay's); every other thread is the
/// phone's, including the client's per-request threads that end before the sync does.
const CENTER_AND_RELAY_THREADS: [&str; 3] = ["tokio-rt-worker", "gridsync-center", "counting-relay"];

/// This process's CPU so far, and the center's threads'.
struct CpuMark {
    process: f64,
    center: Vec<CpuSnapshot>,
}

fn phone_cpu() -> CpuMark {
    CpuMark { process: process_cpu_seconds(), center: CENTER_AND_RELAY_THREADS.map(CpuSnapshot::threads).to_vec() }
}

/// The phone's CPU seconds since `earlier`: the process's, less the center's. A center
/// thread that ended in between would count as the phone's: the error is against
/// gridsync. A sync that applies records takes tens of milliseconds at least: less
/// than one clock tick (10 ms) means nothing was counted (a difference of float sums
/// can leave a speck above zero), and no figure is better than a wrong one.
fn phone_cpu_since(earlier: &CpuMark) -> f64 {
    const ONE_TICK: f64 = 0.01;
    let now = phone_cpu();
    let center: f64 = now.center.iter().zip(&earlier.center).map(|(now, then)| now.seconds_since(then)).sum();
    let seconds = now.process - earlier.process - center;
    assert!(seconds >= ONE_TICK, "no CPU counted for the phone ({seconds} s)");
    seconds
}

pub const EDITS: usize = 1_000;

/// The scenarios' names, in the order of [`SyncFigures::transfers`].
pub const SCENARIOS: [&str; 5] = [
    "sync: everything created, first push",
    "sync: nothing changed",
    "sync: one field edited",
    "sync: 1,000 edits",
    "sync: first sync of a fresh phone",
];

impl SyncFigures {
    pub fn transfers(&self) -> [Transfer; 5] {
        [self.initial_push, self.nothing_changed, self.one_field, self.many_edits, self.first_sync]
    }
}

/// Where a benchmark center keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// An embedded file in a temporary folder.
    Sqlite,
    /// A fresh database on the PostgreSQL cluster at this URL.
    Postgres(String),
}

/// A center on loopback with the given workers; phones reach it through a relay that
/// counts the bytes on their sockets (headers included). With several instances (on
/// PostgreSQL), each is a center of its own (its runtime, its connection pool) on the
/// same database, and the relay hands connections to them in turn.
pub struct Center {
    pub running: RunningCenter,
    /// Further instances on the same database (served while the benchmark holds them).
    _others: Vec<RunningCenter>,
    pub link: CountingRelay,
    _dir: tempfile::TempDir,
}

impl Center {
    pub fn start(workers: &[(String, String)]) -> Self {
        Self::start_on(&Backend::Sqlite, 1, workers)
    }

    pub fn start_on(backend: &Backend, instances: usize, workers: &[(String, String)]) -> Self {
        let dir = tempfile::TempDir::new().expect("a temporary folder");
        let db = match backend {
            Backend::Sqlite => dir.path().join("center.db").to_string_lossy().into_owned(),
            Backend::Postgres(url) => gridsync_center::storage::postgres::fresh_database(url).expect("a database"),
        };
        let serve = || {
            let center = gridsync_center::Center::open_url(&db).expect("a center");
            RunningCenter::serve(center, "127.0.0.1:0", None, gridsync_center::limits::Rates::default())
                .expect("a center")
        };
        let running = serve();
        running.with(|c| {
            for (worker, prefix) in workers {
                c.set_worker(worker, "网格员", std::slice::from_ref(prefix)).expect("a worker");
            }
        });
        let others: Vec<RunningCenter> = (1..instances).map(|_| serve()).collect();
        let addrs = std::iter::once(&running).chain(&others).map(|r| r.addr).collect();
        let link = CountingRelay::round_robin(addrs).expect("a counting relay");
        Self { running, _others: others, link, _dir: dir }
    }

    /// A phone enrolled for `worker`, its store in `dir`.
    /// Signed requests each instance answered so far, by how long it took.
    pub fn request_times(&self) -> gridsync_center::latency::Counts {
        self._others.iter().fold(self.running.with(|c| c.requests.snapshot()), |sum, other| {
            sum.plus(&other.with(|c| c.requests.snapshot()))
        })
    }

    pub fn phone(&self, worker: &str, dir: &std::path::Path) -> (Store, SyncClient) {
        let code = self.running.with(|c| c.issue_enrolment_code(worker, 3_600_000)).expect("a code");
        let mut store = Store::open(dir.join("phone.db"), DbKey::Raw(&crate::arms::KEY)).expect("a store");
        client::enrol(&mut store, &self.link.url(), &code, "bench", None, &config()).expect("enrolment");
        let client = SyncClient::for_store(&store, config()).expect("a client");
        (store, client)
    }
}

pub fn config() -> ClientConfig {
    ClientConfig { allow_insecure_loopback: true, ..ClientConfig::default() }
}

/// One sync, its bytes counted on the socket.
fn sync(center: &Center, store: &mut Store, client: &SyncClient) -> (Transfer, Duration) {
    let before = center.link.bytes();
    let (report, took) = timed(|| client.sync(store, &NoProgress, &CancelFlag::default()).expect("a sync"));
    let bytes = center.link.bytes() - before;
    (Transfer { bytes_up: bytes.up, bytes_down: bytes.down, round_trips: report.round_trips }, took)
}

/// C: gridsync through a real center.
pub fn gridsync(data: &Dataset) -> SyncFigures {
    let center = Center::start(&[("w-bench".into(), TOWNSHIP.into())]);
    let dir = tempfile::TempDir::new().expect("a temporary folder");
    let (store, client) = center.phone("w-bench", dir.path());
    let mut phone = Gridsync::new(store);
    phone.create_all(data);
    let mut figures = SyncFigures::default();
    (figures.initial_push, figures.wall[0]) = sync(&center, &mut phone.store, &client);
    sync(&center, &mut phone.store, &client); // settles the cursor past the phone's own changes
    (figures.nothing_changed, figures.wall[1]) = sync(&center, &mut phone.store, &client);
    phone.edit_address(data, 0, "幸福路1号");
    (figures.one_field, figures.wall[2]) = sync(&center, &mut phone.store, &client);
    let mut sample = Sample::new(5);
    for n in 0..EDITS {
        phone.edit_address(data, sample.below(data.households.len() as u64) as usize, &format!("建设街{n}号"));
    }
    (figures.many_edits, figures.wall[3]) = sync(&center, &mut phone.store, &client);
    let fresh_dir = tempfile::TempDir::new().expect("a temporary folder");
    let (mut fresh, fresh_client) = center.phone("w-bench", fresh_dir.path());
    let cpu = phone_cpu();
    (figures.first_sync, figures.wall[4]) = sync(&center, &mut fresh, &fresh_client);
    figures.first_sync_phone_cpu = phone_cpu_since(&cpu);
    figures
}

/// The loopback wall time of `runs` syncs with nothing new, once `data` reached the center.
pub fn idle_sync_walls(data: &Dataset, runs: usize) -> Vec<Duration> {
    let center = Center::start(&[("w-bench".into(), TOWNSHIP.into())]);
    let dir = tempfile::TempDir::new().expect("a temporary folder");
    let (store, client) = center.phone("w-bench", dir.path());
    let mut phone = Gridsync::new(store);
    phone.import_register(data);
    for _ in 0..2 {
        sync(&center, &mut phone.store, &client);
    }
    (0..runs).map(|_| sync(&center, &mut phone.store, &client).1).collect()
}

/// A fresh phone's first sync, once `data` reached the center: what went over the
/// wire, the loopback wall time and the phone's CPU seconds.
pub fn first_sync(data: &Dataset) -> (Transfer, Duration, f64) {
    let center = Center::start(&[("w-bench".into(), TOWNSHIP.into())]);
    let dir = tempfile::TempDir::new().expect("a temporary folder");
    let (store, client) = center.phone("w-bench", dir.path());
    let mut phone = Gridsync::new(store);
    phone.create_all(data);
    sync(&center, &mut phone.store, &client);
    let fresh_dir = tempfile::TempDir::new().expect("a temporary folder");
    let (mut fresh, fresh_client) = center.phone("w-bench", fresh_dir.path());
    let cpu = phone_cpu();
    let (transfer, wall) = sync(&center, &mut fresh, &fresh_client);
    (transfer, wall, phone_cpu_since(&cpu))
}

type Docs = BTreeMap<String, Automerge>;

/// Runs automerge's sync protocol over every document until both sides are quiet. Each
/// round trip carries every document's message one way and every answer back; a
/// message travels with its 36-byte document id.
fn automerge_sync(phone: &mut Docs, center: &mut Docs) -> Transfer {
    let mut transfer = Transfer::default();
    // A phone that lacks documents first learns their ids.
    let missing: Vec<String> = center.keys().filter(|id| !phone.contains_key(*id)).cloned().collect();
    if !missing.is_empty() {
        transfer.round_trips += 1;
        transfer.bytes_down += 36 * missing.len() as u64;
        for id in missing {
            phone.insert(id, Automerge::new());
        }
    }
    let ids: Vec<String> = phone.keys().cloned().collect();
    let mut states: BTreeMap<&str, (State, State)> =
        ids.iter().map(|id| (id.as_str(), (State::new(), State::new()))).collect();
    loop {
        let mut sent = false;
        for id in &ids {
            let (phone_state, center_state) = states.get_mut(id.as_str()).expect("a state");
            let phone_doc = phone.get_mut(id).expect("a document");
            let center_doc = center.entry(id.clone()).or_default();
            if let Some(bytes) = send((phone_doc, phone_state), (center_doc, center_state)) {
                transfer.bytes_up += bytes;
                sent = true;
            }
            if let Some(bytes) = send((center_doc, center_state), (phone_doc, phone_state)) {
                transfer.bytes_down += bytes;
                sent = true;
            }
        }
        if !sent {
            return transfer;
        }
        transfer.round_trips += 1;
    }
}

/// One document's next sync message from one side to the other, encoded and decoded as
/// it would travel; the bytes it takes on the wire with its document id.
fn send((from, from_state): (&Automerge, &mut State), (to, to_state): (&mut Automerge, &mut State)) -> Option<u64> {
    let bytes = from.generate_sync_message(from_state)?.encode();
    to.receive_sync_message(to_state, automerge::sync::Message::decode(&bytes).expect("a message")).expect("receive");
    Some(bytes.len() as u64 + 36)
}

fn edit(docs: &mut Docs, id: &str, address: &str) {
    let doc = docs.get_mut(id).expect("a document");
    let mut tx = doc.transaction();
    tx.put(ROOT, "address", address).expect("put");
    tx.commit();
}

/// B: naive automerge documents, synced document by document.
pub fn naive(documents: Vec<(String, String, String, Vec<u8>)>) -> SyncFigures {
    let mut phone: Docs =
        documents.into_iter().map(|(id, _, _, bytes)| (id, Automerge::load(&bytes).expect("a document"))).collect();
    let households: Vec<String> = phone
        .iter()
        .filter(|(_, doc)| crate::arms::naive::text(doc, "kind").as_deref() == Some("household"))
        .map(|(id, _)| id.clone())
        .collect();
    let mut center = Docs::new();
    let mut figures = SyncFigures {
        initial_push: automerge_sync(&mut phone, &mut center),
        nothing_changed: automerge_sync(&mut phone, &mut center),
        ..SyncFigures::default()
    };
    edit(&mut phone, &households[0], "幸福路1号");
    figures.one_field = automerge_sync(&mut phone, &mut center);
    let mut sample = Sample::new(5);
    for n in 0..EDITS {
        edit(&mut phone, &households[sample.below(households.len() as u64) as usize], &format!("建设街{n}号"));
    }
    figures.many_edits = automerge_sync(&mut phone, &mut center);
    figures.first_sync = automerge_sync(&mut Docs::new(), &mut center);
    figures
}

/// The bytes of `value` as CBOR, zstd-compressed from 160 bytes on (as gridsync's
/// envelope does).
fn packed<T: serde::Serialize>(value: &T) -> u64 {
    let mut cbor = Vec::new();
    ciborium::into_writer(value, &mut cbor).expect("CBOR into memory");
    if cbor.len() < 160 {
        return cbor.len() as u64;
    }
    zstd::bulk::compress(&cbor, 3).expect("zstd into memory").len().min(cbor.len()) as u64
}

/// A SQLite value as plain CBOR data.
fn plain(value: &rusqlite::types::Value) -> ciborium::Value {
    use rusqlite::types::Value;
    match value {
        Value::Null => ciborium::Value::Null,
        Value::Integer(i) => ciborium::Value::Integer((*i).into()),
        Value::Real(f) => ciborium::Value::Float(*f),
        Value::Text(t) => ciborium::Value::Text(t.clone()),
        Value::Blob(b) => ciborium::Value::Bytes(b.clone()),
    }
}

/// A: the floor. The rows or changed fields themselves, CBOR (+ zstd), one round trip,
/// a sync with nothing new a cursor each way. Payload bytes only: A and B move no real
/// bytes over a socket, so their figures leave out the transport that C's include.
pub fn floor(rows: &[(String, Vec<rusqlite::types::Value>)], household_ids: usize) -> SyncFigures {
    let values: Vec<Vec<ciborium::Value>> = rows.iter().map(|(_, row)| row.iter().map(plain).collect()).collect();
    let all = packed(&values);
    let cursor = packed(&u64::MAX);
    let edit = |n: usize| (format!("{:036}", n % household_ids.max(1)), "address", format!("建设街{n}号"));
    let one = Transfer { bytes_up: packed(&vec![edit(0)]), bytes_down: cursor, round_trips: 1 };
    SyncFigures {
        initial_push: Transfer { bytes_up: all, bytes_down: cursor, round_trips: 1 },
        nothing_changed: Transfer { bytes_up: cursor, bytes_down: cursor, round_trips: 1 },
        one_field: one,
        many_edits: Transfer {
            bytes_up: packed(&(0..EDITS).map(edit).collect::<Vec<_>>()),
            bytes_down: cursor,
            round_trips: 1,
        },
        first_sync: Transfer { bytes_up: cursor, bytes_down: all, round_trips: 1 },
        ..SyncFigures::default()
    }
}
