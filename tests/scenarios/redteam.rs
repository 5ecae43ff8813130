//! A stolen phone against the center: an enrolled device with a valid key, scope and
//! township key sends what automerge allows and no honest client writes. Each attack is
//! refused with its typed code, nothing it sent is stored, and an honest phone of the
//! same grid keeps syncing (docs/security.md, "A stolen phone").

use std::io::Write;

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc, ScalarValue, Value};
use gridsync_center::pull::MAX_FETCH_RECORDS;
use gridsync_core::doc::{Author, RecordDoc};
use gridsync_core::sample::{Sample, follow_up};
use gridsync_core::store::RemoteChange;
use gridsync_core::sync::wire::{self, ErrorBody, FetchRequest, FetchResponse, PushRequest, PushResponse, RejectCode};
use gridsync_core::{AreaCode, IdType, Kind, Step};
use gridsync_tests::raw::{RawDevice, forged_change, post, post_on, raw_device, signed};
use gridsync_tests::{Figures, GRID_ONE, TestCenter};

pub(crate) fn micro() -> AreaCode {
    AreaCode::parse("area_code", &format!("{GRID_ONE}01")).unwrap()
}

/// What the center answered a push: the status, the rejection codes, the error body.
pub(crate) fn push(
    center: &TestCenter,
    device: &mut RawDevice,
    changes: Vec<RemoteChange>,
) -> (u16, Vec<RejectCode>, String) {
    let body = wire::encode(&PushRequest { batch_id: format!("b{}", device.counter), changes });
    let (status, answer) = device.post(center, "/v1/push", &body);
    match wire::decode::<PushResponse>(&answer) {
        Ok(response) => (status, response.rejected.into_iter().map(|r| r.code).collect(), String::new()),
        Err(_) => (status, Vec::new(), wire::decode::<ErrorBody>(&answer).map(|e| e.message).unwrap_or_default()),
    }
}

/// Ops a tampered client writes into a record's document.
type Forge = Box<dyn FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), automerge::AutomergeError>>;

/// The attacker: the raw key of an enrolled device of worker `w-one`, and its actor.
struct Attacker {
    device: RawDevice,
    actor: String,
    /// Attacks tried and refused, counted where each is refused.
    figures: Figures,
}

impl Attacker {
    fn new(center: &TestCenter) -> Self {
        let actor = hex::encode([0x66u8; 16]);
        Self { device: raw_device(center, "w-one", &actor), actor, figures: Figures::new("record rules") }
    }

    /// Forges a change of record `id` by `ops` and pushes it; the push must be refused
    /// with `code` and store nothing.
    fn refused(
        &mut self,
        center: &TestCenter,
        what: &str,
        id: &str,
        kind: Kind,
        code: RejectCode,
        ops: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), automerge::AutomergeError>,
    ) {
        let change = forged_change(center, id, kind, &self.actor, "w-one", ops);
        self.refuse(center, what, vec![change], code);
    }

    fn refuse(&mut self, center: &TestCenter, what: &str, changes: Vec<RemoteChange>, code: RejectCode) {
        let stored = center.changes();
        let (status, codes, _) = push(center, &mut self.device, changes);
        assert_eq!(status, 422, "{what}");
        assert!(codes.iter().all(|c| *c == code) && !codes.is_empty(), "{what}: {codes:?}, expected {code:?}");
        assert_eq!(center.changes(), stored, "{what}: nothing stored");
        self.figures.cases += 1;
        self.figures.refused += 1;
    }
}

