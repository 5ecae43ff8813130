//! The center's push rules under arbitrary input, as property tests: arbitrary automerge
//! operations written into a record, and real changes corrupted, truncated, relabelled
//! or replaced by junk. Whatever is pushed, the center refuses it with nothing stored, or
//! accepts it and the record reads and passes validation; nothing panics. (The phone's
//! side of the same inputs: core/tests/rules.rs and core/tests/untrusted.rs.)

#![allow(clippy::unwrap_used)] // a failure here is a test failure

use automerge::transaction::{CommitOptions, Transactable, Transaction};
use automerge::{ActorId, Automerge, AutomergeError, Change, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use gridsync_center::Center;
use gridsync_center::center::Device;
use gridsync_core::doc::genesis_change;
use gridsync_core::sample::{Sample, follow_up};
use gridsync_core::store::RemoteChange;
use gridsync_core::sync::wire::{DigestResponse, PushRequest};
use gridsync_core::{AreaCode, DbKey, Household, Kind, Scope, Step, Store};
use proptest::prelude::*;
use spoil::{apply_spoil, spoil};
use tempfile::TempDir;

#[path = "../../core/tests/common/spoil.rs"]
mod spoil;

const GRID: &str = "44010601200300102";

/// A center on an embedded database in a temporary folder.
struct TestDb {
    center: Center,
    _dir: TempDir,
}

fn center() -> TestDb {
    let dir = TempDir::new().unwrap();
    TestDb { center: Center::open(&dir.path().join("center.db")).unwrap(), _dir: dir }
}

/// A phone's store, for making real changes.
fn phone(dir: &TempDir, worker: &str) -> Store {
    let mut store = Store::open(dir.path().join("phone.db"), DbKey::Raw(&[3; 32])).unwrap();
    store.set_worker(worker).unwrap();
    store.set_township_key(b"township-440106012-test-secret").unwrap();
    store
}

fn changes_of(store: &Store) -> Vec<RemoteChange> {
    store.changes_after(0, u32::MAX).unwrap().into_iter().map(|(_, c)| c).collect()
}

/// The device with `actor` (hex) enrolled for `worker` over the grid.
fn device(actor: &str, worker: &str) -> Device {
    Device {
        id: format!("device-{worker}"),
        worker_id: worker.to_owned(),
        actor: actor.to_owned(),
        scope: Scope::new([GRID]).unwrap(),
        role: gridsync_core::Role::GridWorker,
    }
}

/// Pushes `changes` as `device`: whether the center accepted them all.
fn push(center: &Center, device: &Device, changes: &[RemoteChange]) -> bool {
    let request = PushRequest { batch_id: uuid::Uuid::now_v7().to_string(), changes: changes.to_vec() };
    matches!(center.push(device, &request), Ok((_, false)))
}

/// What the center holds: its change log's counts and the digest of every record.
fn held(center: &Center) -> (u64, DigestResponse) {
    (center.log_audit().unwrap().rows, center.digest_of(&[String::new()]).unwrap())
}

/// A change by actor 0x51 naming `w-other`, made by `ops` on top of what the center
/// holds of record `id`; `None` when the ops change nothing (automerge makes no change
/// for a value put over the same value).
fn forged(
    center: &Center,
    id: &str,
    kind: Kind,
    ops: impl FnOnce(&mut Transaction<'_>) -> Result<(), AutomergeError>,
) -> Option<RemoteChange> {
    let mut doc = match center.record_doc(id).unwrap() {
        Some(held) => Automerge::load(&held.save()).unwrap(),
        None => {
            let mut doc = Automerge::new();
            doc.apply_changes([Change::from_bytes(genesis_change(kind).to_vec()).unwrap()]).unwrap();
            doc
        }
    };
    doc.set_actor(ActorId::from([0x51u8; 16]));
    let mut tx = doc.transaction();
    ops(&mut tx).unwrap();
    tx.commit_with(CommitOptions::default().with_message("w-other").with_time(1_767_000_000_000)).0?;
    let change = doc.get_last_local_change()?.raw_bytes().to_vec();
    Some(RemoteChange { record_id: id.to_owned(), kind, bytes: change })
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
        let dir = TempDir::new().unwrap();
        let mut source = phone(&dir, "w-a");
        let id = source.create(Sample::new(3).household(&grid(), 1)).unwrap();
        let db = center();
        prop_assert!(push(&db.center, &device(&source.device_actor(), "w-a"), &changes_of(&source)));
        let change = forged(&db.center, &id, Kind::Household, |tx| ops.iter().try_for_each(|op| run(tx, op)));
        prop_assume!(change.is_some());
        let change = change.unwrap();

        let before = held(&db.center);
        if push(&db.center, &device(&hex::encode([0x51u8; 16]), "w-other"), std::slice::from_ref(&change)) {
            let household = db.center.record_doc(&id).unwrap().unwrap().read::<Household>();
            prop_assert!(household.is_ok(), "accepted, then unreadable: {:?}", household);
            prop_assert!(gridsync_core::Record::validate(&household.unwrap()).is_ok());
        } else {
            prop_assert_eq!(held(&db.center), before);
        }

        source.apply_remote(std::slice::from_ref(&change)).unwrap();
        prop_assert!(source.record_meta(&id).is_ok());
        source.rebuild_projections().unwrap();
    }

    /// Real changes of every kind, spoiled, pushed to a center: an accepted batch or a
    /// refusal with nothing stored, never a panic.
    #[test]
    fn spoiled_changes_fail_cleanly_at_the_center(
        which in any::<prop::sample::Index>(),
        spoils in prop::collection::vec(spoil(), 1..3),
        keep_valid in any::<bool>(),
    ) {
        let (changes, author) = material();
        let mut spoiled = changes.clone();
        let target = which.index(spoiled.len());
        for spoil in &spoils {
            let change = &mut spoiled[target];
            apply_spoil(&mut change.bytes, &mut change.kind, spoil);
        }
        if !keep_valid {
            spoiled = vec![spoiled[target].clone()];
        }
        let db = center();
        let before = held(&db.center);
        if !push(&db.center, &device(author, "w-source"), &spoiled) {
            prop_assert_eq!(held(&db.center), before);
        }
    }
}

/// Real changes of every kind, made once, and their author's actor.
fn material() -> &'static (Vec<RemoteChange>, String) {
    static MATERIAL: std::sync::OnceLock<(Vec<RemoteChange>, String)> = std::sync::OnceLock::new();
    MATERIAL.get_or_init(|| {
        let dir = TempDir::new().unwrap();
        let mut source = phone(&dir, "w-source");
        let mut sample = Sample::new(31);
        let household = source.create(sample.household(&grid(), 1)).unwrap();
        source.create(sample.person(&grid(), Some((&household, "02")))).unwrap();
        let incident = source.create(sample.incident(&grid(), 1, 1_760_000_000_000)).unwrap();
        source.append_follow_up(&incident, follow_up(Step::Report, "w-source", 1_760_000_000_000)).unwrap();
        (changes_of(&source), source.device_actor())
    })
}

fn grid() -> AreaCode {
    AreaCode::parse("area_code", GRID).unwrap()
}
