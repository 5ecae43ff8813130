//! Kill -9 trials: a phone process killed at random points while it writes and syncs,
//! and a center process killed while phones push to it. After each kill the database
//! opens, every write the process reported as committed is there, nothing is applied
//! twice, and the next sync carries on. Counts: `GRIDSYNC_KILL_TRIALS`,
//! `GRIDSYNC_CENTER_KILLS`, or `GRIDSYNC_LONG=1` (tests/README.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gridsync_center::Center;
use gridsync_core::AreaCode;
use gridsync_core::client::ClientConfig;
use gridsync_core::sample::Sample;
use gridsync_tests::oracle::Oracle;
use gridsync_tests::workload::{Shared, Workload, two_phones_sharing};
use gridsync_tests::{Figures, GRID_ONE, Phone, TestCenter, assert_no_personal_data, config, env_count, personal_data};

use crate::process::{Process, center_db, check_killed_phone};

fn micro() -> AreaCode {
    AreaCode::parse("area_code", &format!("{GRID_ONE}01")).unwrap()
}

#[test]
fn a_phone_killed_while_writing_or_syncing_loses_nothing() {
    let mut figures = Figures::new("phone kill -9");
    let center = TestCenter::start();
    // Another phone of the grid edits the same records, so the killed phone pulls too.
    let (phone, mut other, shared) = two_phones_sharing(&center, &micro());
    // Seed 99: below the trials' seeds (100 and up), so no trial draws the same numbers.
    let mut other_work = Workload::new(99, micro(), shared.clone());

    // Counted, not assumed: the shared records' changes made before the trials.
    let mut made_before = phone.audit().made_here;
    let closed = phone.close();
    let log = closed.dir().join("phone.log");
    let (db, key) = (closed.path.to_string_lossy().into_owned(), hex::encode(closed.key));
    let households = shared.households.join(",");
    let mut rng = Sample::new(42);
    let mut oracle = Oracle::new();
    for trial in 0..env_count("GRIDSYNC_KILL_TRIALS", 8) {
        for _ in 0..5 {
            oracle.ack(other_work.edit(&mut other).unwrap());
        }
        other.sync().unwrap();
        let seed = (100 + trial).to_string();
        let process = Process::spawn(&["phone", &db, &key, &seed, &households, &shared.incident], &log);
        std::thread::sleep(Duration::from_millis(100 + rng.below(600)));
        let lines = process.kill();
        figures.faults += 1;
        figures.add("syncs_completed", lines.iter().filter(|l| *l == "synced").count() as u64);
        // What the dead process reported committed is there, and nothing twice.
        let (wrote, made, made_now) =
            check_killed_phone(&db, &closed.key, &lines, made_before, &mut figures, &mut oracle);
        // One change per reported write, and at most one more that committed just
        // before the kill, unreported.
        assert!(
            made >= wrote.len() as u64 && made <= wrote.len() as u64 + 1,
            "trial {trial}: {made} changes, {} writes",
            wrote.len()
        );
        made_before = made_now;
        figures.cases += 1;
    }
    // Back to life: the next syncs carry everything, once.
    let mut phone = closed.open(config());
    phone.sync().unwrap();
    other.sync().unwrap();
    phone.sync().unwrap();
    assert!(phone.verify().unwrap().equal_before && other.verify().unwrap().equal_before);
    assert_eq!(phone.store.heads_in_area("").unwrap(), other.store.heads_in_area("").unwrap());
    figures.audit(center.audit(), &[&phone, &other]);
    let replica = center.replica();
    figures.check(&oracle, &[("center", &replica.store), ("phone", &phone.store), ("other", &other.store)]);
    // Every name, ID number and phone of the first persons (after a thousand trials the
    // log is tens of megabytes: a sample keeps the scan bounded).
    let sample: Vec<String> = personal_data(&phone.store).into_iter().take(90).collect();
    assert_no_personal_data(&std::fs::read_to_string(&log).unwrap(), &sample);
    figures.report();
}

