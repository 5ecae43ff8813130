//! Attacks and bad input at the center: every refusal is the right 4xx, stores nothing,
//! and the center keeps serving.

use gridsync_core::sample::Sample;
use gridsync_core::sync::sign::DeviceKey;
use gridsync_core::sync::wire::{self, ErrorBody, ErrorCode, PushRequest, PushResponse};
use gridsync_core::{AreaCode, Error, Page};
use gridsync_tests::raw::{RawDevice, post, raw_device, signed};
use gridsync_tests::{GRID_ONE, GRID_TWO, Phone, TestCenter, config};

fn error_code(body: &[u8]) -> ErrorCode {
    wire::decode::<ErrorBody>(body).unwrap().code
}

#[test]
fn enrolment_codes_work_once_and_only_when_valid() {
    let center = TestCenter::start();
    let code = center.code("w-one");
    let phone = Phone::enrol(&center.url(), &code, config());
    assert!(phone.store.sync_status().unwrap().enrolled);
    let dir = tempfile::TempDir::new().unwrap();
    let mut store = gridsync_core::Store::open(dir.path().join("p.db"), gridsync_core::DbKey::Raw(&[1; 32])).unwrap();
    for bad in [code.as_str(), "AAAA-BBBB-CCCC"] {
        let err = gridsync_core::client::enrol(&mut store, &center.url(), bad, "p", None, &config()).unwrap_err();
        assert!(matches!(&err, Error::Unauthorized(m) if m.contains("EnrolmentRefused")), "{err}");
    }
    let expired = center.running.with(|c| c.issue_enrolment_code("w-one", -1)).unwrap();
    assert!(gridsync_core::client::enrol(&mut store, &center.url(), &expired, "p", None, &config()).is_err());
    assert!(!store.sync_status().unwrap().enrolled);
}

#[test]
fn bad_signatures_replays_and_garbage_are_refused_and_store_nothing() {
    let center = TestCenter::start();
    let mut device = raw_device(&center, "w-one", &hex::encode([9u8; 16]));
    let push = |center: &TestCenter| {
        let mut sample = Sample::new(1);
        let mut phone = center.phone("w-one", &center.url());
        phone.store.create(sample.household(&AreaCode::parse("a", &format!("{GRID_ONE}01")).unwrap(), 1)).unwrap();
        phone.store.pending_push(10, 1 << 20).unwrap().into_iter().map(|(_, c)| c).collect::<Vec<_>>()
    };
    let changes = push(&center);
    let body = wire::encode(&PushRequest { batch_id: "b1".into(), changes });
    let addr = center.running.addr;

    // No signature headers.
    let (status, answer) = post(addr, "/v1/push", &[], &body);
    assert_eq!((status, error_code(&answer)), (401, ErrorCode::BadSignature));
    // Signed by another key.
    let stranger = DeviceKey::generate();
    let (status, _) = post(addr, "/v1/push", &signed(&stranger, &device.id, 50, "/v1/push", &body), &body);
    assert_eq!(status, 401);
    // Signature over another body.
    let headers = signed(&device.key, &device.id, 60, "/v1/push", b"other");
    let (status, _) = post(addr, "/v1/push", &headers, &body);
    assert_eq!(status, 401);
    assert_eq!(center.changes(), 0, "nothing stored from refused requests");

    // Garbage, a future version, a truncated envelope: 400 with a reason.
    for garbage in [b"not an envelope".to_vec(), b"GSY\x02\x00\x00abc".to_vec(), body[..body.len() / 2].to_vec()] {
        let (status, answer) = device.post(&center, "/v1/push", &garbage);
        assert_eq!(status, 400, "{:?}", String::from_utf8_lossy(&answer));
        assert!(matches!(error_code(&answer), ErrorCode::BadRequest | ErrorCode::UnsupportedVersion));
    }
    // Too large for the body limit.
    let (status, _) = device.post(&center, "/v1/push", &vec![0u8; wire::MAX_ENVELOPE + 1]);
    assert_eq!(status, 413);
    assert_eq!(center.changes(), 0);

    // A replayed counter.
    let pull = wire::encode(&wire::PullRequest { cursor: wire::Cursor::fresh(), max_items: 10, max_bytes: 10_000 });
    device.counter += 1;
    let headers = signed(&device.key, &device.id, device.counter, "/v1/pull", &pull);
    assert_eq!(post(addr, "/v1/pull", &headers, &pull).0, 200);
    let (status, answer) = post(addr, "/v1/pull", &headers, &pull);
    assert_eq!((status, error_code(&answer)), (401, ErrorCode::Replay));

    // The center kept serving and counted what it refused.
    assert_eq!(post(addr, "/healthz", &[], b"").0, 405);
    let refused = center.running.with(|c| c.refusals().unwrap());
    assert!(refused.iter().any(|(reason, n)| reason == "bad_signature" && *n >= 3), "{refused:?}");
    assert!(refused.iter().any(|(reason, _)| reason == "too_large"), "{refused:?}");
}

