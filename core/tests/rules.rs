//! The record rules on the phone: a change that breaks one, arriving by sync (from a
//! center that let it through, or a damaged one), is not applied; the record stays as
//! it was and the rest of the page applies (docs/protocol.md, "Rejection codes"). The
//! same rules at the center are tested in tests/scenarios/redteam.rs, and with arbitrary
//! automerge operations in center/tests/push_rules.rs.

#![allow(clippy::unwrap_used)] // a failure here is a test failure

mod common;

use automerge::transaction::{CommitOptions, Transactable, Transaction};
use automerge::{ActorId, Automerge, AutomergeError, Change, ObjType, ROOT, ReadDoc, Value};
use common::{Replica, grid};
use gridsync_core::doc::genesis_change;
use gridsync_core::sample::{Sample, follow_up};
use gridsync_core::store::RemoteChange;
use gridsync_core::{Incident, IncidentStatus, Kind, Step, Store};

/// A change made by another device with `ops`, on top of everything `store` holds of
/// record `id`.
fn forged(
    store: &Store,
    id: &str,
    kind: Kind,
    ops: impl FnOnce(&mut Transaction<'_>) -> Result<(), AutomergeError>,
) -> RemoteChange {
    let mut doc = Automerge::new();
    let mut changes = vec![Change::from_bytes(genesis_change(kind).to_vec()).unwrap()];
    for (_, change) in store.changes_after(0, u32::MAX).unwrap() {
        if change.record_id == id {
            changes.push(Change::from_bytes(change.bytes).unwrap());
        }
    }
    doc.apply_changes(changes).unwrap();
    doc.set_actor(ActorId::from([0x51u8; 16]));
    let mut tx = doc.transaction();
    ops(&mut tx).unwrap();
    tx.commit_with(CommitOptions::default().with_message("w-other").with_time(1_767_000_000_000));
    let change = doc.get_last_local_change().expect("the ops made a change").raw_bytes().to_vec();
    RemoteChange { record_id: id.to_owned(), kind, bytes: change }
}

fn timeline(tx: &Transaction<'_>) -> automerge::ObjId {
    match tx.get(ROOT, "timeline").unwrap() {
        Some((Value::Object(ObjType::List), list)) => list,
        other => panic!("{other:?}"),
    }
}

type Ops = Box<dyn FnOnce(&mut Transaction<'_>) -> Result<(), AutomergeError>>;

#[test]
fn a_phone_does_not_apply_changes_that_break_the_rules() {
    let mut phone = Replica::new("w-a");
    let household = phone.store.create(Sample::new(1).household(&grid(), 1)).unwrap();
    let incident = phone.store.create(Sample::new(1).incident(&grid(), 1, 1_767_000_000_000)).unwrap();
    phone.store.append_follow_up(&incident, follow_up(Step::Report, "w-a", 1)).unwrap();
    phone.store.append_follow_up(&incident, follow_up(Step::Accept, "w-a", 2)).unwrap();
    let cases: Vec<(&str, &str, Kind, Ops)> = vec![
        ("kind rewritten", &incident, Kind::Incident, Box::new(|tx| tx.put(ROOT, "kind", "person"))),
        ("v rewritten", &household, Kind::Household, Box::new(|tx| tx.put(ROOT, "v", 99))),
        (
            "notes replaced",
            &household,
            Kind::Household,
            Box::new(|tx| tx.put_object(ROOT, "notes", ObjType::Text).map(drop)),
        ),
        (
            "timeline entry deleted",
            &incident,
            Kind::Incident,
            Box::new(|tx| {
                let list = timeline(tx);
                tx.delete(&list, 0)
            }),
        ),
        (
            "unknown step",
            &incident,
            Kind::Incident,
            Box::new(|tx| {
                let list = timeline(tx);
                tx.insert(&list, 2, r#"{"id":"0190f0f0-0000-7000-8000-0000000000ee","at":1,"by":"w","step":"teleport","note":"","deadline":null,"supervision":null}"#)
            }),
        ),
        (
            "close from accepted",
            &incident,
            Kind::Incident,
            Box::new(|tx| {
                let list = timeline(tx);
                tx.insert(&list, 2, r#"{"id":"0190f0f0-0000-7000-8000-0000000000ef","at":1,"by":"w","step":"close","note":"","deadline":null,"supervision":null}"#)
            }),
        ),
        ("an invalid phone number", &household, Kind::Household, Box::new(|tx| tx.put(ROOT, "phone", "12345"))),
        ("an empty address", &household, Kind::Household, Box::new(|tx| tx.put(ROOT, "address", ""))),
        (
            "a map in tags",
            &household,
            Kind::Household,
            Box::new(|tx| {
                let Some((_, tags)) = tx.get(ROOT, "tags")? else { unreachable!() };
                tx.put_object(&tags, "x", ObjType::Map).map(drop)
            }),
        ),
    ];
    for (what, id, kind, ops) in cases {
        let before = phone.store.record_meta(id).unwrap();
        let change = forged(&phone.store, id, kind, ops);
        let outcome = phone.store.apply_remote(&[change]).unwrap();
        assert_eq!((outcome.refused, outcome.new_changes), (1, 0), "{what}");
        assert_eq!(phone.store.record_meta(id).unwrap(), before, "{what}: the record is as it was");
    }
    let state = phone.store.get::<Incident>(&incident).unwrap().record.state();
    assert_eq!(state.status, IncidentStatus::Accepted);

    // A record that does not start from its genesis.
    let mut rootless = Automerge::new().with_actor(ActorId::from([0x52u8; 16]));
    let mut tx = rootless.transaction();
    tx.put(ROOT, "kind", "household").unwrap();
    tx.commit_with(CommitOptions::default().with_message("w-other"));
    let id = "0190f0f0-0000-7000-8000-0000000000c1";
    let bytes = rootless.get_last_local_change().unwrap().raw_bytes().to_vec();
    let outcome =
        phone.store.apply_remote(&[RemoteChange { record_id: id.into(), kind: Kind::Household, bytes }]).unwrap();
    assert_eq!(outcome.refused, 1);
    assert!(phone.store.record_meta(id).is_err());
}

/// Every change `store` logged of record `id`, in log order.
fn logged(store: &Store, id: &str) -> Vec<RemoteChange> {
    store
        .changes_after(0, u32::MAX)
        .unwrap()
        .into_iter()
        .map(|(_, change)| change)
        .filter(|c| c.record_id == id)
        .collect()
}

#[test]
fn a_change_that_arrives_before_its_dependencies_waits_and_is_judged_once_they_arrive() {
    let mut origin = Replica::new("w-a");
    let incident = origin.store.create(Sample::new(1).incident(&grid(), 1, 1_767_000_000_000)).unwrap();
    origin.store.append_follow_up(&incident, follow_up(Step::Report, "w-a", 1)).unwrap();
    origin.store.append_follow_up(&incident, follow_up(Step::Accept, "w-a", 2)).unwrap();
    let in_order = logged(&origin.store, &incident);
    let heads = origin.store.record_meta(&incident).unwrap().heads;

    // Newest first, one request each: each step waits for its history, then applies.
    let mut phone = Replica::new("w-b");
    for change in in_order.iter().rev() {
        assert_eq!(phone.store.apply_remote(std::slice::from_ref(change)).unwrap().refused, 0);
    }
    assert_eq!(phone.store.record_meta(&incident).unwrap().heads, heads);
    assert_eq!(phone.store.get::<Incident>(&incident).unwrap().record.status(), IncidentStatus::Accepted);

    // Newest first in one request: logged in causal order, so a replica reading that
    // log one change at a time never has one waiting.
    let mut relay = Replica::new("w-c");
    let reversed: Vec<RemoteChange> = in_order.iter().rev().cloned().collect();
    assert_eq!(relay.store.apply_remote(&reversed).unwrap().refused, 0);
    assert_eq!(logged(&relay.store, &incident), in_order);

    // A step that breaks the rules waits like any other and is refused once its history
    // arrives: the record never shows it.
    let mut reported = Replica::new("w-d");
    reported.store.apply_remote(&in_order[..2]).unwrap();
    let close = forged(&reported.store, &incident, Kind::Incident, |tx| {
        let list = timeline(tx);
        tx.insert(&list, 1, r#"{"id":"0190f0f0-0000-7000-8000-0000000000f0","at":3,"by":"w","step":"close","note":"","deadline":null,"supervision":null}"#)
    });
    let mut target = Replica::new("w-e");
    let waiting = target.store.apply_remote(std::slice::from_ref(&close)).unwrap();
    assert_eq!((waiting.refused, waiting.waiting), (0, 1));
    let arrived = target.store.apply_remote(&in_order[..2]).unwrap();
    assert_eq!(arrived.refused, 2, "{arrived:?}");
    assert!(
        target.store.get::<Incident>(&incident).map_or(true, |s| s.record.status() != IncidentStatus::Closed),
        "a refused step shows"
    );
}