#[test]
fn a_stolen_phone_cannot_break_the_record_rules() {
    let center = TestCenter::start();
    let mut honest = center.phone("w-one", &center.url());
    let area = micro();
    let household = honest.store.create(Sample::new(9).household(&area, 1)).unwrap();
    let incident = honest.store.create(Sample::new(9).incident(&area, 1, 1_767_000_000_000)).unwrap();
    honest.store.append_follow_up(&incident, follow_up(Step::Report, "w-one", 1_767_000_000_001)).unwrap();
    let visit_target = gridsync_core::VisitTarget::Household(household.clone());
    let visit = honest.store.create(Sample::new(9).visit(&area, visit_target, 1_767_000_000_000, "w-one")).unwrap();
    honest
        .store
        .append_finding(&visit, gridsync_core::Finding { at: 1, by: "w-one".into(), text: "屋顶漏水".into() })
        .unwrap();
    honest.sync().unwrap();
    center.dispatch(&incident, Step::Accept, None, 1_767_000_000_002);
    honest.sync().unwrap();
    let mut attacker = Attacker::new(&center);
    let timeline = |tx: &automerge::transaction::Transaction<'_>, field: &str| match tx.get(ROOT, field).unwrap() {
        Some((Value::Object(ObjType::List), list)) => list,
        other => panic!("{field}: {other:?}"),
    };

    let cases: Vec<(&str, &str, Kind, RejectCode, Forge)> = vec![
        (
            "kind set to person",
            &incident,
            Kind::Incident,
            RejectCode::Immutable,
            Box::new(|tx| tx.put(ROOT, "kind", "person")),
        ),
        ("v := 99", &household, Kind::Household, RejectCode::Immutable, Box::new(|tx| tx.put(ROOT, "v", 99))),
        ("v := \"one\"", &household, Kind::Household, RejectCode::Immutable, Box::new(|tx| tx.put(ROOT, "v", "one"))),
        (
            "notes replaced by a new Text",
            &household,
            Kind::Household,
            RejectCode::Immutable,
            Box::new(|tx| tx.put_object(ROOT, "notes", ObjType::Text).map(drop)),
        ),
        (
            "timeline replaced by a map",
            &incident,
            Kind::Incident,
            RejectCode::Immutable,
            Box::new(|tx| tx.put_object(ROOT, "timeline", ObjType::Map).map(drop)),
        ),
        (
            "timeline entry 0 deleted",
            &incident,
            Kind::Incident,
            RejectCode::TimelineRewritten,
            Box::new(move |tx| {
                let list = timeline(tx, "timeline");
                tx.delete(&list, 0)
            }),
        ),
        (
            "timeline entry 0 rewritten",
            &incident,
            Kind::Incident,
            RejectCode::TimelineRewritten,
            Box::new(move |tx| {
                let list = timeline(tx, "timeline");
                tx.put(&list, 0, "{}")
            }),
        ),
        (
            "finding deleted",
            &visit,
            Kind::Visit,
            RejectCode::TimelineRewritten,
            Box::new(move |tx| {
                let list = timeline(tx, "findings");
                tx.delete(&list, 0)
            }),
        ),
        (
            "timeline entry that is a number",
            &incident,
            Kind::Incident,
            RejectCode::BadShape,
            Box::new(move |tx| {
                let list = timeline(tx, "timeline");
                tx.insert(&list, 2, 42)
            }),
        ),
        (
            "unknown step teleport",
            &incident,
            Kind::Incident,
            RejectCode::UnknownStep,
            Box::new(move |tx| {
                let list = timeline(tx, "timeline");
                tx.insert(
                    &list,
                    2,
                    r#"{"id":"0190f0f0-0000-7000-8000-0000000000ee","at":1,"by":"w-one","step":"teleport"}"#,
                )
            }),
        ),
        (
            "complete straight from accepted",
            &incident,
            Kind::Incident,
            RejectCode::IllegalStep,
            Box::new(move |tx| {
                let list = timeline(tx, "timeline");
                tx.insert(
                    &list,
                    2,
                    r#"{"id":"0190f0f0-0000-7000-8000-0000000000ef","at":1,"by":"w-one","step":"complete"}"#,
                )
            }),
        ),
        (
            "a grid worker assigning (the center's step)",
            &incident,
            Kind::Incident,
            RejectCode::StepNotAllowed,
            Box::new(move |tx| {
                let list = timeline(tx, "timeline");
                tx.insert(
                    &list,
                    2,
                    r#"{"id":"0190f0f0-0000-7000-8000-0000000000f0","at":1,"by":"w-one","step":"assign","deadline":9}"#,
                )
            }),
        ),
        (
            "a step in a colleague's name",
            &incident,
            Kind::Incident,
            RejectCode::WrongWorker,
            Box::new(move |tx| {
                let list = timeline(tx, "timeline");
                tx.insert(
                    &list,
                    2,
                    r#"{"id":"0190f0f0-0000-7000-8000-0000000000f1","at":1,"by":"w-two","step":"comment"}"#,
                )
            }),
        ),
        (
            "an unknown field holding a list",
            &household,
            Kind::Household,
            RejectCode::BadShape,
            Box::new(|tx| {
                let list = tx.put_object(ROOT, "future", ObjType::List)?;
                tx.insert(&list, 0, 1)
            }),
        ),
        (
            "33 unknown keys",
            &household,
            Kind::Household,
            RejectCode::TooLarge,
            Box::new(|tx| (0..33).try_for_each(|i| tx.put(ROOT, format!("future{i}").as_str(), i))),
        ),
        (
            "10,001 tags",
            &household,
            Kind::Household,
            RejectCode::TooLarge,
            Box::new(|tx| {
                let Some((_, tags)) = tx.get(ROOT, "tags")? else { unreachable!() };
                (0..10_001).try_for_each(|i| tx.put(&tags, format!("t{i}").as_str(), true))
            }),
        ),
        (
            "a nested map inside tags",
            &household,
            Kind::Household,
            RejectCode::BadShape,
            Box::new(|tx| {
                let Some((_, tags)) = tx.get(ROOT, "tags")? else { unreachable!() };
                tx.put_object(&tags, "低保户", ObjType::Map).map(drop)
            }),
        ),
    ];
    for (what, id, kind, code, ops) in cases {
        attacker.refused(&center, what, id, kind, code, ops);
    }

    // A change of 30,000 ops: over the op or the byte limit, refused before it is applied.
    let stored = center.changes();
    let huge = forged_change(&center, &household, Kind::Household, &attacker.actor, "w-one", |tx| {
        (0..30_000).try_for_each(|i| tx.put(ROOT, format!("k{i}").as_str(), ScalarValue::Int(i)))
    });
    let (status, codes, _) = push(&center, &mut attacker.device, vec![huge]);
    assert!(status == 413 || (status == 422 && codes == [RejectCode::TooLarge]), "{status} {codes:?}");
    assert_eq!(center.changes(), stored);
    attacker.figures.cases += 1;
    attacker.figures.refused += 1;

    // A record that does not start from its genesis (a client that built it from scratch).
    let rootless = {
        let mut doc =
            automerge::Automerge::new().with_actor(automerge::ActorId::from(hex::decode(&attacker.actor).unwrap()));
        let mut tx = doc.transaction();
        tx.put(ROOT, "kind", "household").unwrap();
        tx.commit_with(automerge::transaction::CommitOptions::default().with_message("w-one"));
        let id = "0190f0f0-0000-7000-8000-0000000000aa";
        RemoteChange {
            record_id: id.into(),
            kind: Kind::Household,
            bytes: doc.get_last_local_change().unwrap().raw_bytes().to_vec(),
        }
    };
    attacker.refuse(&center, "a second root", vec![rootless], RejectCode::NotFromGenesis);

    // The worker in a change is the device's.
    let forged_worker = forged_change(&center, &household, Kind::Household, &attacker.actor, "w-0002", |tx| {
        tx.put(ROOT, "phone", "13800138000")
    });
    attacker.refuse(&center, "another worker's name", vec![forged_worker], RejectCode::WrongWorker);

    // Record ids have one form.
    for id in [
        "",
        "../../etc/passwd",
        &"1".repeat(100_000),
        "a\0b\nc",
        "0190F0F0-0000-7000-8000-0000000000AA",
        "6f1c2f4e-8d1a-4c3b-9e2f-1a2b3c4d5e6f",
    ] {
        let mut change = forged_change(&center, &household, Kind::Household, &attacker.actor, "w-one", |tx| {
            tx.put(ROOT, "phone", "13800138000")
        });
        change.record_id = id.to_owned();
        attacker.refuse(&center, "a bad record id", vec![change], RejectCode::BadRecordId);
    }

    // A person id squatting someone else's ID number: the id derived from the victim's
    // number, the record holding another (valid) person.
    let key = gridsync_core::ids::TownshipKey::new(&center.running.with(|c| c.township_key()));
    let mut sample = Sample::new(31);
    let victim = sample.person(&area, None);
    let squatter = sample.person(&area, None);
    let victim_id = key.person_id(IdType::ResidentId, victim.id_number.as_deref().unwrap());
    let actor = automerge::ActorId::from(hex::decode(&attacker.actor).unwrap());
    let mut doc = RecordDoc::new(Kind::Person, &actor).unwrap();
    let genesis = doc.heads();
    doc.write(&squatter, &Author { worker: "w-one", at: 1_767_000_000_000 }).unwrap();
    let squat = RemoteChange {
        record_id: victim_id,
        kind: Kind::Person,
        bytes: doc.changes_since(&genesis).pop().unwrap().raw_bytes().to_vec(),
    };
    attacker.refuse(&center, "a squatted person id", vec![squat], RejectCode::IdNumberMismatch);

    // The honest phone still syncs, and its incident's timeline is whole.
    honest.store.append_follow_up(&incident, follow_up(Step::StartHandling, "w-one", 1_767_000_000_003)).unwrap();
    honest.sync().unwrap();
    let mut fresh = center.phone("w-one-b", &center.url());
    fresh.sync().unwrap();
    let state = fresh.store.get::<gridsync_core::Incident>(&incident).unwrap().record.state();
    assert_eq!(state.status, gridsync_core::IncidentStatus::InProgress);
    assert!(fresh.verify().unwrap().equal_before);
    attacker.figures.report();
}

