//! The center under many phones: each phone has one new edit and pulls what others did;
//! all start their sync at the same moment, on loopback, on either storage backend and
//! with one or two center instances.

use std::sync::{Arc, Barrier};
use std::time::Instant;

use gridsync_core::client::{CancelFlag, NoProgress};
use gridsync_core::sample::Sample;
use gridsync_core::{Household, Page};

use crate::data::{TOWNSHIP, micro_grid};
use crate::measure::{CpuSnapshot, Latencies};
use crate::sync::{Backend, Center};

const GRIDS: usize = 10;
/// The center's tokio threads (workers and blocking pool) as Linux names them.
const CENTER_THREADS: &str = "tokio-rt-worker";
/// The PostgreSQL server's processes (its connection backends among them).
const DATABASE_PROCESSES: &str = "postgres";

#[derive(Debug, Clone)]
pub struct LoadFigures {
    pub latencies: Latencies,
    pub syncs_per_s: f64,
    pub errors: usize,
    /// CPU the center's threads spent per sync: phones and center share this machine's
    /// cores in the benchmark, so this is what one sync costs the center alone.
    pub center_cpu_ms_per_sync: f64,
    /// CPU the PostgreSQL server's processes spent per sync (0 on SQLite, whose work is
    /// on the center's threads).
    pub database_cpu_ms_per_sync: f64,
    /// The center's own time per request (from its last byte to its answer), with the
    /// phones' threads at the lowest priority: the center's latency with the phones' CPU
    /// taken out as far as one machine can. Bucket bounds ("at most").
    pub center_p50_ms: Option<u64>,
    pub center_p99_ms: Option<u64>,
}

/// Puts the calling thread at nice 19 (`renice`, util-linux; Linux threads have their own
/// nice value): a phone's thread then runs on what the center and the database leave.
fn lowest_priority() {
    let Ok(me) = std::fs::read_link("/proc/thread-self") else { return };
    let Some(tid) = me.file_name().map(|t| t.to_string_lossy().into_owned()) else { return };
    let _ = std::process::Command::new("renice")
        .args(["-n", "19", "-p", &tid])
        .stdout(std::process::Stdio::null())
        .status();
}

pub fn run(phones: usize, backend: &Backend, instances: usize) -> LoadFigures {
    let grid = |n: usize| format!("{TOWNSHIP}005{:03}", n % GRIDS);
    let workers: Vec<(String, String)> = (0..GRIDS).map(|g| (format!("w-{g}"), grid(g))).collect();
    let center = Center::start_on(backend, instances, &workers);
    let dirs: Vec<tempfile::TempDir> = (0..phones).map(|_| tempfile::TempDir::new().expect("a folder")).collect();
    // Enrol and bootstrap every phone, each with a household of its own.
    let ready: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = dirs
            .chunks(phones.div_ceil(8))
            .enumerate()
            .map(|(chunk, dirs)| {
                let center = &center;
                let grid = &grid;
                scope.spawn(move || {
                    dirs.iter()
                        .enumerate()
                        .map(|(i, dir)| {
                            let n = chunk * phones.div_ceil(8) + i;
                            let (mut store, client) = center.phone(&format!("w-{}", n % GRIDS), dir.path());
                            let household = Sample::new(n as u64).household(&micro_grid(&grid(n)), n as u32);
                            store.create(household).expect("a household");
                            client.sync(&mut store, &NoProgress, &CancelFlag::default()).expect("bootstrap");
                            (store, client)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("enrolment")).collect()
    });
    let barrier = Arc::new(Barrier::new(phones + 1));
    let handles: Vec<_> = ready
        .into_iter()
        .map(|(mut store, client)| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                lowest_priority();
                let own = store.list_households("", &Page::first(1)).expect("list").items[0].id.clone();
                let mut household: Household = store.get(&own).expect("own household").record;
                household.notes = "今日走访".into();
                store.replace(&own, household).expect("an edit");
                barrier.wait();
                let start = Instant::now();
                let result = client.sync(&mut store, &NoProgress, &CancelFlag::default());
                (start.elapsed(), result.is_err())
            })
        })
        .collect();
    let (center_before, database_before) =
        (CpuSnapshot::threads(CENTER_THREADS), CpuSnapshot::processes(DATABASE_PROCESSES));
    let requests_before = center.request_times();
    barrier.wait();
    let start = Instant::now();
    let mut figures = LoadFigures {
        latencies: Latencies::default(),
        syncs_per_s: 0.0,
        errors: 0,
        center_cpu_ms_per_sync: 0.0,
        database_cpu_ms_per_sync: 0.0,
        center_p50_ms: None,
        center_p99_ms: None,
    };
    for handle in handles {
        let (took, failed) = handle.join().expect("a phone");
        figures.latencies.push(took);
        figures.errors += usize::from(failed);
    }
    figures.syncs_per_s = phones as f64 / start.elapsed().as_secs_f64();
    let requests = center.request_times().since(&requests_before);
    (figures.center_p50_ms, figures.center_p99_ms) = (requests.quantile_ms(0.5), requests.quantile_ms(0.99));
    let per_sync = |seconds: f64| seconds * 1e3 / phones as f64;
    figures.center_cpu_ms_per_sync = per_sync(CpuSnapshot::threads(CENTER_THREADS).seconds_since(&center_before));
    if matches!(backend, Backend::Postgres(_)) {
        figures.database_cpu_ms_per_sync =
            per_sync(CpuSnapshot::processes(DATABASE_PROCESSES).seconds_since(&database_before));
    }
    figures
}
