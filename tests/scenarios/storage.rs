//! The storage conformance suite: what the center promises under concurrency, written
//! once and run on every backend. `conformance!` expands each test for the embedded
//! SQLite file and for PostgreSQL (the way matrix-rust-sdk runs one store suite over
//! every store). Every other scenario runs on PostgreSQL too when the README's test
//! command runs them again with `GRIDSYNC_TEST_BACKEND=postgres`.
//!
//! Below the suite, what only PostgreSQL has: several center processes on one database,
//! the database going away and coming back, and a township moved up from its file.

use std::sync::Barrier;

use gridsync_center::RunningCenter;
use gridsync_center::limits::Rates;
use gridsync_center::relay::CountingRelay;
use gridsync_core::client::SyncClient;
use gridsync_core::sample::Sample;
use gridsync_core::sync::wire::{self, PushRequest};
use gridsync_core::{AreaCode, Page};
use gridsync_tests::pg::PrivateCluster;
use gridsync_tests::raw::{RawDevice, post, signed};
use gridsync_tests::{Backend, GRID_ONE, Phone, TestCenter, config};

macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $test() {
                    super::$test(gridsync_tests::Backend::Sqlite);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $test() {
                    if gridsync_tests::Backend::postgres_url().is_some() {
                        super::$test(gridsync_tests::Backend::Postgres);
                    }
                }
            )*
        }
    };
}

conformance!(
    one_counter_serves_one_request,
    a_batch_sent_twice_at_once_applies_once,
    concurrent_pushers_and_pullers_miss_nothing,
    staff_sign_in_lockout_sessions_and_audit,
);

fn area() -> AreaCode {
    AreaCode::parse("a", &format!("{GRID_ONE}01")).unwrap()
}

