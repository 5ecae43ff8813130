//! Sync end to end: enrolment, push, pull, paging, resume after a dropped connection,
//! repeated batches, scope filtering and changes of scope, fresh phones, digest repair.

use std::time::{Duration, Instant};

use gridsync_core::client::{CancelFlag, ClientConfig, NoProgress, Progress, ProgressListener};
use gridsync_core::sample::{Sample, follow_up};
use gridsync_core::sync::wire::{Cursor, PushResponse};
use gridsync_core::{AreaCode, Error, Household, Incident, IncidentStatus, Page, Step, VisitTarget};
use gridsync_tests::proxy::FaultProxy;
use gridsync_tests::{GRID_ONE, GRID_TWO, TestCenter, config};

fn micro(grid: &str) -> AreaCode {
    AreaCode::parse("area_code", &format!("{grid}01")).unwrap()
}

/// Registers `n` households with two members each on `phone`'s grid.
fn register(phone: &mut gridsync_tests::Phone, grid: &str, n: u32, seed: u64) -> Vec<String> {
    let mut sample = Sample::new(seed);
    let area = micro(grid);
    (0..n)
        .map(|i| {
            let id = phone.store.create(sample.household(&area, i)).unwrap();
            for rel in ["02", "10"] {
                phone.store.create(sample.person(&area, Some((&id, rel)))).unwrap();
            }
            id
        })
        .collect()
}

#[test]
fn enrolled_phones_push_and_pull_through_the_center() {
    let center = TestCenter::start();
    let mut a = center.phone("w-one", &center.url());
    let mut b = center.phone("w-one-b", &center.url());
    let households = register(&mut a, GRID_ONE, 5, 1);
    assert_eq!(a.store.sync_status().unwrap().pending_changes, 15);

    let pushed = a.sync().unwrap();
    assert_eq!(pushed.pushed, 15);
    assert_eq!(a.store.sync_status().unwrap().pending_changes, 0);
    assert!(a.store.sync_status().unwrap().last_success.is_some());
    assert_eq!(center.changes(), 15);

    let pulled = b.sync().unwrap();
    assert_eq!(b.records(), 15);
    assert!(pulled.pulled_changes + pulled.pulled_snapshots >= 15);
    assert_eq!(b.store.household_members(&households[0]).unwrap().len(), 2);
    // A phone does not get its own changes back.
    assert_eq!(a.sync().unwrap().pulled_changes, 0);

    // An edit on B reaches A.
    let mut household: Household = b.store.get(&households[1]).unwrap().record;
    household.address = "石桥头9号".into();
    b.store.replace(&households[1], household.clone()).unwrap();
    b.sync().unwrap();
    a.sync().unwrap();
    assert_eq!(a.store.get::<Household>(&households[1]).unwrap().record, household);
    assert!(a.verify().unwrap().equal_before && b.verify().unwrap().equal_before);
}

#[test]
fn a_sync_with_nothing_new_is_one_small_round_trip() {
    let center = TestCenter::start();
    // The phone's link, counting every byte on its socket.
    let link = gridsync_center::relay::CountingRelay::start(center.running.addr).unwrap();
    let mut a = center.phone("w-one", &link.url());
    register(&mut a, GRID_ONE, 30, 2);
    a.sync().unwrap();
    a.sync().unwrap();
    let before = link.bytes();
    let idle = a.sync().unwrap();
    let socket = link.bytes() - before;
    assert_eq!(idle.round_trips, 1, "{idle:?}");
    assert!(socket.up + socket.down < 1_000, "{socket:?}");
    assert!(socket.up > idle.bytes_up && socket.down > idle.bytes_down, "headers are on the socket too");
    println!(
        "figures idle sync: round_trips={} socket_bytes_up={} socket_bytes_down={} body_bytes_up={} body_bytes_down={}",
        idle.round_trips, socket.up, socket.down, idle.bytes_up, idle.bytes_down
    );
}

#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<Progress>>);

impl ProgressListener for Recorder {
    fn on_progress(&self, progress: &Progress) {
        self.0.lock().unwrap().push(progress.clone());
    }
}

