//! gridsync-bench: gridsync (C) beside a plain-SQLite floor (A) and naive automerge (B),
//! on the same seeded data, in one run. Prints a markdown table (or JSON with `--json`)
//! with C's value, C/A, C/B and the goal for every figure. `--quick` runs small sizes in
//! under two minutes (the README test command runs it so the benchmark never rots); the
//! full run is recorded in docs/performance.md.

mod alone;
mod arms;
mod center_load;
mod data;
mod measure;
mod phone;
mod photos;
mod report;
mod sync;

use std::time::Duration;

use clap::Parser;
use gridsync_core::store::RemoteChange;
use gridsync_core::{DbKey, Store};

use arms::Arm;
use arms::gridsync::Gridsync;
use arms::naive::Naive;
use arms::plain::Plain;
use data::Dataset;
use measure::{LINKS, peak_memory_mb, timed};
use phone::{Budget, PhoneFigures, apply_rate};
use report::{Goal, Report};
use sync::{EDITS, SyncFigures};

#[derive(Debug, Parser)]
#[command(about = "gridsync beside plain SQLite and naive automerge, on the same data")]
struct Args {
    /// Small sizes and short budgets: under two minutes, for the test command.
    #[arg(long)]
    quick: bool,
    /// Print the figures as JSON instead of a markdown table.
    #[arg(long)]
    json: bool,
    /// Also run 100,000 records.
    #[arg(long)]
    with_100k: bool,
    /// Run only the phone-side and sync scenarios at this many records.
    #[arg(long)]
    only_size: Option<usize>,
    /// Run only the center under this many phones syncing at once (on SQLite, and on
    /// PostgreSQL with one and two centers when `GRIDSYNC_PG_URL` is set).
    #[arg(long)]
    phones: Option<usize>,
    /// Internal: run one arm's phone scenarios at `--size` and print the peak memory.
    #[arg(long, hide = true, value_parser = ["A", "B", "C"])]
    memory_probe: Option<String>,
    #[arg(long, hide = true, default_value_t = 1_000)]
    size: usize,
    /// Internal: the probe runs the scenarios with the run's own budget.
    #[arg(long, hide = true)]
    full_budget: bool,
    /// Only the import in one transaction at `--size` records, for a profiler
    /// (`perf record -- gridsync-bench --import-only --size 10000`).
    #[arg(long, hide = true)]
    import_only: bool,
    /// Only applying, in pages of 500, the changes of `--size` records imported on
    /// another phone (what a fresh phone's first sync does), for a profiler.
    #[arg(long, hide = true)]
    apply_only: bool,
    /// Only single-field edits of households after an import of `--size` records, for
    /// a profiler: prints the p50 and p99 of 2,000 committed edits.
    #[arg(long, hide = true)]
    edit_only: bool,
    /// Only a fresh phone's first sync of a scope of `--size` persons (as in the full
    /// run), once they reached the center.
    #[arg(long, hide = true)]
    first_sync_only: bool,
    /// Only the sync with nothing new, after `--size` records reached the center, for a
    /// profiler or a before/after figure.
    #[arg(long, hide = true)]
    idle_sync_only: bool,
}

const TOWNSHIP_KEY: &[u8] = b"township-bench-secret";

