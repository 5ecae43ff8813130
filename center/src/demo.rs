//! `gridsync-center demo`: a field day on loopback. A center on an embedded database in a
//! temporary folder, four phones (each a real gridsync-core store in its own encrypted
//! file) enrolled over HTTP, registrations, visits, incidents through their loop,
//! overlapping edits of one household and one person, phones offline for different
//! stretches, and a report of what arrived, what conflicted, what it cost on the wire,
//! and whether every replica converged.

use std::time::Duration;

use gridsync_core::client::{self, CancelFlag, ClientConfig, NoProgress, SyncClient, SyncReport};
use gridsync_core::sample::{Sample, follow_up, with_check_character};
use gridsync_core::zh::Zh;
use gridsync_core::{
    AreaCode, Date, DbKey, Gender, Household, Incident, IncidentStatus, Kind, Page, Person, Role, Scope, Step, Store,
    VisitTarget,
};
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;

use crate::console::accounts::{Account, Staff, add_staff};
use crate::console::incidents::{StepRefusal, StepTaken, take_step};
use crate::relay::CountingRelay;
use crate::workers::{Employment, Worker};
use crate::{Center, RunningCenter};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Households each field worker registers.
    #[arg(long, default_value_t = 12)]
    households: u32,
    /// The center's database: a `postgres://` URL, or a file; by default an embedded
    /// database in a temporary folder.
    #[arg(long)]
    db: Option<String>,
    /// After the field day, keep the center and its township console running (until
    /// interrupted) and print the console's address with a demo dispatcher's login.
    #[arg(long)]
    console: bool,
}

const GRID_ONE: &str = "440106012003001";
const GRID_TWO: &str = "440106012004001";
const TOWNSHIP: &str = "440106012";

struct Phone {
    name: &'static str,
    worker: &'static str,
    store: Store,
    client: SyncClient,
    totals: SyncReport,
    syncs: u32,
    /// The phone's link to the center: every byte it sends and receives is counted here.
    link: CountingRelay,
}

impl Phone {
    fn sync(&mut self) -> Result<SyncReport, String> {
        let report = self
            .client
            .sync(&mut self.store, &NoProgress, &CancelFlag::default())
            .map_err(|e| format!("{}: {e}", self.name))?;
        self.totals.add(&report);
        self.syncs += 1;
        Ok(report)
    }
}

#[derive(Debug, Serialize)]
pub struct PhoneReport {
    pub name: String,
    // Bytes are counted on the phone's TCP connection (headers included), by a relay.
    pub worker: String,
    pub scope: Vec<String>,
    pub records: usize,
    pub conflicts: usize,
    pub syncs: u32,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub round_trips: u64,
    pub quarantined: u64,
    pub digest_equal: bool,
}

#[derive(Debug, Serialize)]
pub struct DemoReport {
    pub phones: Vec<PhoneReport>,
    /// Records at the center.
    pub records: usize,
    /// Records at the center holding conflicting concurrent values.
    pub conflicts: usize,
    /// Incidents flagged for review (conflicting concurrent steps).
    pub incidents_for_review: usize,
    /// Bytes on the phones' sockets, each way, headers included.
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub round_trips: u64,
    /// A sync when nothing changed, on one phone: bytes on its socket, both ways.
    pub idle_sync_bytes: u64,
    pub idle_sync_round_trips: u64,
    pub converged: bool,
}

pub fn run(args: &DemoArgs) -> Result<(), String> {
    let (report, mut field) = play_serving(args.households, args.db.as_deref())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
    } else {
        print_report(&report);
    }
    if !report.converged {
        return Err("replicas did not converge".into());
    }
    if args.console {
        let password = hex::encode(&random_key()[..8]);
        field.center.with(|c| add_dispatcher(c, &password))?;
        println!("console: {}/console/ user={} password={password}", field.center.url(), DISPATCHER.id);
        println!("(the demo's phones sync every 5 s and print what they see of the incidents)");
        field.keep_syncing();
    }
    Ok(())
}

/// The township's dispatcher (调度员), who takes the center's steps of the day.
static DISPATCHER: std::sync::LazyLock<Staff> = std::sync::LazyLock::new(|| Staff {
    id: "s-demo".into(),
    name: "演示调度员".into(),
    role: Role::Dispatcher,
    scope: Scope::new([TOWNSHIP.to_owned()]).expect("the demo township is a valid scope"),
});

/// Signs the dispatcher up for the console with `password`.
fn add_dispatcher(center: &Center, password: &str) -> Result<(), String> {
    let scope = DISPATCHER.scope.prefixes();
    let account = Account { id: &DISPATCHER.id, name: &DISPATCHER.name, role: DISPATCHER.role, scope, password };
    add_staff(center, "demo", account, gridsync_core::store::system_clock())
}

