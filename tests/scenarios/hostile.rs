//! Hostile and malformed input. At the center: garbage compression, malformed change
//! bytes, extremely long values, SQL metacharacters and control characters in every text
//! field, invalid UTF-8, a device asking for another area or changing a record outside
//! its scope; each is a 4xx, stores nothing, and the center keeps serving. At the phone:
//! a garbled or hostile pull is a typed error and the phone keeps its data.

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc, Value};
use gridsync_core::sample::Sample;
use gridsync_core::store::RemoteChange;
use gridsync_core::sync::wire::{self, Cursor, ErrorBody, ErrorCode, PullRequest, PullResponse, PushRequest};
use gridsync_core::{AreaCode, Error, Household, Kind, Page, Person};
use gridsync_tests::proxy::FaultProxy;
use gridsync_tests::raw::{RawDevice, forged_change, raw_device};
use gridsync_tests::{Figures, GRID_ONE, GRID_TWO, Phone, TOWNSHIP, TestCenter, refusals};

fn micro(grid: &str) -> AreaCode {
    AreaCode::parse("area_code", &format!("{grid}01")).unwrap()
}

/// A change by `actor` (hex) that sets `field` of record `id` to `value`, on top of
/// everything the center holds of it: what a tampered client could send.
fn crafted_change(center: &TestCenter, id: &str, kind: Kind, actor: &str, field: &str, value: &str) -> RemoteChange {
    forged_change(center, id, kind, actor, "w-one", |tx| match tx.get(ROOT, field)? {
        Some((Value::Object(ObjType::Text), text)) => tx.splice_text(&text, 0, 0, value),
        _ => tx.put(ROOT, field, value),
    })
}

fn error_code(body: &[u8]) -> Option<ErrorCode> {
    wire::decode::<ErrorBody>(body).ok().map(|e| e.code)
}

/// Posts a push of `changes` and returns the status and the refusal reasons.
fn push(center: &TestCenter, device: &mut RawDevice, changes: Vec<RemoteChange>) -> (u16, Vec<String>) {
    let body = wire::encode(&PushRequest { batch_id: format!("b{}", device.counter), changes });
    let (status, answer) = device.post(center, "/v1/push", &body);
    let reasons = wire::decode::<wire::PushResponse>(&answer)
        .map(|r| r.rejected.into_iter().map(|r| r.reason).collect())
        .unwrap_or_else(|_| vec![String::from_utf8_lossy(&answer).into_owned()]);
    (status, reasons)
}