#[test]
fn small_pages_walk_everything_and_report_progress() {
    let center = TestCenter::start();
    let mut a = center.phone("w-one", &center.url());
    register(&mut a, GRID_ONE, 20, 3);
    a.sync().unwrap();
    for n in 0..20 {
        let id = a.store.list_households("", &Page::first(100)).unwrap().items[n].id.clone();
        let mut h: Household = a.store.get(&id).unwrap().record;
        h.notes = format!("第{n}次走访");
        a.store.replace(&id, h).unwrap();
    }
    a.sync().unwrap();

    // A fresh phone gets compacted documents, page by page.
    let paged = ClientConfig { pull_page_items: 7, pull_page_bytes: 2_048, push_batch_changes: 5, ..config() };
    let mut b = gridsync_tests::Phone::enrol(&center.url(), &center.code("w-one-b"), paged.clone());
    let recorder = Recorder::default();
    let report = b.client.sync(&mut b.store, &recorder, &CancelFlag::default()).unwrap();
    assert_eq!(report.pulled_snapshots, 60, "{report:?}");
    assert_eq!(report.pulled_changes, 0, "a fresh phone gets documents, not histories");
    assert!(report.round_trips >= 9, "{report:?}");
    assert!(b.verify().unwrap().equal_before);
    {
        let progress = recorder.0.lock().unwrap();
        let last = progress.last().unwrap();
        assert_eq!(Some(last.items_done), last.items_total);
        assert!(progress.windows(2).all(|w| w[0].items_done <= w[1].items_done));
    }

    // Small push batches too.
    register(&mut b, GRID_ONE, 4, 4);
    let report = b.client.sync(&mut b.store, &recorder, &CancelFlag::default()).unwrap();
    assert_eq!(report.pushed, 12);
    assert!(report.round_trips >= 4);
}

#[test]
fn a_dropped_connection_loses_nothing_and_duplicates_nothing() {
    let center = TestCenter::start();
    let proxy = FaultProxy::start(center.running.addr);
    let mut a = center.phone("w-one", &proxy.url());
    register(&mut a, GRID_ONE, 10, 5);

    // The center applies the push, but the answer never arrives; the client retries.
    proxy.faults.drop_responses.store(1, std::sync::atomic::Ordering::SeqCst);
    let report = a.sync().unwrap();
    assert_eq!(report.pushed, 30);
    assert_eq!(center.changes(), 30, "nothing applied twice");

    // Now with no retries at all: the sync fails, and the next one carries on.
    let no_retry = ClientConfig { retries: 0, ..config() };
    let mut a = a.restart(no_retry.clone());
    register(&mut a, GRID_ONE, 3, 6);
    proxy.faults.drop_responses.store(1, std::sync::atomic::Ordering::SeqCst);
    let err = a.sync().unwrap_err();
    assert!(matches!(err, Error::Network { retryable: true, .. }), "{err}");
    assert_eq!(a.store.sync_status().unwrap().pending_changes, 9, "still pending: the answer was lost");
    assert!(a.store.sync_status().unwrap().last_error.is_some());
    proxy.faults.cut_requests.store(1, std::sync::atomic::Ordering::SeqCst);
    assert!(a.sync().is_err());
    let report = a.sync().unwrap();
    assert_eq!(report.pushed, 9);
    assert_eq!(center.changes(), 39);
    assert_eq!(a.store.sync_status().unwrap().pending_changes, 0);
    assert!(proxy.faults.injected.load(std::sync::atomic::Ordering::SeqCst) >= 3);
    assert!(a.verify().unwrap().equal_before);
}

#[test]
fn a_phone_only_receives_its_scope_and_follows_scope_changes() {
    let center = TestCenter::start();
    let mut one = center.phone("w-one", &center.url());
    let mut two = center.phone("w-two", &center.url());
    let mut town = center.phone("w-town", &center.url());
    register(&mut one, GRID_ONE, 3, 7);
    register(&mut two, GRID_TWO, 4, 8);
    one.sync().unwrap();
    two.sync().unwrap();
    one.sync().unwrap();
    town.sync().unwrap();
    assert_eq!(one.records(), 9);
    assert_eq!(two.records(), 12);
    assert_eq!(town.records(), 21);
    assert!(one.store.list_households(GRID_TWO, &Page::first(10)).unwrap().items.is_empty());

    // Widened: grid two is added to worker one's scope; the phone bootstraps it.
    center.running.with(|c| c.set_worker("w-one", "网格员甲", &[GRID_ONE.into(), GRID_TWO.into()])).unwrap();
    one.sync().unwrap();
    assert_eq!(one.records(), 21);
    assert!(one.verify().unwrap().equal_before);

    // Narrowed back: grid two's records go, except one with a local change the center
    // has not stored yet; it goes once acknowledged.
    let kept = one.store.list_households(GRID_TWO, &Page::first(1)).unwrap().items[0].id.clone();
    let mut h: Household = one.store.get(&kept).unwrap().record;
    h.notes = "补充".into();
    one.store.replace(&kept, h).unwrap();
    center.running.with(|c| c.set_worker("w-one", "网格员甲", &[GRID_ONE.into()])).unwrap();
    let report = one.sync();
    // The change is now out of scope: the center refuses it and the phone quarantines it.
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(one.store.sync_status().unwrap().quarantined_changes, 1);
    assert!(one.store.get::<Household>(&kept).is_ok(), "a record with unsent work is kept");
    assert_eq!(one.store.list_households(GRID_TWO, &Page::first(10)).unwrap().items.len(), 1);
    assert_eq!(one.records(), 10);
}