/// An automerge compressed change chunk: raw DEFLATE of `mib` MiB of zeros (about a
/// thousandth of that), a bogus checksum. automerge would inflate it, unbounded, before
/// any check.
fn compressed_bomb(mib: usize) -> RemoteChange {
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..mib {
        deflate.write_all(&zeros).unwrap();
    }
    let inflated = deflate.finish().unwrap();
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2];
    let mut len = inflated.len();
    while len >= 0x80 {
        chunk.push((len as u8 & 0x7f) | 0x80);
        len >>= 7;
    }
    chunk.push(len as u8);
    chunk.extend(inflated);
    RemoteChange { record_id: "0190f0f0-0000-7000-8000-0000000000ab".into(), kind: Kind::Household, bytes: chunk }
}

#[test]
fn a_compressed_change_is_refused_before_it_is_inflated() {
    let center = TestCenter::start();
    let mut attacker = Attacker::new(&center);
    let change = compressed_bomb(64);
    let started = std::time::Instant::now();
    let (status, _, message) = push(&center, &mut attacker.device, vec![change]);
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("compressed"), "{message}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "refused before any inflating");
    assert_eq!(center.changes(), 0);
}

#[test]
fn fetch_is_deduplicated_and_bounded() {
    let center = TestCenter::start();
    let mut honest = center.phone("w-one", &center.url());
    let id = honest.store.create(Sample::new(3).household(&micro(), 1)).unwrap();
    honest.sync().unwrap();
    let mut attacker = Attacker::new(&center);
    let body = wire::encode(&FetchRequest { record_ids: vec![id.clone(); 2_000] });
    let (status, answer) = attacker.device.post(&center, "/v1/fetch", &body);
    assert_eq!(status, 200);
    assert_eq!(wire::decode::<FetchResponse>(&answer).unwrap().snapshots.len(), 1, "each record once");
    let ids: Vec<String> = (0..=MAX_FETCH_RECORDS).map(|i| format!("0190f0f0-0000-7000-8000-{i:012}")).collect();
    let (status, _) = attacker.device.post(&center, "/v1/fetch", &wire::encode(&FetchRequest { record_ids: ids }));
    assert_eq!(status, 413);
}