#[test]
fn hostile_bodies_are_refused_with_a_4xx_and_store_nothing() {
    let mut figures = Figures::new("hostile bodies");
    let center = TestCenter::start();
    let mut phone = center.phone("w-one", &center.url());
    let household = phone.store.create(Sample::new(5).household(&micro(GRID_ONE), 1)).unwrap();
    let person = phone.store.create(Sample::new(5).person(&micro(GRID_ONE), Some((&household, "02")))).unwrap();
    phone.sync().unwrap();
    let actor = hex::encode([0x42u8; 16]);
    let mut device = raw_device(&center, "w-one", &actor);
    let stored = center.changes();
    let mut expect_4xx = |status: u16, what: &str| {
        assert!((400..500).contains(&status), "{what}: answered {status}");
        figures.cases += 1;
    };

    // Envelopes that do not decode.
    let valid = wire::encode(&PushRequest { batch_id: "x".repeat(300), changes: vec![] });
    let mut garbage_compression = valid[..6].to_vec();
    garbage_compression.extend_from_slice(&[0x28, 0xb5, 0x2f, 0xfd, 0xff, 0xff, 0x00, 0x13, 0x37]);
    let mut bomb = valid[..6].to_vec(); // declares far more than the payload limit
    bomb.extend(zstd::bulk::compress(&vec![0u8; 40 << 20], 19).unwrap());
    let mut bad_utf8 = wire::encode(&PushRequest { batch_id: "AAAA".into(), changes: vec![] });
    let at = bad_utf8.windows(4).position(|w| w == b"AAAA").unwrap();
    bad_utf8[at..at + 2].copy_from_slice(&[0xff, 0xfe]);
    for (what, body) in [
        ("empty", Vec::new()),
        ("truncated header", b"GS".to_vec()),
        ("wrong magic", b"XYZ\x01\x00\x00abc".to_vec()),
        ("future major version", b"GSY\x09\x00\x00".to_vec()),
        ("garbage compression", garbage_compression),
        ("decompression bomb", bomb),
        ("invalid UTF-8", bad_utf8),
        ("truncated envelope", valid[..valid.len() - 20].to_vec()),
    ] {
        let (status, answer) = device.post(&center, "/v1/push", &body);
        expect_4xx(status, what);
        assert!(error_code(&answer).is_some(), "{what}: the refusal is an error envelope");
    }

    // Changes that do not parse as automerge.
    let real = crafted_change(&center, &household, Kind::Household, &actor, "notes", "补充");
    for (what, bytes) in [
        ("garbage change", b"\x85\x6f\x4a\x83garbage".to_vec()),
        ("truncated change", real.bytes[..real.bytes.len() / 2].to_vec()),
        ("empty change", Vec::new()),
    ] {
        let change = RemoteChange { bytes, ..real.clone() };
        expect_4xx(push(&center, &mut device, vec![change]).0, what);
    }
    // A real change claimed for another record or another kind.
    let elsewhere = RemoteChange { record_id: person.clone(), ..real.clone() };
    expect_4xx(push(&center, &mut device, vec![elsewhere]).0, "change for another record");
    let other_kind = RemoteChange { kind: Kind::Person, ..real.clone() };
    expect_4xx(push(&center, &mut device, vec![other_kind]).0, "change of another kind");

    // A change over the per-change limit is refused before automerge parses it.
    let huge = crafted_change(&center, &household, Kind::Household, &actor, "notes", &"长".repeat(100_000));
    let (status, reasons) = push(&center, &mut device, vec![huge]);
    assert_eq!(status, 413, "a 300 KB change: {reasons:?}");
    figures.cases += 1;

    // Values no honest client writes, in every text field: refused naming the field.
    let long = "长".repeat(20_000);
    let cases: Vec<(&str, Kind, &str)> = ["household_no", "address", "notes"]
        .iter()
        .map(|f| (household.as_str(), Kind::Household, *f))
        .chain(
            ["name", "former_name", "registered_address", "current_address", "occupation", "notes"]
                .iter()
                .map(|f| (person.as_str(), Kind::Person, *f)),
        )
        .collect();
    for (id, kind, field) in &cases {
        for (what, value) in [("control characters", "王\u{0}芳\u{7}\u{1b}[2J"), ("extremely long", long.as_str())] {
            let change = crafted_change(&center, id, *kind, &actor, field, value);
            let (status, reasons) = push(&center, &mut device, vec![change]);
            assert_eq!(status, 422, "{what} in {field}: {reasons:?}");
            assert!(reasons.iter().any(|r| r.contains(field)), "{what}: the reason names {field}: {reasons:?}");
            figures.cases += 1;
        }
    }
    assert_eq!(center.changes(), stored, "nothing from a refused request is stored");

    // SQL metacharacters are data: stored and served back verbatim, the tables intact.
    let sql = "';DROP TABLE records;--\"%_\\";
    for (id, kind, field) in &cases {
        let change = crafted_change(&center, id, *kind, &actor, field, sql);
        let (status, reasons) = push(&center, &mut device, vec![change]);
        assert_eq!(status, 200, "{field}: {reasons:?}");
        figures.cases += 1;
    }
    phone.sync().unwrap();
    let got: Household = phone.store.get(&household).unwrap().record;
    assert!(got.address.contains("DROP TABLE") && got.notes.contains("DROP TABLE"));
    assert_eq!(phone.store.get::<Person>(&person).unwrap().record.name, sql);
    assert_eq!(center.replica().list_households("", &Page::first(10)).unwrap().items.len(), 1);

    // The center kept serving through all of it.
    let pull = wire::encode(&PullRequest { cursor: Cursor::fresh(), max_items: 10, max_bytes: 100_000 });
    assert_eq!(device.post(&center, "/v1/pull", &pull).0, 200);
    figures.refused = refusals(&center);
    assert_eq!(center.internal_errors(), 0, "no request made the center fail");
    figures.report();
}