#[test]
fn digest_repair_fetches_what_is_missing_and_resends_what_the_center_lacks() {
    let center = TestCenter::start();
    let mut a = center.phone("w-one", &center.url());
    let mut b = center.phone("w-one-b", &center.url());
    let households = register(&mut a, GRID_ONE, 4, 9);
    a.sync().unwrap();
    b.sync().unwrap();

    // A misses B's edit: its cursor is moved past it, as a bug or a restored backup might.
    let mut h: Household = b.store.get(&households[0]).unwrap().record;
    h.address = "修复测试1号".into();
    b.store.replace(&households[0], h).unwrap();
    b.sync().unwrap();
    let past = Cursor::Changes { after: center.changes() };
    a.store.apply_pull(&[], &[], &past, &[GRID_ONE.into()]).unwrap();

    // And the center lacks A's edit, which A believes acknowledged.
    let mut h: Household = a.store.get(&households[1]).unwrap().record;
    h.notes = "只在本机".into();
    a.store.replace(&households[1], h).unwrap();
    let pending = a.store.pending_push(10, 1 << 20).unwrap();
    let hashes = pending
        .iter()
        .map(|(_, c)| automerge::Change::from_bytes(c.bytes.clone()).unwrap().hash().0.to_vec())
        .collect();
    let sent: Vec<i64> = pending.iter().map(|(seq, _)| *seq).collect();
    let answer = PushResponse { batch_id: String::new(), accepted: hashes, rejected: vec![] };
    let tally = a.store.record_push(&sent, &answer).unwrap();
    assert_eq!(tally.acknowledged, 1);
    assert_eq!(a.store.sync_status().unwrap().pending_changes, 0);
    assert_eq!(a.sync().unwrap().pulled_changes, 0, "an ordinary sync cannot see either difference");

    let report = a.verify().unwrap();
    assert!(!report.equal_before);
    assert!(report.equal_after, "{report:?}");
    assert_eq!((report.fetched, report.resent), (2, 2), "{report:?}");
    assert_eq!(a.store.get::<Household>(&households[0]).unwrap().record.address, "修复测试1号");
    b.sync().unwrap();
    assert_eq!(b.store.get::<Household>(&households[1]).unwrap().record.notes, "只在本机");
    assert!(b.verify().unwrap().equal_before);
}

#[test]
fn visits_and_incidents_travel_with_their_timelines() {
    let center = TestCenter::start();
    let mut field = center.phone("w-two", &center.url());
    let mut office = center.phone("w-town", &center.url());
    let area = micro(GRID_TWO);
    let household = field.store.create(Sample::new(3).household(&area, 1)).unwrap();
    let visit = Sample::new(3).visit(&area, VisitTarget::Household(household.clone()), 10, "w-two");
    field.store.create(visit).unwrap();
    let incident = field.store.create(Sample::new(3).incident(&area, 1, 10)).unwrap();
    field.store.append_follow_up(&incident, follow_up(Step::Report, "w-two", 11)).unwrap();
    field.sync().unwrap();
    office.sync().unwrap();
    center.dispatch(&incident, Step::Accept, None, 12_000);
    office.sync().unwrap();
    field.sync().unwrap();
    assert_eq!(field.store.get::<Incident>(&incident).unwrap().record.status(), IncidentStatus::Accepted);
    assert_eq!(office.store.visits_of(&household).unwrap().len(), 1);
}

#[test]
fn the_demo_converges() {
    let report = gridsync_center::demo::play(4, None).unwrap();
    assert!(report.converged);
    assert_eq!(report.phones.len(), 4);
    assert!(report.conflicts >= 1, "the demo's overlapping edits surface as conflicts");
    assert_eq!(report.incidents_for_review, 1);
    assert_eq!(report.idle_sync_round_trips, 1);
}

struct CancelOnFirstProgress(CancelFlag);

impl ProgressListener for CancelOnFirstProgress {
    fn on_progress(&self, _: &Progress) {
        self.0.cancel();
    }
}

