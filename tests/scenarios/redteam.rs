//! A stolen phone against the center: an enrolled device with a valid key, scope and
//! township key sends what automerge allows and no honest client writes. Each attack is
//! refused with its typed code, nothing it sent is stored, and an honest phone of the
//! same grid keeps syncing (docs/security.md, "A stolen phone").

use std::io::Write;

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc, ScalarValue, Value};
use gridsync_core::doc::{Author, RecordDoc};
use gridsync_core::sample::{Sample, follow_up};
use gridsync_core::store::{MAX_FETCH_RECORDS, RemoteChange};
use gridsync_core::sync::wire::{self, ErrorBody, FetchRequest, FetchResponse, PushRequest, PushResponse, RejectCode};
use gridsync_core::{AreaCode, IdType, Kind, Step};
use gridsync_tests::raw::{RawDevice, forged_change, post, raw_device, signed};
use gridsync_tests::{Figures, GRID_ONE, TestCenter};

fn micro() -> AreaCode {
    AreaCode::parse("area_code", &format!("{GRID_ONE}01")).unwrap()
}

/// What the center answered a push: the status, the rejection codes, the error body.
fn push(center: &TestCenter, device: &mut RawDevice, changes: Vec<RemoteChange>) -> (u16, Vec<RejectCode>, String) {
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
    honest.store.append_follow_up(&incident, follow_up(Step::Accept, "w-one", 1_767_000_000_002)).unwrap();
    let visit_target = gridsync_core::VisitTarget::Household(household.clone());
    let visit = honest.store.create(Sample::new(9).visit(&area, visit_target, 1_767_000_000_000, "w-one")).unwrap();
    honest
        .store
        .append_finding(&visit, gridsync_core::Finding { at: 1, by: "w-one".into(), text: "屋顶漏水".into() })
        .unwrap();
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
            "close straight from accepted",
            &incident,
            Kind::Incident,
            RejectCode::IllegalStep,
            Box::new(move |tx| {
                let list = timeline(tx, "timeline");
                tx.insert(
                    &list,
                    2,
                    r#"{"id":"0190f0f0-0000-7000-8000-0000000000ef","at":1,"by":"w-one","step":"close"}"#,
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
    let key = gridsync_core::ids::TownshipKey::new(&center.running.with(|c| c.township_key()).unwrap());
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

#[test]
fn a_compressed_change_is_refused_before_it_is_inflated() {
    let center = TestCenter::start();
    let mut attacker = Attacker::new(&center);
    // An automerge compressed change chunk: raw DEFLATE of 64 MiB of zeros (about 64 KiB),
    // a bogus checksum. automerge would inflate it, unbounded, before any check.
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
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
    let change =
        RemoteChange { record_id: "0190f0f0-0000-7000-8000-0000000000ab".into(), kind: Kind::Household, bytes: chunk };
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
