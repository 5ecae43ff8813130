//! The record rules on the phone: a change that breaks one, arriving by sync (from a
//! center that let it through, or a damaged one), is not applied; the record stays as
//! it was and the rest of the page applies (docs/protocol.md, "Rejection codes"). The
//! same rules at the center are tested in tests/scenarios/redteam.rs. A property test
//! writes arbitrary automerge operations into records and checks that whatever is
//! applied leaves every record readable and the store consistent.

#![allow(clippy::unwrap_used)] // a failure here is a test failure

mod common;

use automerge::transaction::{CommitOptions, Transactable, Transaction};
use automerge::{ActorId, Automerge, AutomergeError, Change, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use common::{Replica, grid};
use gridsync_core::doc::genesis_change;
use gridsync_core::sample::{Sample, follow_up};
use gridsync_core::store::{Pusher, RemoteChange};
use gridsync_core::{Household, Incident, IncidentStatus, Kind, Step, Store};
use proptest::prelude::*;

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

/// Whether `ops` change anything on a fresh household (an op that deletes an absent key
/// makes no change).
fn changes_something(ops: &[Op]) -> bool {
    ops.iter().any(|op| !matches!(op, Op::Delete { .. } | Op::InSet { add: false, .. }))
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

/// One arbitrary operation on a record's document: where, what, which value.
#[derive(Debug, Clone)]
enum Op {
    Put { key: u8, value: u8 },
    Delete { key: u8 },
    Make { key: u8, list: bool },
    InSet { add: bool, member: u8 },
    Notes { at: u8, delete: bool },
}

const KEYS: &[&str] =
    &["address", "household_no", "phone", "gps", "kind", "v", "deleted", "tags", "notes", "future", "housing"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<u8>(), any::<u8>()).prop_map(|(key, value)| Op::Put { key, value }),
        any::<u8>().prop_map(|key| Op::Delete { key }),
        (any::<u8>(), any::<bool>()).prop_map(|(key, list)| Op::Make { key, list }),
        (any::<bool>(), any::<u8>()).prop_map(|(add, member)| Op::InSet { add, member }),
        (any::<u8>(), any::<bool>()).prop_map(|(at, delete)| Op::Notes { at, delete }),
    ]
}

fn value(pick: u8) -> ScalarValue {
    match pick % 6 {
        0 => ScalarValue::Str("幸福路1号".into()),
        1 => ScalarValue::Int(i64::from(pick)),
        2 => ScalarValue::Uint(u64::from(pick)),
        3 => ScalarValue::Boolean(pick.is_multiple_of(2)),
        4 => ScalarValue::F64(f64::from(pick) / 3.0),
        _ => ScalarValue::Str("owned".into()),
    }
}

fn run(tx: &mut Transaction<'_>, op: &Op) -> Result<(), AutomergeError> {
    let key = |k: u8| KEYS[usize::from(k) % KEYS.len()];
    match op {
        Op::Put { key: k, value: v } => tx.put(ROOT, key(*k), value(*v)),
        Op::Delete { key: k } => match tx.get(ROOT, key(*k))? {
            Some(_) => tx.delete(ROOT, key(*k)),
            None => Ok(()),
        },
        Op::Make { key: k, list } => {
            tx.put_object(ROOT, key(*k), if *list { ObjType::List } else { ObjType::Map }).map(drop)
        }
        Op::InSet { add, member } => match tx.get(ROOT, "tags")? {
            Some((Value::Object(ObjType::Map), tags)) if *add => tx.put(&tags, format!("t{member}").as_str(), true),
            Some((Value::Object(ObjType::Map), tags)) => match tx.get(&tags, format!("t{member}").as_str())? {
                Some(_) => tx.delete(&tags, format!("t{member}").as_str()),
                None => Ok(()),
            },
            _ => Ok(()),
        },
        Op::Notes { at, delete } => match tx.get(ROOT, "notes")? {
            Some((Value::Object(ObjType::Text), notes)) => {
                let len = tx.length(&notes);
                let at = usize::from(*at) % (len + 1);
                if *delete && at < len {
                    tx.splice_text(&notes, at, 1, "")
                } else {
                    tx.splice_text(&notes, at, 0, "记")
                }
            }
            _ => Ok(()),
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48),
        ..ProptestConfig::default()
    })]

    /// Arbitrary operations (any key of the layout or not, any value type, objects where
    /// there should be none) pushed to the center: refused with nothing stored, or
    /// accepted and the record reads and passes validation. Pulled by a phone: what it
    /// applies leaves the store consistent (projections rebuild).
    #[test]
    fn arbitrary_operations_never_leave_an_unreadable_record(ops in prop::collection::vec(op(), 1..6)) {
        prop_assume!(changes_something(&ops));
        let mut source = Replica::new("w-a");
        let id = source.store.create(Sample::new(3).household(&grid(), 1)).unwrap();
        let creation: Vec<RemoteChange> =
            source.store.changes_after(0, u32::MAX).unwrap().into_iter().map(|(_, c)| c).collect();
        let change = forged(&source.store, &id, Kind::Household, |tx| ops.iter().try_for_each(|op| run(tx, op)));

        let mut center = Replica::new("center");
        center.store.apply_remote(&creation).unwrap();
        let scope = gridsync_core::Scope::new([common::GRID]).unwrap();
        let key = gridsync_core::ids::TownshipKey::new(common::TOWNSHIP_KEY);
        let actor = hex::encode([0x51u8; 16]);
        let pusher = Pusher { device: "d", actor: &actor, worker: "w-other", scope: &scope, township_key: &key, area_registered: &|_| true };
        let before = center.store.record_meta(&id).unwrap();
        let outcome = center.store.accept_push(&pusher, std::slice::from_ref(&change)).unwrap();
        if outcome.rejected.is_empty() {
            let household = center.store.get::<Household>(&id);
            prop_assert!(household.is_ok(), "accepted, then unreadable: {:?}", household);
            prop_assert!(gridsync_core::Record::validate(&household.unwrap().record).is_ok());
        } else {
            prop_assert_eq!(center.store.record_meta(&id).unwrap(), before);
        }

        source.store.apply_remote(std::slice::from_ref(&change)).unwrap();
        prop_assert!(source.store.record_meta(&id).is_ok());
        source.store.rebuild_projections().unwrap();
    }
}