#[test]
fn a_cancelled_sync_keeps_what_completed_and_the_next_one_resumes() {
    let center = TestCenter::start();
    let batches = ClientConfig { push_batch_changes: 10, ..config() };
    let mut a = gridsync_tests::Phone::enrol(&center.url(), &center.code("w-one"), batches);
    a.sync().unwrap();
    register(&mut a, GRID_ONE, 10, 11);
    let cancel = CancelFlag::default();
    let err = a.client.sync(&mut a.store, &CancelOnFirstProgress(cancel.clone()), &cancel).unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
    assert_eq!(center.changes(), 10, "the first batch completed");
    assert_eq!(a.store.sync_status().unwrap().pending_changes, 20);
    assert_eq!(a.sync().unwrap().pushed, 20);
    assert_eq!(center.changes(), 30);
}

/// A cancel lands within two seconds wherever the sync is: a request stalled on a
/// frozen link (with a 90 s request timeout) and a retry's backoff (of 30 s). What the
/// phone had is kept, and the next sync delivers it once.
#[test]
fn a_cancel_lands_within_seconds_mid_request_and_mid_backoff() {
    let center = TestCenter::start();
    let proxy = FaultProxy::start(center.running.addr);
    let patient = ClientConfig {
        request_timeout: Duration::from_secs(90),
        backoff_base: Duration::from_secs(30),
        backoff_max: Duration::from_secs(30),
        retries: 4,
        ..config()
    };
    let mut phone = gridsync_tests::Phone::enrol(&proxy.url(), &center.code("w-one"), patient);
    register(&mut phone, GRID_ONE, 3, 5);
    let cancel_after = |delay: Duration| {
        let cancel = CancelFlag::default();
        let trigger = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            trigger.cancel();
        });
        cancel
    };
    for (what, arm) in [("a stalled request", 0), ("a retry's backoff", 1)] {
        if arm == 0 {
            proxy.faults.stalls.store(1, std::sync::atomic::Ordering::SeqCst);
        } else {
            proxy.faults.cut_requests.store(1, std::sync::atomic::Ordering::SeqCst);
        }
        let cancel = cancel_after(Duration::from_millis(500));
        let started = Instant::now();
        let err = phone.client.sync(&mut phone.store, &NoProgress, &cancel).unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, Error::Cancelled), "{what}: {err}");
        assert!(took < Duration::from_secs(2), "{what}: the cancel took {took:?}");
        println!("figures cancel: {what} cancelled after {} ms", took.as_millis());
    }
    proxy.faults.stalls.store(0, std::sync::atomic::Ordering::SeqCst);
    phone.sync().unwrap();
    assert_eq!(phone.store.sync_status().unwrap().pending_changes, 0);
    assert!(phone.verify().unwrap().equal_before, "nothing lost, nothing twice");
}

/// Two phones and the center: one worker corrects a person's phone number on a form
/// opened before a colleague's change to the focus groups and occupation arrived.
/// Nothing either did not touch is erased, on either phone or at the center.
#[test]
fn an_edit_from_a_stale_form_erases_nothing_on_phones_or_center() {
    use gridsync_core::{Date, FocusGroup, Person};
    let center = TestCenter::start();
    let mut a = center.phone("w-one", &center.url());
    let mut b = center.phone("w-one-b", &center.url());
    let mut person = Sample::new(7).person(&micro(GRID_ONE), None);
    person.occupation = Some("教师".into());
    person.focus_groups.insert(
        "留守老人".into(),
        FocusGroup { worker: "w-one".into(), from: Date::new("from", 2024, 1, 2).unwrap(), until: None },
    );
    let id = a.store.create(person).unwrap();
    a.sync().unwrap();
    b.sync().unwrap();

    let a_form = a.store.get::<Person>(&id).unwrap();
    let b_form = b.store.get::<Person>(&id).unwrap();
    b.store
        .edit_with::<Person>(&id, &b_form.heads, |mut p| {
            p.focus_groups.clear();
            p.occupation = Some("务农".into());
            Ok(p)
        })
        .unwrap();
    b.sync().unwrap();
    a.sync().unwrap(); // B's change arrives while A's form is open.
    let mut edited = a_form.record.clone();
    edited.phone = Some("13800138000".into());
    a.store.edit(&id, &a_form.heads, edited).unwrap();
    a.sync().unwrap();
    b.sync().unwrap();

    let at_center: Person = center.replica().get::<Person>(&id).unwrap().record;
    for (place, merged) in [
        ("phone a", a.store.get::<Person>(&id).unwrap().record),
        ("phone b", b.store.get::<Person>(&id).unwrap().record),
        ("center", at_center),
    ] {
        assert_eq!(merged.phone.as_deref(), Some("13800138000"), "{place}");
        assert_eq!(merged.occupation.as_deref(), Some("务农"), "{place}");
        assert!(merged.focus_groups.is_empty(), "{place}");
    }
    assert!(a.store.conflicts(&id).unwrap().is_empty());
    assert!(a.verify().unwrap().equal_before && b.verify().unwrap().equal_before);
}