fn main() {
    let args = Args::parse();
    if let Some(arm) = &args.memory_probe {
        let data = Dataset::generate(args.size, args.size as u64);
        let dir = tempfile::TempDir::new().expect("a temporary folder");
        let budget = if args.full_budget { full_budget() } else { quick_budget() };
        phone::run(open_arm(arm, dir.path()).as_mut(), &data, budget);
        // No figure is better than a made-up one: a probe that cannot read its peak fails.
        println!("{}", peak_memory_mb().expect("VmHWM from /proc/self/status"));
        return;
    }
    let alone = [
        (args.import_only, alone::import as fn(usize)),
        (args.apply_only, alone::apply),
        (args.edit_only, alone::edit),
        (args.first_sync_only, alone::first_sync),
        (args.idle_sync_only, alone::idle_sync),
    ];
    if let Some((_, run)) = alone.iter().find(|(asked, _)| *asked) {
        run(args.size);
        return;
    }
    let mut report = Report { machine: machine(), mode: if args.quick { "quick" } else { "full" }, figures: vec![] };
    if let Some(size) = args.only_size {
        at_size(&mut report, size, full_budget());
        println!("{}", report.markdown());
        return;
    }
    if let Some(phones) = args.phones {
        for (backend, instances) in backends() {
            eprintln!("{phones} phones at once, {}…", setup_label(&backend, instances));
            center_under_load(&mut report, phones, &backend, instances);
        }
        println!("{}", report.markdown());
        return;
    }
    let mut sizes = if args.quick { vec![1_000] } else { vec![1_000, 10_000, 50_000] };
    if args.with_100k {
        sizes.push(100_000);
    }
    let budget = if args.quick { quick_budget() } else { full_budget() };
    for size in sizes {
        eprintln!("{size} records…");
        at_size(&mut report, size, budget);
    }
    eprintln!("a camera photo…");
    photo_figures(&mut report);
    let persons = if args.quick { 1_000 } else { 20_000 };
    eprintln!("first sync of {persons} persons…");
    first_sync(&mut report, persons);
    for phones in if args.quick { vec![20, 50] } else { vec![50, 200, 1_000] } {
        for (backend, instances) in backends() {
            eprintln!("{phones} phones at once, {}…", setup_label(&backend, instances));
            center_under_load(&mut report, phones, &backend, instances);
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).expect("JSON"));
    } else {
        println!("{}", report.markdown());
    }
}

fn full_budget() -> Budget {
    Budget { per_scenario: Duration::from_secs(5), max_runs: 1_000, min_runs: 10 }
}

fn quick_budget() -> Budget {
    Budget { per_scenario: Duration::from_millis(300), max_runs: 100, min_runs: 3 }
}

fn open_arm(arm: &str, dir: &std::path::Path) -> Box<dyn Arm> {
    match arm {
        "A" => Box::new(Plain::open(&dir.join("a.db"))),
        "B" => Box::new(Naive::open(&dir.join("b.db"))),
        _ => Box::new(Gridsync::new(gridsync_store(&dir.join("c.db")))),
    }
}

pub(crate) fn gridsync_store(path: &std::path::Path) -> Store {
    let mut store = Store::open(path, DbKey::Raw(&arms::KEY)).expect("a store");
    store.set_worker("w-bench").expect("worker");
    store.set_township_key(TOWNSHIP_KEY).expect("township key");
    store
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores, {} {}", std::env::consts::OS, std::env::consts::ARCH)
}

fn size_label(size: usize) -> String {
    if size >= 1_000 { format!("{}k", size / 1_000) } else { size.to_string() }
}