#[test]
fn an_actor_belongs_to_one_device() {
    let center = TestCenter::start();
    let honest = center.phone("w-one", &center.url());
    let actor = honest.store.device_actor();
    let key = gridsync_core::sync::sign::DeviceKey::generate();
    let request = wire::EnrolRequest {
        code: center.code("w-one"),
        public_key: key.public_key().to_vec(),
        actor,
        device_name: "clone".into(),
        app_version: "test".into(),
    };
    let body = wire::encode(&request);
    let (status, answer) = post(center.running.addr, "/v1/enrol", &signed(&key, "enrol", 1, "/v1/enrol", &body), &body);
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&answer));
}

/// A batch learns that a record lies outside the scope only when nothing else in it is
/// refused, and never the record's kind or area.
#[test]
fn no_existence_oracle_for_records_outside_the_scope() {
    let center = TestCenter::start();
    let mut elsewhere = center.phone("w-two", &center.url());
    let area_two = AreaCode::parse("area_code", &format!("{}01", gridsync_tests::GRID_TWO)).unwrap();
    let registered = elsewhere.store.create(Sample::new(41).household(&area_two, 1)).unwrap();
    elsewhere.sync().unwrap();
    let mut attacker = Attacker::new(&center);
    // A change to the record registered elsewhere, written as if it were a person.
    let probe = forged_change(&center, &registered, Kind::Household, &attacker.actor, "w-one", |tx| {
        tx.put(ROOT, "phone", "13800138000")
    });
    let as_person = RemoteChange { kind: Kind::Person, ..probe.clone() };
    let decoy = forged_change(
        &center,
        "0190f0f0-0000-7000-8000-0000000000d1",
        Kind::Household,
        &attacker.actor,
        "w-one",
        |tx| tx.put(ROOT, "area_code", format!("{GRID_ONE}01").as_str()),
    );
    let (status, codes, _) = push(&center, &mut attacker.device, vec![probe.clone(), decoy]);
    assert_eq!((status, codes.as_slice()), (422, [RejectCode::Invalid].as_slice()), "the decoy alone is named");
    for change in [probe, as_person] {
        let body =
            wire::encode(&PushRequest { batch_id: format!("p{}", attacker.device.counter), changes: vec![change] });
        let (status, answer) = attacker.device.post(&center, "/v1/push", &body);
        let rejected = wire::decode::<PushResponse>(&answer).unwrap().rejected;
        assert_eq!(status, 422);
        assert_eq!(rejected[0].code, RejectCode::OutOfScope, "never wrong_kind: the kind is not revealed");
        assert!(!rejected[0].reason.contains(gridsync_tests::GRID_TWO) && !rejected[0].reason.contains("household"));
    }
}