/// Runs `request` on `threads` threads released at the same instant; their answers.
fn at_once<T: Send>(threads: usize, request: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let barrier = Barrier::new(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|n| {
                let (barrier, request) = (&barrier, &request);
                scope.spawn(move || {
                    barrier.wait();
                    request(n)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Eight copies of one signed request at the same instant: the counter is taken once.
fn one_counter_serves_one_request(backend: Backend) {
    let center = TestCenter::start_on(backend, Rates::default());
    let mut phone = center.phone("w-one", &center.url());
    let device = RawDevice::of_phone(&mut phone);
    let body = wire::encode(&());
    let headers = signed(&device.key, &device.id, device.counter + 1, "/v1/digest", &body);
    let statuses = at_once(8, |_| post(center.running.addr, "/v1/digest", &headers, &body).0);
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 7, "the others are replays: {statuses:?}");
}

/// A batch whose answer was lost, sent again on a second connection while the first is
/// still being applied: applied once, and every answer given is the same. (Of two
/// requests racing, the one with the lower counter may arrive second and be refused as a
/// replay; the phone sends it again with a fresh counter and gets the same answer.) The
/// same changes in two new batches at once: stored once.
fn a_batch_sent_twice_at_once_applies_once(backend: Backend) {
    let center = TestCenter::start_on(backend, Rates::default());
    let mut phone = center.phone("w-one", &center.url());
    for n in 0..30 {
        phone.store.create(Sample::new(n).household(&area(), n as u32)).unwrap();
    }
    let changes: Vec<_> = phone.store.pending_push(100, 1 << 20).unwrap().into_iter().map(|(_, c)| c).collect();
    let author = RawDevice::of_phone(&mut phone);
    let push = |counter: u64, batch: &str| {
        let body = wire::encode(&PushRequest { batch_id: batch.into(), changes: changes.clone() });
        post(center.running.addr, "/v1/push", &signed(&author.key, &author.id, counter, "/v1/push", &body), &body)
    };
    let first = author.counter;
    let mut answers = at_once(2, |n| push(first + 1 + n as u64, "batch-1"));
    answers.push(push(first + 3, "batch-1"));
    let served: Vec<_> = answers.iter().filter(|(status, _)| *status == 200).collect();
    assert!(served.len() >= 2, "{:?}", answers.iter().map(|a| a.0).collect::<Vec<_>>());
    assert!(answers.iter().all(|(status, _)| [200, 401].contains(status)));
    assert!(served.iter().all(|answer| answer.1 == served[0].1), "a repeated batch gets the same answer");
    assert_eq!(wire::decode::<wire::PushResponse>(&served[0].1).unwrap().accepted.len(), 30);
    let again = at_once(2, |n| push(first + 4 + n as u64, &format!("batch-{}", n + 2)));
    assert!(again.iter().any(|(status, _)| *status == 200));
    assert_eq!(center.changes(), 30);
    assert_eq!(center.audit().duplicated, 0);
}

/// Six phones of one grid writing and syncing at the same time, for several rounds:
/// pulls run while other pushes commit. A pull cursor that read past a change still to
/// commit (the outbox gap) would leave a phone without it for ever, and its digest would
/// differ before any repair. Every phone ends with every household, each change once.
fn concurrent_pushers_and_pullers_miss_nothing(backend: Backend) {
    const PHONES: usize = 6;
    const ROUNDS: u32 = 8;
    let center = TestCenter::start_on(backend, Rates::default());
    let mut phones: Vec<Phone> =
        (0..PHONES).map(|n| center.phone(["w-one", "w-one-b"][n % 2], &center.url())).collect();
    std::thread::scope(|scope| {
        for (n, phone) in phones.iter_mut().enumerate() {
            scope.spawn(move || {
                for round in 0..ROUNDS {
                    let seed = (n as u64) * 1_000 + u64::from(round);
                    phone.store.create(Sample::new(seed).household(&area(), seed as u32)).unwrap();
                    phone.sync().unwrap();
                }
            });
        }
    });
    let total = PHONES * ROUNDS as usize;
    for phone in &mut phones {
        phone.sync().unwrap();
        assert!(phone.verify().unwrap().equal_before, "a phone's pulls missed a change");
        assert_eq!(phone.store.list_households("", &Page::first(500)).unwrap().items.len(), total);
    }
    assert_eq!(center.changes(), total as u64);
    assert_eq!(center.audit().duplicated, 0);
}

/// Two center processes on one PostgreSQL behind a round-robin relay: each sync of each
/// phone lands on the next process. Both serve, and every phone ends equal to the
/// center, each change once.
#[test]
fn two_center_processes_on_one_database_serve_alternating_phones() {
    let Some(url) = Backend::postgres_url() else { return };
    let dir = tempfile::TempDir::new().unwrap();
    let db = gridsync_center::storage::postgres::fresh_database(&url).unwrap();
    let codes = crate::process::set_up_center(&db, &["w-one", "w-one-b", "w-one"]);
    let log = dir.path().join("centers.log");
    let addrs: Vec<String> = (0..2).map(|_| crate::process::free_address()).collect();
    let processes: Vec<_> = addrs
        .iter()
        .map(|addr| {
            let process = crate::process::Process::spawn(&["center", &db, addr], &log);
            process.wait_for("listening");
            process
        })
        .collect();
    let relay = CountingRelay::round_robin(addrs.iter().map(|a| a.parse().unwrap()).collect()).unwrap();
    let mut phones: Vec<Phone> = codes.iter().map(|code| Phone::enrol(&relay.url(), code, config())).collect();
    for round in 0..6u32 {
        for (n, phone) in phones.iter_mut().enumerate() {
            let seed = u64::from(round) * 10 + n as u64;
            phone.store.create(Sample::new(seed).household(&area(), seed as u32)).unwrap();
            // A client of its own each time: a new connection, so the next process.
            phone.client = SyncClient::for_store(&phone.store, config()).unwrap();
            phone.sync().unwrap();
        }
    }
    for phone in &mut phones {
        phone.client = SyncClient::for_store(&phone.store, config()).unwrap();
        phone.sync().unwrap();
        assert!(phone.verify().unwrap().equal_before);
        assert_eq!(phone.store.list_households("", &Page::first(100)).unwrap().items.len(), 18);
    }
    let served = relay.connections();
    assert!(served.iter().all(|n| *n >= 9), "both processes served: {served:?}");
    for process in processes {
        process.kill();
    }
    let center = gridsync_center::Center::open_url(&db).unwrap();
    assert_eq!(gridsync_tests::center_audit(&center).duplicated, 0);
    assert_eq!(center.max_seq().unwrap(), 18);
}

/// PostgreSQL stopped in the middle of a field day: phones are told to come back later
/// (503, retryable), nothing is stored half, and once the database is back the center
/// serves again by itself, with nothing lost.
#[test]
fn the_database_going_away_is_a_retryable_answer_and_the_center_recovers() {
    if Backend::postgres_url().is_none() {
        return;
    }
    let cluster = PrivateCluster::start();
    let db = gridsync_center::storage::postgres::fresh_database(&cluster.url).unwrap();
    let center = gridsync_center::Center::open_url(&db).unwrap();
    center.set_worker("w-one", "网格员甲", &[GRID_ONE.into()]).unwrap();
    let code = center.issue_enrolment_code("w-one", 3_600_000).unwrap();
    let running = RunningCenter::serve(center, "127.0.0.1:0", None, Rates::default()).unwrap();
    let mut phone = Phone::enrol(&running.url(), &code, config());
    phone.store.create(Sample::new(1).household(&area(), 1)).unwrap();
    phone.sync().unwrap();

    cluster.stop();
    phone.store.create(Sample::new(2).household(&area(), 2)).unwrap();
    let failed = phone.sync().unwrap_err();
    assert!(matches!(failed, gridsync_core::Error::Network { retryable: true, .. }), "{failed:?}");
    let mut device = RawDevice::of_phone(&mut phone);
    assert_eq!(device.post_at(running.addr, "/v1/digest", &wire::encode(&())).0, 503);

    cluster.start_again();
    phone.sync().unwrap();
    assert!(phone.verify().unwrap().equal_before);
    let refusals = running.with(|c| c.refusals().unwrap());
    let count = |reason: &str| refusals.iter().find(|(r, _)| r == reason).map_or(0, |(_, n)| *n);
    assert!(count("unavailable") >= 1, "{refusals:?}");
    assert_eq!(count("internal"), 0, "the database's absence is not the center failing: {refusals:?}");
    assert_eq!(running.with(|c| c.max_seq().unwrap()), 2);
}

/// A township moved up from its file into a PostgreSQL that already serves another
/// township: interrupted after its first page and run again, it arrives whole (every
/// change once, equal digests), and its phone syncs on against the center on
/// PostgreSQL without enrolling again; a phone enrolled there afterwards gets the
/// township's own key, so the same person registered on both is one record.
#[test]
fn a_township_moves_up_to_postgres_and_its_phones_sync_on() {
    let Some(url) = Backend::postgres_url() else { return };
    let db = gridsync_center::storage::postgres::fresh_database(&url).unwrap();
    // Another township already there, with changes of its own.
    let neighbour = gridsync_center::Center::open_url(&db).unwrap();
    neighbour.set_worker("w-next", "邻镇网格员", &["440106013003001".into()]).unwrap();
    let neighbour = RunningCenter::serve(neighbour, "127.0.0.1:0", None, Rates::default()).unwrap();
    let code = neighbour.with(|c| c.issue_enrolment_code("w-next", 3_600_000).unwrap());
    let mut next_door = Phone::enrol(&neighbour.url(), &code, config());
    let elsewhere = AreaCode::parse("a", "44010601300300101").unwrap();
    for n in 0..5 {
        next_door.store.create(Sample::new(900 + n).household(&elsewhere, n as u32)).unwrap();
    }
    next_door.sync().unwrap();
    drop(neighbour);

    // The township on its own file: more records than one page of the copy.
    let dir = tempfile::TempDir::new().unwrap();
    let file = dir.path().join("center.db");
    let codes = crate::process::set_up_center(&file.to_string_lossy(), &["w-one", "w-one-b"]);
    let township = RunningCenter::start(&file, "127.0.0.1:0").unwrap();
    let addr = township.addr;
    let mut phone = Phone::enrol(&township.url(), &codes[0], config());
    let mut sample = Sample::new(5);
    for n in 0..230 {
        phone.store.create(sample.household(&area(), n)).unwrap();
    }
    let person = sample.person(&area(), None);
    let person_id = phone.store.create(person.clone()).unwrap();
    phone.sync().unwrap();
    let key = township.with(|c| c.township_key());
    drop(township);

    fail::cfg("migrate.after_page", "return").unwrap();
    let interrupted = gridsync_center::migrate::migrate(&file, &db);
    fail::remove("migrate.after_page");
    assert!(interrupted.is_err(), "the first run stops after a page");
    let report = gridsync_center::migrate::migrate(&file, &db).unwrap();
    assert!(report.digest_equal);
    assert_eq!((report.records, report.changes, report.devices), (231, 231, 1));
    assert!(report.offset >= 5, "sequences placed above the other township's: {report:?}");
    let again = gridsync_center::migrate::migrate(&file, &db).unwrap();
    assert_eq!((again.changes, again.offset), (231, report.offset), "running it again changes nothing");

    // The township now served from PostgreSQL, on the address its phones know.
    let center = gridsync_center::Center::open_url(&db).unwrap();
    let moved = RunningCenter::serve(center, &addr.to_string(), None, Rates::default()).unwrap();
    phone.store.create(sample.household(&area(), 999)).unwrap();
    let report = phone.sync().unwrap();
    assert_eq!(report.pushed, 1, "the same key and counter are accepted");
    assert!(phone.verify().unwrap().equal_before);
    let mut newcomer = Phone::enrol(&moved.url(), &codes[1], config());
    newcomer.sync().unwrap();
    assert!(person.id_number.is_some());
    match newcomer.store.create(person) {
        Err(gridsync_core::Error::AlreadyExists { id, .. }) => assert_eq!(id, person_id, "the township's key"),
        other => panic!("the same person is the same record: {other:?}"),
    }
    assert_ne!(moved.with(gridsync_center::Center::township_key), key, "the database's own key is another");
    assert_eq!(moved.with(|c| gridsync_tests::center_audit(c).duplicated), 0);
}

/// The console's accounts on each backend: a password signs in and opens a session
/// whose token alone finds its staff member; five wrong passwords lock the account even
/// against the right one; an expired session finds nobody; every attempt is audited,
/// never with the password.
fn staff_sign_in_lockout_sessions_and_audit(backend: Backend) {
    use gridsync_center::console::accounts::{self, Account, LOCK_AFTER, LOCKED_FOR_MS, LoginRefusal, SESSION_MS};
    use gridsync_core::Role;
    let center = TestCenter::start_on(backend, Rates::default());
    let now = 1_767_225_600_000;
    let password = "调度员的密码2026";
    let scope = [gridsync_tests::TOWNSHIP.to_owned()];
    let account = Account { id: "s-li", name: "李调度", role: Role::Dispatcher, scope: &scope, password };
    center.running.with(|c| accounts::add_staff(c, "cli", account, now)).unwrap();

    let opened = center.running.with(|c| accounts::login(c, "s-li", password, now)).unwrap();
    assert_eq!((opened.staff.role, opened.staff.name.as_str()), (Role::Dispatcher, "李调度"));
    let (staff, csrf) = center.running.with(|c| accounts::session(c, &opened.token, now + 1)).unwrap().unwrap();
    assert_eq!((staff.id.as_str(), csrf.as_str()), ("s-li", opened.csrf.as_str()));
    assert!(center.running.with(|c| accounts::session(c, "not-a-token", now)).unwrap().is_none());
    let later = now + SESSION_MS;
    assert!(center.running.with(|c| accounts::session(c, &opened.token, later)).unwrap().is_none(), "expired");

    let wrong = |at| center.running.with(|c| accounts::login(c, "s-li", "猜一猜的密码0000", at));
    for _ in 1..LOCK_AFTER {
        assert_eq!(wrong(now).unwrap_err(), LoginRefusal::WrongCredentials);
    }
    assert!(matches!(wrong(now), Err(LoginRefusal::Locked { .. })));
    let locked = center.running.with(|c| accounts::login(c, "s-li", password, now + 1_000));
    assert!(matches!(locked, Err(LoginRefusal::Locked { .. })), "the right password waits too");
    assert!(center.running.with(|c| accounts::login(c, "s-li", password, now + LOCKED_FOR_MS + 1)).is_ok());
    let nobody = center.running.with(|c| accounts::login(c, "s-nobody", password, now));
    assert_eq!(nobody.unwrap_err(), LoginRefusal::WrongCredentials, "an unknown account says the same");

    let log = center.running.with(|c| accounts::audit_log(c, 100)).unwrap();
    let actions: Vec<&str> = log.iter().rev().map(|row| row.action.as_str()).collect();
    assert_eq!(actions.first(), Some(&"staff.set"));
    assert_eq!(actions.iter().filter(|a| **a == "login.failed").count() as i64, LOCK_AFTER);
    assert!(actions.contains(&"login.locked") && actions.iter().filter(|a| **a == "login").count() == 2);
    assert!(log.iter().all(|row| !row.detail.contains(password) && !row.target.contains(password)));
}