fn at_size(report: &mut Report, size: usize, budget: Budget) {
    let data = Dataset::generate(size, size as u64);
    let label = size_label(size);
    let dir = tempfile::TempDir::new().expect("a temporary folder");
    let mut plain = Plain::open(&dir.path().join("a.db"));
    let mut naive = Naive::open(&dir.path().join("b.db"));
    let mut grid = Gridsync::new(gridsync_store(&dir.path().join("c.db")));
    let a = phone::run(&mut plain, &data, budget);
    let b = phone::run(&mut naive, &data, budget);
    let c = phone::run(&mut grid, &data, budget);
    phone_figures(report, &label, [&a, &b, &c]);

    // A village's register imported in one transaction, into fresh stores.
    let records = (data.households.len() + data.persons.len()) as f64;
    let import = |arm: &mut dyn Arm| records / timed(|| arm.import_register(&data)).1.as_secs_f64();
    let imports = (
        import(&mut Plain::open(&dir.path().join("a3.db"))),
        import(&mut Naive::open(&dir.path().join("b3.db"))),
        import(&mut Gridsync::new(gridsync_store(&dir.path().join("c3.db")))),
    );
    report.add(
        "import households and persons, one transaction",
        &label,
        "records/s",
        (Some(imports.0), Some(imports.1), imports.2),
        Some(Goal::AtLeast(10_000.0)),
    );

    // Applying incoming changes: each arm's own kind of change, from a replica holding
    // everything above.
    let rows = plain.rows();
    let mut plain_copy = Plain::open(&dir.path().join("a2.db"));
    let a_rate = apply_rate(rows.len(), || plain_copy.apply_rows(&rows));
    let incoming: Vec<(String, String, String, Vec<Vec<u8>>)> = naive
        .documents()
        .into_iter()
        .map(|(id, kind, area, bytes)| {
            let doc = automerge::Automerge::load(&bytes).expect("a document");
            (id, kind, area, doc.get_changes(&[]).iter().map(|c| c.raw_bytes().to_vec()).collect())
        })
        .collect();
    let b_count = incoming.iter().map(|(.., changes)| changes.len()).sum();
    let mut naive_copy = Naive::open(&dir.path().join("b2.db"));
    let b_rate = apply_rate(b_count, || naive_copy.apply_changes(&incoming));
    let changes: Vec<RemoteChange> =
        grid.store.changes_after(0, u32::MAX).expect("changes").into_iter().map(|(_, c)| c).collect();
    let mut grid_copy = gridsync_store(&dir.path().join("c2.db"));
    let c_rate = apply_rate(changes.len(), || {
        for page in changes.chunks(500) {
            grid_copy.apply_remote(page).expect("apply");
        }
    });
    report.add(
        "apply incoming changes (pages of 500)",
        &label,
        "changes/s",
        (Some(a_rate), Some(b_rate), c_rate),
        Some(Goal::AtLeast(20_000.0)),
    );

    let memory = |arm: &str| -> f64 {
        let mut probe = std::process::Command::new(std::env::current_exe().expect("this program"));
        probe.args(["--memory-probe", arm, "--size", &size.to_string()]);
        if budget.per_scenario == full_budget().per_scenario {
            probe.arg("--full-budget");
        }
        let output = probe.output().expect("a memory probe");
        assert!(output.status.success(), "the {arm} memory probe failed: {}", String::from_utf8_lossy(&output.stderr));
        let text = String::from_utf8_lossy(&output.stdout);
        text.trim().parse().unwrap_or_else(|_| panic!("the {arm} memory probe printed {text:?}, not a figure"))
    };
    report.add(
        "phone peak memory (VmHWM)",
        &label,
        "MB",
        (Some(memory("A")), Some(memory("B")), memory("C")),
        Some(Goal::AtMost(100.0)),
    );

    let c_sync = sync::gridsync(&data);
    let b_sync = sync::naive(naive.documents());
    let a_sync = sync::floor(&rows, data.households.len());
    sync_figures(report, &label, [&a_sync, &b_sync, &c_sync]);
}

fn phone_figures(report: &mut Report, label: &str, [a, b, c]: [&PhoneFigures; 3]) {
    let each = |f: &dyn Fn(&PhoneFigures) -> f64| (Some(f(a)), Some(f(b)), f(c));
    report.add(
        "bulk create, each record committed",
        label,
        "records/s",
        each(&|p| p.create_per_s),
        Some(Goal::AtLeast(10_000.0)),
    );
    report.add(
        "single-field edit, committed, p50",
        label,
        "ms",
        each(&|p| p.edit.quantile_ms(0.5)),
        Some(Goal::AtMost(0.05)),
    );
    report.add("single-field edit, committed, p99", label, "ms", each(&|p| p.edit.quantile_ms(0.99)), None);
    report.add(
        "list one grid's households (100), p99",
        label,
        "ms",
        each(&|p| p.list_grid.quantile_ms(0.99)),
        Some(Goal::AtMost(5.0)),
    );
    report.add("household members, p99", label, "ms", each(&|p| p.members.quantile_ms(0.99)), None);
    report.add("incidents by status (100), p99", label, "ms", each(&|p| p.incidents.quantile_ms(0.99)), None);
    report.add("person search, p50", label, "ms", each(&|p| p.search.quantile_ms(0.5)), None);
    report.add("person search, p99", label, "ms", each(&|p| p.search.quantile_ms(0.99)), Some(Goal::AtMost(20.0)));
    for (kind, _) in &c.search_by_kind {
        let of = |p: &PhoneFigures| {
            p.search_by_kind.iter().find(|(k, _)| k == kind).map_or(0.0, |(_, l)| l.quantile_ms(0.99))
        };
        report.add(format!("person search by {kind}, p99"), label, "ms", each(&of), None);
    }
}