#[test]
fn a_device_cannot_reach_outside_its_scope() {
    let mut figures = Figures::new("scope attacks");
    let center = TestCenter::start();
    let mut one = center.phone("w-one", &center.url());
    let mut two = center.phone("w-two", &center.url());
    let theirs = two.store.create(Sample::new(6).household(&micro(GRID_TWO), 1)).unwrap();
    two.sync().unwrap();
    let mut device = raw_device(&center, "w-one", &hex::encode([0x43u8; 16]));

    // Asking for another area, or a wider one, is refused.
    for prefixes in [vec![GRID_TWO.to_owned()], vec![TOWNSHIP.to_owned()], vec![GRID_ONE.into(), GRID_TWO.into()]] {
        let cursor = Cursor::Bootstrap { prefixes: Some(prefixes.clone()), after_id: String::new(), resume: None };
        let body = wire::encode(&PullRequest { cursor, max_items: 100, max_bytes: 1 << 20 });
        let (status, answer) = device.post(&center, "/v1/pull", &body);
        assert_eq!((status, error_code(&answer)), (403, Some(ErrorCode::OutOfScope)), "{prefixes:?}");
        figures.cases += 1;
    }
    // Fetching a record of another area by id returns nothing of it.
    let body = wire::encode(&wire::FetchRequest { record_ids: vec![theirs.clone()] });
    let (status, answer) = device.post(&center, "/v1/fetch", &body);
    assert_eq!(status, 200);
    assert!(wire::decode::<wire::FetchResponse>(&answer).unwrap().snapshots.is_empty());
    figures.cases += 1;

    // A record that was always outside: the phone got it by other means and changed it.
    one.store.set_scope(gridsync_core::Scope::new([GRID_ONE, GRID_TWO]).unwrap()).unwrap();
    let changes: Vec<RemoteChange> =
        two.store.changes_after(0, u32::MAX).unwrap().into_iter().map(|(_, c)| c).collect();
    one.store.apply_remote(&changes).unwrap();
    let mut changed: Household = one.store.get(&theirs).unwrap().record;
    changed.notes = "越权修改".into();
    one.store.replace(&theirs, changed).unwrap();
    // And one inside that it moves out.
    let mine = one.store.create(Sample::new(7).household(&micro(GRID_ONE), 2)).unwrap();
    let first = one.sync().unwrap();
    assert_eq!((first.pushed, first.quarantined), (1, 1), "{first:?}");
    one.store.set_scope(gridsync_core::Scope::new([GRID_ONE, GRID_TWO]).unwrap()).unwrap();
    let mut moved: Household = one.store.get(&mine).unwrap().record;
    moved.area_code = micro(GRID_TWO);
    one.store.replace(&mine, moved).unwrap();
    let before = center.changes();
    let report = one.sync().unwrap();
    assert_eq!(report.quarantined, 1, "{report:?}");
    assert_eq!(center.changes(), before, "nothing stored");
    let quarantined = one.store.quarantined().unwrap();
    assert!(quarantined.iter().all(|q| q.code == "out_of_scope"), "{quarantined:?}");
    figures.cases += 2;
    two.sync().unwrap();
    assert_eq!(two.store.get::<Household>(&theirs).unwrap().record.notes, "", "grid two never sees the change");
    figures.refused = refusals(&center) + first.quarantined + report.quarantined;
    figures.report();
}

#[test]
fn a_garbled_or_hostile_pull_is_a_typed_error_and_the_phone_keeps_its_data() {
    let mut figures = Figures::new("hostile pulls");
    let center = TestCenter::start();
    let proxy = FaultProxy::start(center.running.addr);
    let mut source = center.phone("w-one-b", &center.url());
    for n in 0..5 {
        source.store.create(Sample::new(8).household(&micro(GRID_ONE), n)).unwrap();
    }
    source.sync().unwrap();
    let mut phone = Phone::enrol(&proxy.url(), &center.code("w-one"), gridsync_tests::config());
    phone.sync().unwrap();
    let heads = phone.store.heads_in_area("").unwrap();
    let cursor = phone.store.sync_cursor().unwrap();

    let page = |changes: Vec<RemoteChange>, snapshots: Vec<wire::Snapshot>| {
        wire::encode(&PullResponse {
            snapshots,
            changes,
            cursor: Cursor::Changes { after: 1_000_000 },
            more: false,
            remaining: 0,
            scope: vec![GRID_ONE.into()],
        })
    };
    let id = heads[0].0.clone();
    let hostile = [
        ("garbage", b"\xde\xad\xbe\xef".to_vec()),
        (
            "garbage change",
            page(vec![RemoteChange { record_id: id.clone(), kind: Kind::Household, bytes: b"junk".to_vec() }], vec![]),
        ),
        (
            "garbage snapshot",
            page(
                vec![],
                vec![wire::Snapshot { record_id: id.clone(), kind: Kind::Household, document: b"junk".to_vec() }],
            ),
        ),
        (
            "bad record id",
            page(
                vec![],
                vec![wire::Snapshot {
                    record_id: "'; DROP TABLE records;--".into(),
                    kind: Kind::Household,
                    document: b"junk".to_vec(),
                }],
            ),
        ),
    ];
    for (what, body) in hostile {
        // Nothing to push: the pull is the first request.
        assert_eq!(phone.store.sync_status().unwrap().pending_changes, 0);
        proxy.faults.answers.lock().unwrap().push_back(body);
        let err = phone.sync().unwrap_err();
        assert!(matches!(err, Error::Protocol(_) | Error::Document(_)), "{what}: {err}");
        assert_eq!(phone.store.sync_cursor().unwrap(), cursor, "{what}: the cursor stays");
        figures.cases += 1;
        figures.faults += 1;
    }
    proxy.faults.corrupt_responses.store(1, std::sync::atomic::Ordering::SeqCst);
    assert!(matches!(phone.sync().unwrap_err(), Error::Protocol(_)));
    figures.faults += 1;
    for (id, _) in &heads {
        assert!(phone.store.get::<Household>(id).is_ok(), "the phone keeps its data");
    }
    // The honest center again: everything carries on.
    phone.sync().unwrap();
    assert!(phone.verify().unwrap().equal_before);
    figures.report();
}