/// What can stop the field day: a phone's call, or a step at the center.
#[derive(Debug, thiserror::Error)]
enum DayError {
    #[error(transparent)]
    Phone(#[from] gridsync_core::Error),
    #[error("the center's step: {0}")]
    Center(#[from] StepRefusal),
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    SystemRandom::new().fill(&mut key).expect("system randomness");
    key
}

fn area(code: &str) -> AreaCode {
    AreaCode::parse("area_code", code).expect("demo area codes are valid")
}

/// Plays the field day on a center over `db` (a temporary embedded database when
/// `None`) and returns the report.
pub fn play(households: u32, db: Option<&str>) -> Result<DemoReport, String> {
    play_serving(households, db).map(|(report, _)| report)
}

/// The field day, and the center still serving (with the folder of its database).
fn play_serving(households: u32, db: Option<&str>) -> Result<(DemoReport, Field), String> {
    let dir = tempfile::TempDir::new().map_err(|e| e.to_string())?;
    let center = match db {
        Some(db) => Center::open_url(db)?,
        None => Center::open(&dir.path().join("center.db"))?,
    };
    let center = RunningCenter::serve(center, "127.0.0.1:0", None, crate::limits::Rates::default())?;
    center.with(|c| -> Result<(), String> {
        c.import_area("440106012000", "示范街道")?;
        c.import_area("440106012003", "龙潭村")?;
        c.import_area("440106012004", "石桥村")?;
        c.set_worker("w-li", "李网格", &[GRID_ONE.into()])?;
        c.set_worker("w-zhang", "张网格", &[GRID_ONE.into()])?;
        c.set_worker("w-wang", "王网格", &[GRID_TWO.into()])?;
        c.put_worker(&Worker {
            id: "w-zhou".into(),
            name: "周网格长".into(),
            role: Role::GridChief,
            employment: Employment::FullTime,
            scope: Scope::new([TOWNSHIP.to_owned()]).map_err(|e| e.to_string())?,
        })?;
        // The dispatcher works at the center all day; a console login comes with --console.
        add_dispatcher(c, &hex::encode(random_key()))
    })?;
    let config = ClientConfig {
        allow_insecure_loopback: true,
        retries: 2,
        backoff_base: Duration::from_millis(50),
        ..ClientConfig::default()
    };
    let mut phones = Vec::new();
    for (name, worker) in [("phone-A", "w-li"), ("phone-B", "w-zhang"), ("phone-C", "w-wang"), ("phone-D", "w-zhou")] {
        let code = center.with(|c| c.issue_enrolment_code(worker, 3_600_000))?;
        let mut store =
            Store::open(dir.path().join(format!("{name}.db")), DbKey::Raw(&random_key())).map_err(|e| e.to_string())?;
        let link = CountingRelay::start(center.addr).map_err(|e| e.to_string())?;
        client::enrol(&mut store, &link.url(), &code, name, None, &config)
            .map_err(|e| format!("{name} enrolment: {e}"))?;
        let client = SyncClient::for_store(&store, config.clone()).map_err(|e| e.to_string())?;
        phones.push(Phone { name, worker, store, client, totals: SyncReport::default(), syncs: 0, link });
    }
    center.with(|c| field_day(c, &mut phones, households)).map_err(|e| format!("field day: {e}"))?;

    // Evening: everyone syncs until quiet, then verifies against the center's digest.
    for _ in 0..2 {
        for phone in &mut phones {
            phone.sync()?;
        }
    }
    let mut reports = Vec::new();
    let mut converged = true;
    for phone in &mut phones {
        let verify =
            phone.client.verify(&mut phone.store, &NoProgress, &CancelFlag::default()).map_err(|e| e.to_string())?;
        phone.totals.add(&verify.sync);
        converged &= verify.equal_before && verify.equal_after;
        let scope = phone.store.scope().map(|s| s.prefixes().to_vec()).unwrap_or_default();
        reports.push(PhoneReport {
            name: phone.name.into(),
            worker: phone.worker.into(),
            records: phone.store.heads_in_area("").map_err(|e| e.to_string())?.len(),
            conflicts: count_conflicted(&phone.store, "")?,
            syncs: phone.syncs,
            bytes_up: phone.link.bytes().up,
            bytes_down: phone.link.bytes().down,
            round_trips: phone.totals.round_trips,
            quarantined: phone.totals.quarantined,
            digest_equal: verify.equal_after,
            scope,
        });
    }
    let before = phones[0].link.bytes();
    let idle = phones[0].sync()?;
    let idle_bytes = phones[0].link.bytes() - before;
    let (records, conflicts, review) = center.with(center_counts)?;
    let report = DemoReport {
        bytes_up: reports.iter().map(|p| p.bytes_up).sum(),
        bytes_down: reports.iter().map(|p| p.bytes_down).sum(),
        round_trips: reports.iter().map(|p| p.round_trips).sum(),
        phones: reports,
        records,
        conflicts,
        incidents_for_review: review,
        idle_sync_bytes: idle_bytes.up + idle_bytes.down,
        idle_sync_round_trips: idle.round_trips,
        converged,
    };
    Ok((report, Field { center, phones, _dir: dir }))
}

/// The field day's center and phones, still running.
struct Field {
    center: RunningCenter,
    phones: Vec<Phone>,
    _dir: tempfile::TempDir,
}

impl Field {
    /// Keeps every phone syncing, as phones in the field do, and prints each change of
    /// an incident's status a phone sees: whatever the console does reaches them.
    fn keep_syncing(&mut self) -> ! {
        let mut seen: Vec<std::collections::HashMap<String, IncidentStatus>> = Vec::new();
        loop {
            for (n, phone) in self.phones.iter_mut().enumerate() {
                if let Err(e) = phone.sync() {
                    eprintln!("{}: sync failed: {e}", phone.name);
                    continue;
                }
                let statuses = incident_statuses(&phone.store);
                if let Some(before) = seen.get(n) {
                    for (id, (service_no, status)) in &statuses {
                        if before.get(id) != Some(status) {
                            println!("{} ({}) sees {service_no}: {}", phone.name, phone.worker, status.zh());
                        }
                    }
                }
                let now = statuses.into_iter().map(|(id, (_, status))| (id, status)).collect();
                if n < seen.len() { seen[n] = now } else { seen.push(now) }
            }
            std::thread::sleep(Duration::from_secs(5));
        }
    }
}

/// Every incident a phone holds: its service number and status, by id.
fn incident_statuses(store: &Store) -> std::collections::HashMap<String, (String, IncidentStatus)> {
    let rows = store.list_incidents("", gridsync_core::store::IncidentFilter::All, &Page::first(500));
    rows.map(|page| page.items.into_iter().map(|row| (row.id, (row.service_no, row.status))).collect())
        .unwrap_or_default()
}

/// Records at the center, those holding conflicting values, and incidents for review,
/// read from the documents (on either storage).
fn center_counts(center: &Center) -> Result<(usize, usize, usize), String> {
    let (mut records, mut conflicts, mut review) = (0, 0, 0);
    for kind in Kind::ALL {
        center.for_each_record(kind, "", |id, stored| {
            let unreadable = |e: gridsync_core::Error| format!("record {id}: {e}");
            let doc = crate::push::load(stored).map_err(unreadable)?;
            records += 1;
            conflicts += usize::from(!doc.conflicts().map_err(unreadable)?.is_empty());
            if kind == Kind::Incident {
                review += usize::from(doc.read::<Incident>().map_err(unreadable)?.state().needs_review());
            }
            Ok(())
        })?;
    }
    Ok((records, conflicts, review))
}

fn count_conflicted(store: &Store, prefix: &str) -> Result<usize, String> {
    Ok(store.list_conflicted(prefix, &Page::first(500)).map_err(|e| e.to_string())?.items.len())
}

/// The day's work. Phones are A and B (two workers sharing grid one), C (grid two) and
/// D (the township's 网格长); the dispatcher works on the center's console.
fn field_day(center: &Center, phones: &mut [Phone], households: u32) -> Result<(), DayError> {
    let micro_one = area(&format!("{GRID_ONE}01"));
    let micro_two = area(&format!("{GRID_TWO}02"));
    let mut sample = Sample::new(2026);
    let at = |hour: i64| 1_790_000_000_000 + hour * 3_600_000;

    // Morning, all online: A and C register their grids; B takes A's work along.
    let mut first_household = String::new();
    for (index, micro) in [(0, &micro_one), (2, &micro_two)] {
        for n in 0..households {
            let household = sample.household(micro, n);
            let id = phones[index].store.create(household)?;
            if index == 0 && n == 0 {
                first_household.clone_from(&id);
            }
            for relationship in ["02", "10", "20"].iter().take(1 + (n % 3) as usize) {
                phones[index].store.create(sample.person(micro, Some((&id, relationship))))?;
            }
            phones[index].store.create(sample.visit(micro, VisitTarget::Household(id), at(8), phones[index].worker))?;
        }
    }
    for index in [0, 2, 1, 3] {
        sync(&mut phones[index])?;
    }

    // Midday, B offline: A and B edit the same household differently, and both register
    // the same newcomer (one ID number) who has no record yet.
    let mut on_a: Household = phones[0].store.get(&first_household)?.record;
    on_a.address = "龙潭村幸福路8号".into();
    on_a.notes = "户主外出务工。".into();
    phones[0].store.replace(&first_household, on_a)?;
    let mut on_b: Household = phones[1].store.get(&first_household)?.record;
    on_b.address = "龙潭村幸福路18号".into();
    on_b.tags.insert("出租屋".into());
    phones[1].store.replace(&first_household, on_b)?;
    let newcomer = newcomer(&micro_one);
    let newcomer_id = phones[0].store.create(newcomer.clone())?;
    let mut with_phone = newcomer;
    with_phone.phone = Some("13912345678".into());
    phones[1].store.create(with_phone)?;

    // C reports two incidents; the dispatcher accepts them at the center and assigns
    // them back to the grid with a deadline.
    let mut incidents = Vec::new();
    for n in 0..2 {
        let id = phones[2].store.create(sample.incident(&micro_two, n, at(10)))?;
        phones[2].store.append_follow_up(&id, follow_up(Step::Report, "w-wang", at(10)))?;
        incidents.push(id);
    }
    sync(&mut phones[2])?;
    let dispatch = |id: &str, step, deadline, at| {
        let taken = StepTaken { step, note: String::new(), deadline, supervision: None };
        take_step(center, &DISPATCHER, id, taken, at)
    };
    for id in &incidents {
        dispatch(id, Step::Accept, None, at(11))?;
        dispatch(id, Step::Assign, Some(at(48)), at(11))?;
    }
    sync(&mut phones[3])?;
    sync(&mut phones[0])?;

    // Afternoon: C starts handling the first incident; then C, offline, completes it
    // while the dispatcher escalates it: concurrent steps that conflict in either order.
    sync(&mut phones[2])?;
    phones[2].store.append_follow_up(&incidents[0], follow_up(Step::StartHandling, "w-wang", at(13)))?;
    sync(&mut phones[2])?;
    phones[2].store.append_follow_up(&incidents[0], follow_up(Step::Complete, "w-wang", at(14)))?;
    dispatch(&incidents[0], Step::Escalate, None, at(15))?;
    let mut person: Person = phones[0].store.get(&newcomer_id)?.record;
    person.occupation = Some("务农".into());
    phones[0].store.replace(&newcomer_id, person)?;
    sync(&mut phones[2])?;
    sync(&mut phones[0])?;
    // B comes back in the evening, D last.
    sync(&mut phones[1])?;
    sync(&mut phones[3])?;
    Ok(())
}

fn sync(phone: &mut Phone) -> gridsync_core::Result<()> {
    let report = phone.client.sync(&mut phone.store, &NoProgress, &CancelFlag::default())?;
    phone.totals.add(&report);
    phone.syncs += 1;
    Ok(())
}

fn newcomer(area: &AreaCode) -> Person {
    let mut person = Sample::new(7).person(area, None);
    person.name = "欧阳娜".into();
    person.gender = Gender::Female;
    person.birth_date = Date { year: 2001, month: 1, day: 1 };
    person.id_number = Some(with_check_character("44010620010101004"));
    person.person_type = gridsync_core::PersonType::Floating;
    person.phone = None;
    person
}

fn print_report(report: &DemoReport) {
    println!("gridsync field day — one center, {} phones, real HTTP on loopback\n", report.phones.len());
    println!(
        "{:<8} {:<8} {:<18} {:>7} {:>9} {:>5} {:>9} {:>9} {:>6} {:>7}",
        "phone", "worker", "scope", "records", "conflicts", "syncs", "bytes up", "bytes dn", "trips", "digest"
    );
    for p in &report.phones {
        println!(
            "{:<8} {:<8} {:<18} {:>7} {:>9} {:>5} {:>9} {:>9} {:>6} {:>7}",
            p.name,
            p.worker,
            p.scope.join(","),
            p.records,
            p.conflicts,
            p.syncs,
            p.bytes_up,
            p.bytes_down,
            p.round_trips,
            if p.digest_equal { "equal" } else { "DIFFERS" }
        );
    }
    println!();
    println!(
        "center: {} records, {} with conflicts to resolve, {} incidents flagged for review",
        report.records, report.conflicts, report.incidents_for_review
    );
    println!(
        "wire:   {} bytes up, {} bytes down on the phones' sockets (headers included), {} round trips in all",
        report.bytes_up, report.bytes_down, report.round_trips
    );
    println!(
        "idle:   a sync with nothing new costs {} round trip(s), {} bytes",
        report.idle_sync_round_trips, report.idle_sync_bytes
    );
    println!(
        "\n{}",
        if report.converged {
            "converged: every phone's digest equals the center's for its scope"
        } else {
            "NOT CONVERGED"
        }
    );
}