#[test]
fn a_center_killed_while_applying_loses_nothing() {
    let mut figures = Figures::new("center kill -9");
    let dir = tempfile::TempDir::new().unwrap();
    let log = dir.path().join("center.log");
    let (db, codes, addr) = center_db(&dir, &["w-one", "w-one-b", "w-one-b"]);
    let start = || {
        let process = Process::spawn(&["center", &db, &addr], &log);
        process.wait_for("listening");
        process
    };
    let mut center = start();
    let url = format!("http://{addr}");
    // No retries: a sync that meets the dead center fails, and the next one resumes.
    let impatient = ClientConfig { retries: 0, ..config() };
    let mut phones: Vec<Phone> = codes.iter().map(|code| Phone::enrol(&url, code, impatient.clone())).collect();
    let shared = Shared::create(&mut phones[0], &micro(), 2);
    for phone in &mut phones {
        phone.sync().unwrap();
    }

    // Phones edit and sync without pause while the center is killed and restarted.
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = phones
        .into_iter()
        .enumerate()
        .map(|(n, mut phone)| {
            let (stop, mut work) = (stop.clone(), Workload::new(700 + n as u64, micro(), shared.clone()));
            std::thread::spawn(move || {
                let (mut failed, mut acks) = (0u64, Vec::new());
                while !stop.load(Ordering::SeqCst) {
                    for _ in 0..4 {
                        acks.push(work.edit(&mut phone).unwrap());
                    }
                    failed += u64::from(phone.sync().is_err());
                }
                (phone, failed, acks)
            })
        })
        .collect();
    let mut rng = Sample::new(43);
    for _ in 0..env_count("GRIDSYNC_CENTER_KILLS", 5) {
        std::thread::sleep(Duration::from_millis(200 + rng.below(800)));
        center.kill();
        figures.faults += 1;
        center = start();
        figures.cases += 1;
    }
    stop.store(true, Ordering::SeqCst);
    let mut phones: Vec<Phone> = Vec::new();
    let mut oracle = Oracle::new();
    for worker in workers {
        let (phone, failed, acks) = worker.join().unwrap();
        figures.add("failed_syncs", failed);
        oracle.extend(acks);
        phones.push(phone);
    }
    for _ in 0..2 {
        for phone in &mut phones {
            phone.sync().unwrap();
        }
    }
    for phone in &mut phones {
        assert!(phone.verify().unwrap().equal_before);
    }
    center.kill();
    let reopened = Center::open_url(&db).unwrap();
    figures.audit(gridsync_tests::center_audit(&reopened), &phones.iter().collect::<Vec<_>>());
    let replica = gridsync_tests::Replica::of(&reopened);
    let mut replicas = vec![("center", &replica.store)];
    replicas.extend(phones.iter().map(|p| ("phone", &p.store)));
    figures.check(&oracle, &replicas);
    let logs = std::fs::read_to_string(&log).unwrap();
    figures.note("center_log_lines", logs.lines().count());
    assert_no_personal_data(&logs, &personal_data(&phones[0].store));
    figures.report();
}

/// A large import killed with SIGKILL at random points: each batch is in the store whole
/// or not at all, and every batch the process reported committed is there.
#[test]
fn an_import_killed_midway_keeps_whole_batches_only() {
    const ROWS: u64 = 300;
    let mut figures = Figures::new("import kill -9");
    let dir = tempfile::TempDir::new().unwrap();
    let db = dir.path().join("phone.db").to_string_lossy().into_owned();
    let key = gridsync_tests::random_key();
    let log = dir.path().join("import.log");
    let mut rng = Sample::new(43);
    let mut held = 0;
    for trial in 0..env_count("GRIDSYNC_KILL_TRIALS", 8) {
        let process = Process::spawn(&["import", &db, &hex::encode(key), &ROWS.to_string()], &log);
        std::thread::sleep(Duration::from_millis(200 + rng.below(800)));
        let lines = process.kill();
        figures.faults += 1;
        // The process prints the store's total after each batch.
        let reported: u64 = lines
            .iter()
            .filter_map(|l| l.strip_prefix("imported "))
            .filter_map(|n| n.parse().ok())
            .max()
            .unwrap_or(held);
        let store = gridsync_core::Store::open(&db, gridsync_core::DbKey::Raw(&key)).unwrap();
        let households = store.heads_in_area("").unwrap().len() as u64;
        let audit = store.change_audit().unwrap();
        drop(store);
        assert_eq!(households % ROWS, 0, "trial {trial}: {households} households is not whole batches");
        // Every batch reported, and at most one more that committed just before the kill.
        assert!(
            households >= reported && households <= reported + ROWS,
            "trial {trial}: {households} households, {held} before, {reported} reported"
        );
        assert_eq!(audit.made_here, households, "one change a household, none twice");
        figures.count_loss(0, audit.duplicated);
        figures.add("households", households - held);
        held = households;
        figures.cases += 1;
    }
    figures.report();
}