#[test]
fn a_repeated_batch_is_answered_again_and_applied_once() {
    let center = TestCenter::start();
    let mut phone = center.phone("w-one", &center.url());
    let area = AreaCode::parse("a", &format!("{GRID_ONE}01")).unwrap();
    for n in 0..3 {
        phone.store.create(Sample::new(n).household(&area, n as u32)).unwrap();
    }
    let changes: Vec<_> = phone.store.pending_push(10, 1 << 20).unwrap().into_iter().map(|(_, c)| c).collect();

    // A device whose actor did not author the changes is refused: nothing stored.
    let mut stranger = raw_device(&center, "w-one", &hex::encode([9u8; 16]));
    let body = wire::encode(&PushRequest { batch_id: "batch-1".into(), changes: changes.clone() });
    let (status, answer) = stranger.post(&center, "/v1/push", &body);
    assert_eq!(status, 422);
    let refused: PushResponse = wire::decode(&answer).unwrap();
    assert!(refused.accepted.is_empty());
    assert!(refused.rejected.iter().all(|r| r.code == wire::RejectCode::WrongAuthor));
    assert_eq!(center.changes(), 0);

    // The author's batch, sent twice with fresh counters: the same answer, applied once.
    let mut author = RawDevice::of_phone(&mut phone);
    let first = author.post(&center, "/v1/push", &body);
    let again = author.post(&center, "/v1/push", &body);
    assert_eq!(first.0, 200);
    assert_eq!(first, again);
    assert_eq!(wire::decode::<PushResponse>(&first.1).unwrap().accepted.len(), 3);
    assert_eq!(center.changes(), 3);
    // The same changes in a new batch are acknowledged without being stored again.
    let other = wire::encode(&PushRequest { batch_id: "batch-2".into(), changes });
    assert_eq!(author.post(&center, "/v1/push", &other).0, 200);
    assert_eq!(center.changes(), 3);
}

#[test]
fn out_of_scope_changes_are_refused_and_quarantined() {
    let center = TestCenter::start();
    let mut one = center.phone("w-one", &center.url());
    let mut two = center.phone("w-two", &center.url());
    let inside = AreaCode::parse("a", &format!("{GRID_ONE}01")).unwrap();
    let elsewhere = AreaCode::parse("a", &format!("{GRID_TWO}01")).unwrap();

    // The phone's own store refuses creating outside its scope…
    assert!(matches!(one.store.create(Sample::new(3).household(&elsewhere, 1)), Err(Error::OutOfScope { .. })));
    // …so move a record out through a store that no longer knows its scope.
    let id = one.store.create(Sample::new(3).household(&inside, 1)).unwrap();
    one.sync().unwrap();
    let mut moved: gridsync_core::Household = one.store.get(&id).unwrap().record;
    moved.area_code = elsewhere.clone();
    one.store.set_scope(gridsync_core::Scope::new([GRID_ONE, GRID_TWO]).unwrap()).unwrap();
    one.store.replace(&id, moved).unwrap();
    let before = center.changes();
    let report = one.sync().unwrap();
    assert_eq!(report.quarantined, 1);
    assert_eq!(center.changes(), before, "nothing stored");
    let quarantined = one.store.quarantined().unwrap();
    assert_eq!(quarantined.len(), 1);
    assert_eq!(quarantined[0].code, "out_of_scope");
    assert!(quarantined[0].reason.contains("area_code"));
    two.sync().unwrap();
    assert!(two.store.list_households("", &Page::first(10)).unwrap().items.is_empty(), "grid two never sees it");
    // The center still holds the record where it was.
    let at_center = center.replica().list_households(GRID_ONE, &Page::first(10)).unwrap().items.len();
    assert_eq!(at_center, 1);
}