#[test]
fn an_area_outside_the_register_is_refused_once_the_township_has_one() {
    let center = TestCenter::start();
    center.running.with(|c| c.import_area(&format!("{GRID_ONE}01"), "一组")).unwrap();
    let mut phone = center.phone("w-one", &center.url());
    let registered = phone.store.create(Sample::new(43).household(&micro(), 1)).unwrap();
    phone.sync().unwrap();
    let unregistered = AreaCode::parse("area_code", &format!("{GRID_ONE}77")).unwrap();
    phone.store.create(Sample::new(44).household(&unregistered, 2)).unwrap();
    let report = phone.sync().unwrap();
    assert_eq!(report.quarantined, 1, "{report:?}");
    assert!(phone.store.quarantined().unwrap().iter().all(|q| q.reason.contains("register")));
    assert!(center.replica().record_meta(&registered).is_ok());
}

/// One device sending as fast as it can is slowed with 429 and Retry-After; another
/// device syncs meanwhile as if nothing happened.
#[test]
fn a_device_over_its_rate_is_told_to_wait_and_others_are_not() {
    let center = TestCenter::start();
    let mut honest = center.phone("w-one-b", &center.url());
    let mut attacker = Attacker::new(&center);
    let pull = wire::encode(&wire::PullRequest { cursor: wire::Cursor::fresh(), max_items: 10, max_bytes: 4096 });
    let mut limited = 0;
    for _ in 0..300 {
        let counter = attacker.device.counter + 1;
        attacker.device.counter = counter;
        let headers = signed(&attacker.device.key, &attacker.device.id, counter, "/v1/pull", &pull);
        let (status, answer) = post(center.running.addr, "/v1/pull", &headers, &pull);
        if status == 429 {
            limited += 1;
            let error: ErrorBody = wire::decode(&answer).unwrap();
            assert_eq!(error.code, wire::ErrorCode::RateLimited);
        } else {
            assert_eq!(status, 200);
        }
    }
    assert!(limited >= 100, "{limited} of 300 rate-limited");
    honest.store.create(Sample::new(45).household(&micro(), 1)).unwrap();
    let report = honest.sync().unwrap();
    assert_eq!(report.pushed, 1);
}