fn sync_figures(report: &mut Report, label: &str, [a, b, c]: [&SyncFigures; 3]) {
    for (index, name) in sync::SCENARIOS.iter().enumerate() {
        let of = |s: &SyncFigures| s.transfers()[index];
        let bytes = |s: &SyncFigures| of(s).bytes() as f64;
        let idle = index == 1;
        report.add(
            format!("{name}: bytes"),
            label,
            "B",
            (Some(bytes(a)), Some(bytes(b)), bytes(c)),
            idle.then_some(Goal::AtMost(1_000.0)),
        );
        let trips = |s: &SyncFigures| of(s).round_trips as f64;
        report.add(
            format!("{name}: round trips"),
            label,
            "",
            (Some(trips(a)), Some(trips(b)), trips(c)),
            idle.then_some(Goal::AtMost(1.0)),
        );
        if index == 3 {
            let per_edit = |s: &SyncFigures| of(s).bytes() as f64 / EDITS as f64;
            report.add(
                format!("{name}: bytes per edit"),
                label,
                "B",
                (Some(per_edit(a)), Some(per_edit(b)), per_edit(c)),
                Some(Goal::AtMost(200.0)),
            );
        }
        for link in &LINKS {
            let secs = |s: &SyncFigures| of(s).seconds_on(link);
            report.add(
                format!("{name}: time on {}", link.name),
                label,
                "s",
                (Some(secs(a)), Some(secs(b)), secs(c)),
                None,
            );
        }
        report.add(format!("{name}: loopback wall time"), label, "s", (None, None, c.wall[index].as_secs_f64()), None);
    }
}

