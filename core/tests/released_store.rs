//! A phone database written by the first released schema (version 3) opens with this
//! build, migrates, and keeps every record, pending change and conflict.
//!
//! The fixture is never regenerated once committed: it stands for the phones in the
//! field. `GRIDSYNC_WRITE_FIXTURES=1` writes it only when it is missing.

#![allow(clippy::unwrap_used)] // a failure here is a test failure

mod common;

use common::{GRID, Replica, TOWNSHIP_KEY};
use gridsync_core::sample::{Sample, follow_up};
use gridsync_core::{AreaCode, DbKey, Household, Incident, IncidentStatus, Page, Step, Store};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/store-v3.db");
const KEY: [u8; 32] = [0x5a; 32];
const HOUSEHOLDS: u32 = 20;

fn area() -> AreaCode {
    AreaCode::parse("area_code", GRID).unwrap()
}

/// What the fixture holds: households with two members each, one of them 王芳; an
/// incident reported and accepted; a deleted household; a concurrent edit of one
/// household's phone (a conflict); and none of it pushed yet.
fn write_fixture() {
    assert_eq!(gridsync_core::store::SCHEMA_VERSION, 3, "the fixture stands for schema version 3");
    let mut store = Store::open(FIXTURE, DbKey::Raw(&KEY)).unwrap();
    store.set_worker("w-fixture").unwrap();
    store.set_township_key(TOWNSHIP_KEY).unwrap();
    let mut sample = Sample::new(2026);
    let mut households = Vec::new();
    for n in 0..HOUSEHOLDS {
        let id = store.create(sample.household(&area(), n)).unwrap();
        for relationship in ["02", "10"] {
            let mut person = sample.person(&area(), Some((&id, relationship)));
            if n == 0 && relationship == "02" {
                person.name = "王芳".into();
            }
            store.create(person).unwrap();
        }
        households.push(id);
    }
    let incident = store.create(sample.incident(&area(), 1, 1_760_000_000_000)).unwrap();
    store.append_follow_up(&incident, follow_up(Step::Report, "w-fixture", 1_760_000_000_000)).unwrap();
    store.append_follow_up(&incident, follow_up(Step::Accept, "w-fixture", 1_760_000_100_000)).unwrap();
    store.delete(&households[1]).unwrap();
    // A second phone edits the same household's phone concurrently.
    let mut other = Replica::new("w-other");
    let changes: Vec<_> = store.changes_after(0, u32::MAX).unwrap().into_iter().map(|(_, c)| c).collect();
    other.store.apply_remote(&changes).unwrap();
    for (store, phone) in [(&mut store, "13900000011"), (&mut other.store, "13900000022")] {
        let mut household: Household = store.get(&households[2]).unwrap().record;
        household.phone = Some(phone.into());
        store.replace(&households[2], household).unwrap();
    }
    let theirs: Vec<_> = other.store.changes_after(0, u32::MAX).unwrap().into_iter().map(|(_, c)| c).collect();
    store.apply_remote(&theirs).unwrap();
}

#[test]
fn a_database_of_the_first_released_schema_opens_and_migrates() {
    if !std::path::Path::new(FIXTURE).exists() && std::env::var_os("GRIDSYNC_WRITE_FIXTURES").is_some() {
        write_fixture();
    }
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("phone.db");
    std::fs::copy(FIXTURE, &path).expect("the fixture is committed");
    let mut store = Store::open(&path, DbKey::Raw(&KEY)).unwrap();

    let households = store.list_households("", &Page::first(100)).unwrap().items;
    assert_eq!(households.len() as u32, HOUSEHOLDS - 1, "the deleted household is not listed");
    assert_eq!(store.list_persons("", &Page::first(100)).unwrap().items.len() as u32, HOUSEHOLDS * 2);
    let found = store.search_persons("王芳", "", 5).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(store.search_persons("wf", "", 50).unwrap().iter().filter(|p| p.name == "王芳").count(), 1);
    assert_eq!(store.household_members(&found[0].household_id.clone().unwrap()).unwrap().len(), 2);
    let incident = store.list_incidents("", gridsync_core::store::IncidentFilter::All, &Page::first(5)).unwrap().items;
    assert_eq!(store.get::<Incident>(&incident[0].id).unwrap().record.status(), IncidentStatus::Accepted);
    let conflicted = store.list_conflicted("", &Page::first(5)).unwrap().items;
    assert_eq!(conflicted.len(), 1);
    assert_eq!(store.conflicts(&conflicted[0].id).unwrap()[0].field, "phone");
    // Nothing was pushed before the upgrade: all of it still waits for the center.
    let made = store.change_audit().unwrap().made_here;
    assert_eq!(store.sync_status().unwrap().pending_changes, made);
    assert_eq!(store.worker(), "w-fixture");

    // The upgraded store takes new writes and rebuilds its projections the same.
    let id = store.create(Sample::new(1).household(&area(), 99)).unwrap();
    assert!(store.get::<Household>(&id).is_ok());
    let before = store.list_persons("", &Page::first(100)).unwrap();
    store.rebuild_projections().unwrap();
    assert_eq!(store.list_persons("", &Page::first(100)).unwrap(), before);
}