/// Slow and silent connections hold a bounded number of slots for a bounded time; a
/// declared body over the limit is refused before it is read.
#[test]
fn slow_connections_are_bounded_and_oversized_bodies_refused_early() {
    use std::io::Read;
    use std::net::TcpStream;
    let center = TestCenter::start();
    let mut honest = center.phone("w-one", &center.url());
    // 200 connections that send half a request line and stop.
    let slow: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut stream = TcpStream::connect(center.running.addr).unwrap();
            stream.write_all(b"POST /v1/pull HTTP/1.1\r\nHost: x\r\n").unwrap();
            stream
        })
        .collect();
    honest.store.create(Sample::new(46).household(&micro(), 1)).unwrap();
    assert_eq!(honest.sync().unwrap().pushed, 1, "an honest phone syncs beside them");
    // A body declared at 5 GB: refused at once, before any of it is sent.
    let mut big = TcpStream::connect(center.running.addr).unwrap();
    big.write_all(b"POST /v1/push HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000000\r\n\r\n").unwrap();
    big.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    let mut head = [0u8; 12];
    big.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");
    // The slow connections are closed once their headers are overdue.
    std::thread::sleep(gridsync_center::serve::HEADER_TIMEOUT + std::time::Duration::from_secs(2));
    let mut still_open = 0;
    for mut stream in slow {
        stream.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
        let mut buf = [0u8; 256];
        // A closed connection reads its end (or a 408) at once; an open one times out.
        if let Err(err) = stream.read(&mut buf)
            && matches!(err.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
        {
            still_open += 1;
        }
    }
    assert_eq!(still_open, 0, "connections whose headers were overdue are closed");
}