fn photo_figures(report: &mut Report) {
    let dir = tempfile::TempDir::new().expect("a temporary folder");
    let p = photos::run(dir.path());
    let label = format!("{:.1} MB camera photo", p.camera_bytes as f64 / 1e6);
    let name = "photo";
    report.add(
        format!("{name}: bytes kept (photo + thumbnail)"),
        &label,
        "B",
        (Some(p.camera_bytes as f64), None, p.stored_bytes as f64),
        Some(Goal::AtMost(400_000.0)),
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    report.add(
        format!("{name}: attach (decode, re-encode, store), committed"),
        &label,
        "ms",
        (Some(ms(p.plain_insert)), None, ms(p.attach)),
        None,
    );
    report.add(
        format!("{name}: upload bytes"),
        &label,
        "B",
        (Some(p.plain_upload.bytes() as f64), None, p.upload.bytes() as f64),
        None,
    );
    for link in &LINKS {
        report.add(
            format!("{name}: upload time on {}", link.name),
            &label,
            "s",
            (Some(p.plain_upload.seconds_on(link)), None, p.upload.seconds_on(link)),
            None,
        );
    }
    report.add(
        format!("{name}: bytes sent again after the link is cut at 50 %"),
        &label,
        "B",
        (None, None, p.resent_after_cut as f64),
        Some(Goal::AtMost(f64::from(gridsync_core::client::ClientConfig::default().blob_chunk_bytes) + 4_096.0)),
    );
    report.add(
        "one record edit reaches the center, no photo waiting",
        &label,
        "ms",
        (None, None, ms(p.record_alone)),
        None,
    );
    report.add(
        format!("one record edit reaches the center, {} photos waiting", photos::QUEUED),
        &label,
        "ms",
        (None, None, ms(p.record_with_photos_queued)),
        Some(Goal::AtMost(ms(p.record_alone) * 1.5 + 5.0)),
    );
}

/// A township's data holding at least `persons` persons.
pub(crate) fn scope_of_persons(persons: usize) -> Dataset {
    let mut data = Dataset::generate(persons * 10 / 7, 20_000);
    while data.persons.len() < persons {
        data = Dataset::generate(data.len() + persons / 10, 20_000);
    }
    data
}

fn first_sync(report: &mut Report, persons: usize) {
    let data = scope_of_persons(persons);
    let label = format!("{} persons", size_label(data.persons.len()));
    let dir = tempfile::TempDir::new().expect("a temporary folder");
    let mut plain = Plain::open(&dir.path().join("a.db"));
    plain.create_all(&data);
    let mut naive = Naive::open(&dir.path().join("b.db"));
    naive.create_all(&data);
    let a = sync::floor(&plain.rows(), data.households.len()).first_sync;
    let b = sync::naive(naive.documents()).first_sync;
    let c_figures = sync::gridsync(&data);
    let c = c_figures.first_sync;
    let name = "first sync of a fresh phone";
    report.add(
        format!("{name}: bytes"),
        &label,
        "B",
        (Some(a.bytes() as f64), Some(b.bytes() as f64), c.bytes() as f64),
        Some(Goal::AtMost(5e6)),
    );
    report.add(
        format!("{name}: round trips"),
        &label,
        "",
        (Some(a.round_trips as f64), Some(b.round_trips as f64), c.round_trips as f64),
        None,
    );
    for link in &LINKS {
        let goal = (link.name == "Regular 2G").then_some(Goal::AtMost(180.0));
        report.add(
            format!("{name}: time on {}", link.name),
            &label,
            "s",
            (Some(a.seconds_on(link)), Some(b.seconds_on(link)), c.seconds_on(link)),
            goal,
        );
    }
    report.add(format!("{name}: loopback wall time"), &label, "s", (None, None, c_figures.wall[4].as_secs_f64()), None);
    let cpu = c_figures.first_sync_phone_cpu;
    report.add(format!("{name}: the phone's CPU"), &label, "s", (None, None, cpu), None);
    report.add(
        format!("{name}: on a phone {PHONE_SLOWDOWN}× slower, Regular 2G (CPU × {PHONE_SLOWDOWN} + the link)"),
        &label,
        "s",
        (None, None, on_a_phone(c, cpu)),
        Some(Goal::AtMost(180.0)),
    );
}

/// How much slower per core a cheap Android phone is than this machine (the upper end
/// of the 3–5× docs/performance.md states).
pub(crate) const PHONE_SLOWDOWN: f64 = 4.0;

/// A sync's time on a cheap phone on Regular 2G: its CPU here, slowed down, plus the
/// link's time for its bytes and round trips (the two do not overlap: the client
/// applies a page before it asks for the next).
pub(crate) fn on_a_phone(transfer: measure::Transfer, phone_cpu_seconds: f64) -> f64 {
    let regular_2g = LINKS.iter().find(|l| l.name == "Regular 2G").expect("the Regular 2G link");
    transfer.seconds_on(regular_2g) + PHONE_SLOWDOWN * phone_cpu_seconds
}

/// The centers the load runs on: the embedded file, and with `GRIDSYNC_PG_URL` (see
/// `scripts/with-postgres`) PostgreSQL with one center and with two.
fn backends() -> Vec<(sync::Backend, usize)> {
    let mut out = vec![(sync::Backend::Sqlite, 1)];
    if let Ok(url) = std::env::var("GRIDSYNC_PG_URL") {
        out.push((sync::Backend::Postgres(url.clone()), 1));
        out.push((sync::Backend::Postgres(url), 2));
    }
    out
}

fn setup_label(backend: &sync::Backend, instances: usize) -> String {
    let name = match backend {
        sync::Backend::Sqlite => "SQLite",
        sync::Backend::Postgres(_) => "PostgreSQL",
    };
    if instances == 1 { name.to_owned() } else { format!("{name}, {instances} centers") }
}

fn center_under_load(report: &mut Report, phones: usize, backend: &sync::Backend, instances: usize) {
    let figures = center_load::run(phones, backend, instances);
    let label = format!("{phones} phones, {}", setup_label(backend, instances));
    let name = "center: incremental syncs at once";
    report.add(format!("{name}, p50"), &label, "ms", (None, None, figures.latencies.quantile_ms(0.5)), None);
    report.add(
        format!("{name}, p99"),
        &label,
        "ms",
        (None, None, figures.latencies.quantile_ms(0.99)),
        Some(Goal::AtMost(1_000.0)),
    );
    report.add(format!("{name}, throughput"), &label, "syncs/s", (None, None, figures.syncs_per_s), None);
    let bound = |ms: Option<u64>| ms.map_or(f64::INFINITY, |ms| ms as f64);
    let center_name = "center: its own time per request (phones at nice 19), at most";
    report.add(format!("{center_name}, p50"), &label, "ms", (None, None, bound(figures.center_p50_ms)), None);
    report.add(
        format!("{center_name}, p99"),
        &label,
        "ms",
        (None, None, bound(figures.center_p99_ms)),
        Some(Goal::AtMost(1_000.0)),
    );
    report.add(format!("{name}, errors"), &label, "", (None, None, figures.errors as f64), Some(Goal::AtMost(0.0)));
    report.add(
        format!("{name}, center CPU per sync"),
        &label,
        "ms",
        (None, None, figures.center_cpu_ms_per_sync),
        Some(Goal::AtMost(1.0)),
    );
    if matches!(backend, sync::Backend::Postgres(_)) {
        report.add(
            format!("{name}, database CPU per sync"),
            &label,
            "ms",
            (None, None, figures.database_cpu_ms_per_sync),
            None,
        );
    }
}
