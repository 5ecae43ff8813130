//! Crash points, not only random kills: a phone or a center process stopped at each
//! step of a write, a push, a pull page and a center apply — before and after the
//! commit, before and after the answer — and killed there with SIGKILL, then recovered.
//! After each: every write the process reported is there, nothing is twice, the
//! interrupted step either happened whole or not at all, and the next syncs converge
//! with the center holding each change exactly once. A panic in the center answers a
//! typed 500, is counted, and the center keeps serving.

use std::time::Duration;

use gridsync_core::AreaCode;
use gridsync_core::client::ClientConfig;
use gridsync_core::sample::Sample;
use gridsync_tests::oracle::Oracle;
use gridsync_tests::workload::{Shared, Workload, two_phones_sharing};
use gridsync_tests::{Figures, GRID_ONE, Phone, TestCenter, config};

use crate::process::{Process, center_db, check_killed_phone};

fn micro() -> AreaCode {
    AreaCode::parse("area_code", &format!("{GRID_ONE}01")).unwrap()
}

/// Where a phone process can be stopped and killed, and how many changes the
/// interrupted write leaves behind (committed but not yet reported).
const PHONE_POINTS: &[(&str, u64)] = &[
    ("store.write.before_commit", 0),
    ("store.write.after_commit", 1),
    ("push.before_send", 0),
    ("push.answered_before_record", 0),
    ("pull.page.before_commit", 0),
    ("pull.page.after_commit", 0),
];

#[test]
fn a_phone_killed_at_each_crash_point_loses_nothing() {
    let mut figures = Figures::new("phone crash points");
    for (point, unreported) in PHONE_POINTS {
        let center = TestCenter::start();
        // A colleague's work, so the phone has pages to pull.
        let (phone, mut other, shared) = two_phones_sharing(&center, &micro());
        let mut work = Workload::new(898, micro(), shared.clone());
        let mut oracle = Oracle::new();
        for _ in 0..6 {
            oracle.ack(work.edit(&mut other).unwrap());
        }
        other.sync().unwrap();
        let made_before = phone.audit().made_here;
        let closed = phone.close();
        let log = closed.dir().join("phone.log");
        let (db, key) = (closed.path.to_string_lossy().into_owned(), hex::encode(closed.key));
        let households = shared.households.join(",");
        let process = Process::spawn_env(
            &["phone", &db, &key, "123", &households, &shared.incident],
            &[("GRIDSYNC_STOP_AT", point)],
            &log,
        );
        process.wait_for(&format!("stopped at {point}"));
        let lines = process.kill();
        figures.faults += 1;

        let (wrote, made, _) = check_killed_phone(&db, &closed.key, &lines, made_before, &mut figures, &mut oracle);
        assert_eq!(made, wrote.len() as u64 + unreported, "{point}: changes made against writes reported");

        // Back to life: the next syncs carry everything, once, everywhere.
        let mut phone = closed.open(config());
        for _ in 0..2 {
            phone.sync().unwrap();
            other.sync().unwrap();
        }
        assert!(phone.verify().unwrap().equal_before, "{point}");
        assert!(other.verify().unwrap().equal_before, "{point}");
        figures.audit(center.audit(), &[&phone, &other]);
        let replica = center.replica();
        figures.check(&oracle, &[("center", &replica.store), ("phone", &phone.store), ("other", &other.store)]);
        figures.cases += 1;
    }
    figures.report();
}

/// Where the center can be stopped and killed while a phone's push is in flight.
const CENTER_POINTS: &[&str] =
    &["center.apply.before_commit", "center.apply.after_commit", "center.push.before_answer"];

#[test]
fn a_center_killed_at_each_crash_point_applies_everything_once() {
    let mut figures = Figures::new("center crash points");
    for point in CENTER_POINTS {
        let dir = tempfile::TempDir::new().unwrap();
        let log = dir.path().join("center.log");
        let (db, codes, addr) = center_db(&dir, &["w-one"]);
        let code = &codes[0];
        let db_arg = db.clone();
        let center = Process::spawn(&["center", &db_arg, &addr], &log);
        center.wait_for("listening");
        let url = format!("http://{addr}");
        let impatient = ClientConfig { retries: 0, request_timeout: Duration::from_secs(30), ..config() };
        let mut phone = Phone::enrol(&url, code, impatient.clone());
        let shared = Shared::create(&mut phone, &micro(), 3);
        phone.sync().unwrap();
        center.kill();

        // The center again, stopping at the crash point; the phone pushes new work.
        let center = Process::spawn_env(&["center", &db_arg, &addr], &[("GRIDSYNC_STOP_AT", point)], &log);
        center.wait_for("listening");
        let mut work = Workload::new(897, micro(), shared);
        let acks: Vec<_> = (0..5).map(|_| work.edit(&mut phone).unwrap()).collect();
        let pushing = std::thread::spawn(move || {
            let result = phone.sync();
            (phone, result)
        });
        center.wait_for(&format!("stopped at {point}"));
        center.kill();
        let (mut phone, interrupted) = pushing.join().unwrap();
        assert!(interrupted.is_err(), "{point}: the push was in flight when the center died");
        println!("center killed at {point} during POST /v1/push: the phone saw {:?}", interrupted.err());
        figures.faults += 1;

        let center = Process::spawn(&["center", &db_arg, &addr], &log);
        center.wait_for("listening");
        phone.sync().unwrap();
        assert!(phone.verify().unwrap().equal_before, "{point}");
        center.kill();
        let reopened = gridsync_center::Center::open_url(&db).unwrap();
        figures.audit(gridsync_tests::center_audit(&reopened), &[&phone]);
        let replica = gridsync_tests::Replica::of(&reopened);
        figures.check(&Oracle::from(acks), &[("center", &replica.store), ("phone", &phone.store)]);
        figures.cases += 1;
    }
    figures.report();
}

#[test]
fn a_panicking_center_answers_a_typed_500_counts_it_and_keeps_serving() {
    let dir = tempfile::TempDir::new().unwrap();
    let (db, codes, addr) = center_db(&dir, &["w-one"]);
    let center = Process::spawn_env(
        &["center", &db, &addr],
        &[("GRIDSYNC_PANIC_AT", "center.apply.before_commit")],
        &dir.path().join("center.log"),
    );
    center.wait_for("listening");
    let mut phone = Phone::enrol(&format!("http://{addr}"), &codes[0], ClientConfig { retries: 0, ..config() });
    phone.store.create(Sample::new(5).household(&micro(), 1)).unwrap();
    let failed = phone.sync().unwrap_err();
    assert!(
        matches!(&failed, gridsync_core::Error::Network { retryable: true, message } if message.contains("center failed")),
        "{failed:?}"
    );
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    let (status, metrics) = get(addr, "/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("gridsync_refusals_total{reason=\"internal\"} 1"), "{metrics}");
    assert_eq!(get(addr, "/healthz").0, 200, "the center keeps serving");
    center.kill();
}

fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, answer)
}