/// The center as its own process under a 1 GiB address-space limit, attacked by a
/// stolen phone (bombs, oversized changes, fetch floods, junk, slow connections) while
/// honest phones sync beside it: it stays up, its peak memory stays low, and the honest
/// phones' syncs all succeed within bounds. The figures printed are measured here.
#[test]
fn attacks_under_a_memory_limit_leave_honest_phones_syncing() {
    use std::io::Read;
    use std::net::TcpStream;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    const LIMIT: u64 = 1 << 30;
    let mut figures = Figures::new("attacks under a memory limit");
    let dir = tempfile::TempDir::new().unwrap();
    let log = dir.path().join("center.log");
    let (db, mut codes, addr) = crate::process::center_db(&dir, &["w-one-b", "w-one-b", "w-one"]);
    let attacker_code = codes.pop().unwrap();
    let honest_codes = codes;
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    let mut center = crate::process::Process::spawn_limited(LIMIT, &["center", &db, &addr.to_string()], &log);
    center.wait_for("listening");
    let url = format!("http://{addr}");
    let mut phones: Vec<gridsync_tests::Phone> =
        honest_codes.iter().map(|code| gridsync_tests::Phone::enrol(&url, code, gridsync_tests::config())).collect();
    // A large record for the fetch flood.
    let mut big = Sample::new(50).household(&micro(), 1);
    big.notes = "长".repeat(9_000);
    let big_id = phones[0].store.create(big).unwrap();
    for phone in &mut phones {
        phone.sync().unwrap();
    }

    let stop = Arc::new(AtomicBool::new(false));
    let honest: Vec<_> = phones
        .into_iter()
        .enumerate()
        .map(|(n, mut phone)| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let (mut latencies, mut failed) = (Vec::new(), 0u64);
                let mut sample = Sample::new(60 + n as u64);
                let mut number = 0;
                while !stop.load(Ordering::SeqCst) {
                    number += 1;
                    phone.store.create(sample.household(&micro(), 1_000 * (n as u32 + 1) + number)).unwrap();
                    let started = Instant::now();
                    failed += u64::from(phone.sync().is_err());
                    latencies.push(started.elapsed());
                }
                (latencies, failed)
            })
        })
        .collect();

    let actor = hex::encode([0x77u8; 16]);
    let mut attacker = gridsync_tests::raw::raw_device_at(addr, attacker_code, &actor);
    let (mut refused, mut limited) = (0u64, 0u64);
    let mut count = |status: u16| {
        figures.cases += 1;
        refused += u64::from((400..500).contains(&status));
        limited += u64::from(status == 429);
    };
    let slow: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut stream = gridsync_tests::raw::connect_from([127, 0, 0, 2].into(), addr);
            stream.write_all(b"POST /v1/push HTTP/1.1\r\nHost: x\r\n").unwrap();
            stream
        })
        .collect();
    let bomb = wire::encode(&PushRequest { batch_id: "bomb".into(), changes: vec![compressed_bomb(512)] });
    let fetch = wire::encode(&FetchRequest { record_ids: vec![big_id; 2_000] });
    // What round 2 found (tests/scenarios/redteam_costs.rs), here under the limit: a
    // change declaring 10⁹ ops, a batch of 5 × 24,998 ops, 3M heads buckets.
    let costly = costly_requests(&automerge::ActorId::from([0x77u8; 16]));
    let oversized = {
        let mut doc = RecordDoc::new(Kind::Household, &automerge::ActorId::from([0x77u8; 16])).unwrap();
        let genesis = doc.heads();
        let mut household = Sample::new(51).household(&micro(), 2);
        household.notes = "长".repeat(100_000);
        doc.write(&household, &Author { worker: "w-one", at: 1_767_000_000_000 }).unwrap();
        let bytes = doc.changes_since(&genesis).pop().unwrap().raw_bytes().to_vec();
        let id = "0190f0f0-0000-7000-8000-0000000000b1".to_owned();
        wire::encode(&PushRequest {
            batch_id: "big".into(),
            changes: vec![RemoteChange { record_id: id, kind: Kind::Household, bytes }],
        })
    };
    let mut fetches = 0u64;
    // The stolen phone attacks from its own address (honest phones use 127.0.0.1).
    let from: std::net::IpAddr = [127, 0, 0, 2].into();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        count(attacker.post_from(from, addr, "/v1/push", &bomb).0);
        for _ in 0..5 {
            // Bounded rather than refused: 2,000 copies of one id are answered once.
            let (status, answer) = attacker.post_from(from, addr, "/v1/fetch", &fetch);
            let once = status == 200 && wire::decode::<FetchResponse>(&answer).unwrap().snapshots.len() == 1;
            assert!(once || status == 429, "fetch flood answered {status}");
            fetches += 1;
        }
        count(attacker.post_from(from, addr, "/v1/push", &oversized).0);
        for (path, body) in &costly {
            count(attacker.post_from(from, addr, path, body).0);
        }
        for _ in 0..20 {
            let junk = gridsync_tests::raw::connect_from(from, addr);
            count(post_on(junk, addr, "/v1/pull", &[("x-gridsync-device", "nobody".into())], b"junk").0);
        }
    }
    stop.store(true, Ordering::SeqCst);
    let mut latencies = Vec::new();
    let mut failed = 0;
    for thread in honest {
        let (more, f) = thread.join().unwrap();
        latencies.extend(more);
        failed += f;
    }
    drop(slow);
    let status = std::fs::read_to_string(format!("/proc/{}/status", center.id())).unwrap();
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    assert!(center.alive(), "the center survived");
    let mut health = TcpStream::connect(addr).unwrap();
    health.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    health.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    center.kill();

    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_millis();
    figures.refused = refused;
    figures.note("honest_syncs", latencies.len());
    figures.note("honest_failed", failed);
    figures.note("honest_p50_ms", at(0.5));
    figures.note("honest_p99_ms", at(0.99));
    figures.note("rate_limited", limited);
    figures.note("fetch_floods_bounded", fetches);
    figures.note("center_peak_mb", peak_kb / 1024);
    figures.note("limit_mb", LIMIT >> 20);
    figures.report();
    assert_eq!(failed, 0, "every honest sync succeeded");
    assert!(latencies.len() >= 10, "honest phones kept syncing: {}", latencies.len());
    assert!(at(0.99) < 5_000, "honest p99 {} ms", at(0.99));
    assert!(peak_kb < 256 * 1024, "center peak {peak_kb} kB");
    assert_eq!(refused, figures.cases, "every attack refused");
}