#[test]
fn a_revoked_phone_is_refused_and_a_wiped_one_erases_its_data() {
    let center = TestCenter::start();
    let mut lost = center.phone("w-one", &center.url());
    let mut kept = center.phone("w-one-b", &center.url());
    lost.store.create(Sample::new(4).household(&AreaCode::parse("a", &format!("{GRID_ONE}01")).unwrap(), 1)).unwrap();
    lost.sync().unwrap();
    let devices = center.running.with(|c| c.devices().unwrap());
    let lost_id = lost.store.sync_identity().unwrap().unwrap().device_id;
    assert_eq!(devices.len(), 2);

    center.running.with(|c| c.revoke(&lost_id, false, "test")).unwrap();
    assert!(matches!(lost.sync(), Err(Error::Revoked { wipe: false })));
    assert_eq!(lost.records(), 1, "revocation alone erases nothing");
    kept.sync().unwrap();

    // Lost for good: the center orders a wipe, and the phone pushes nothing further.
    lost.store.create(Sample::new(5).household(&AreaCode::parse("a", &format!("{GRID_ONE}01")).unwrap(), 2)).unwrap();
    center.running.with(|c| c.revoke(&lost_id, true, "test")).unwrap();
    let before = center.changes();
    assert!(matches!(lost.sync(), Err(Error::Revoked { wipe: true })));
    assert_eq!(lost.records(), 0);
    assert!(!lost.store.sync_status().unwrap().enrolled);
    assert_eq!(center.changes(), before);
    // The erased pages are gone from the file, not left free inside it (the file is
    // encrypted either way: its size is what shows whether the data was reclaimed), and
    // the WAL holds nothing.
    let fresh = tempfile::TempDir::new().unwrap();
    drop(gridsync_core::Store::open(fresh.path().join("empty.db"), gridsync_core::DbKey::Raw(&[4; 32])).unwrap());
    let empty = std::fs::metadata(fresh.path().join("empty.db")).unwrap().len();
    let wiped = std::fs::metadata(&lost.path).unwrap().len();
    assert!(wiped <= empty + 8 * 4096, "wiped file {wiped} bytes, an empty store {empty}");
    let wal = lost.path.with_extension("db-wal");
    assert!(std::fs::metadata(&wal).map_or(0, |m| m.len()) == 0, "the WAL holds nothing");
    assert!(kept.sync().is_ok(), "other phones are unaffected");
}

#[test]
fn an_enrolment_whose_answer_was_lost_completes_when_retried() {
    let center = TestCenter::start();
    let proxy = gridsync_tests::proxy::FaultProxy::start(center.running.addr);
    proxy.faults.drop_responses.store(1, std::sync::atomic::Ordering::SeqCst);
    let code = center.code("w-one");
    let mut phone = Phone::enrol(&proxy.url(), &code, config());
    assert_eq!(proxy.faults.injected(), 1, "the first answer was lost");
    assert_eq!(center.running.with(|c| c.devices().unwrap()).len(), 1, "one device, enrolled once");
    phone.sync().unwrap();
    // The code stays spent for any other key.
    let dir = tempfile::TempDir::new().unwrap();
    let mut store = gridsync_core::Store::open(dir.path().join("p.db"), gridsync_core::DbKey::Raw(&[2; 32])).unwrap();
    let err = gridsync_core::client::enrol(&mut store, &center.url(), &code, "p", None, &config()).unwrap_err();
    assert!(matches!(&err, Error::Unauthorized(m) if m.contains("EnrolmentRefused")), "{err}");
}