/// Requests that cost the center more than they weigh, each refused by a bound of round
/// 2: a change declaring 10⁹ ops, a batch over its ops, a heads request of 3M buckets.
fn costly_requests(actor: &automerge::ActorId) -> Vec<(&'static str, Vec<u8>)> {
    use automerge::transaction::CommitOptions;
    let mut doc = automerge::Automerge::new();
    let genesis = gridsync_core::doc::genesis_change(Kind::Household).to_vec();
    doc.apply_changes([automerge::Change::from_bytes(genesis).unwrap()]).unwrap();
    doc.set_actor(actor.clone());
    let notes = match doc.get(ROOT, "notes").unwrap() {
        Some((Value::Object(ObjType::Text), notes)) => notes,
        other => panic!("{other:?}"),
    };
    let mut change = |insert: usize, delete: bool| {
        let mut tx = doc.transaction();
        tx.splice_text(&notes, 0, 0, &"a".repeat(insert)).unwrap();
        if delete {
            tx.splice_text(&notes, 0, insert as isize, "").unwrap();
        }
        tx.commit_with(CommitOptions::default().with_message("w-one").with_time(1_767_000_000_000));
        doc.get_last_local_change().unwrap().raw_bytes().to_vec()
    };
    let id = "0190f0f0-0000-7000-8000-0000000000b2".to_owned();
    let remote = |bytes: Vec<u8>| RemoteChange { record_id: id.clone(), kind: Kind::Household, bytes };
    let billion = gridsync_core::chunk::lengthen_runs(&change(50, false), 50, 1_000_000_000).unwrap();
    let heavy: Vec<RemoteChange> = (0..5).map(|_| remote(change(12_499, true))).collect();
    let push = |name: &str, changes| wire::encode(&PushRequest { batch_id: name.into(), changes });
    vec![
        ("/v1/push", push("billion", vec![remote(billion)])),
        ("/v1/push", push("heavy", heavy)),
        ("/v1/heads", wire::encode(&wire::HeadsRequest { buckets: vec![0; 3_000_000] })),
    ]
}

/// What a phone calls itself reaches `admin devices` and the logs: a name with a
/// newline and ANSI escapes (a forged row) is refused.
#[test]
fn a_device_name_cannot_forge_an_admin_row() {
    let center = TestCenter::start();
    // A forged row; a name shown backwards (U+202E); a line break some viewers take.
    for name in ["phone\n0190f0f0  w-one  \u{1b}[2Jrevoked", "phone\u{202e}gnp.exe", "phone\u{2028}0190f0f0  revoked"] {
        let key = gridsync_core::sync::sign::DeviceKey::generate();
        let request = wire::EnrolRequest {
            code: center.code("w-one"),
            public_key: key.public_key().to_vec(),
            actor: hex::encode([0x68u8; 16]),
            device_name: name.into(),
            app_version: "1.0".into(),
        };
        let body = wire::encode(&request);
        let signed_by = signed(&key, "enrol", 1, "/v1/enrol", &body);
        let (status, answer) = post(center.running.addr, "/v1/enrol", &signed_by, &body);
        assert_eq!(status, 400, "{name:?}: {}", String::from_utf8_lossy(&answer));
        assert!(center.running.with(|c| c.devices()).unwrap().is_empty());
    }
}

/// An address over its rate is told to wait; another address is not. (Rates made small
/// here so the test does not depend on how fast this machine sends.)
#[test]
fn an_address_over_its_rate_is_told_to_wait_and_others_are_not() {
    use gridsync_center::limits::{Rate, Rates};
    let rates = Rates { address: Rate { per_second: 5.0, burst: 20.0 }, ..Rates::default() };
    let center = TestCenter::start_with_rates(rates);
    let from: std::net::IpAddr = [127, 0, 0, 2].into();
    let mut limited = 0;
    for _ in 0..100 {
        let junk = gridsync_tests::raw::connect_from(from, center.running.addr);
        let (status, answer) =
            post_on(junk, center.running.addr, "/v1/pull", &[("x-gridsync-device", "nobody".into())], b"junk");
        if status == 429 {
            limited += 1;
            assert_eq!(wire::decode::<ErrorBody>(&answer).unwrap().code, wire::ErrorCode::RateLimited);
        }
    }
    assert!(limited >= 50, "{limited} of 100 limited");
    // The honest phone comes from 127.0.0.1: untouched.
    let mut honest = center.phone("w-one", &center.url());
    honest.store.create(Sample::new(47).household(&micro(), 1)).unwrap();
    assert_eq!(honest.sync().unwrap().pushed, 1);
}
