//! Merge scenarios: what two phones that edited offline see after they exchange.

mod common;

use common::{Replica, exchange, grid, send, wang_fang};
use gridsync_core::sample::{Sample, follow_up};
use gridsync_core::store::IncidentFilter;
use gridsync_core::{Error, Household, Incident, IncidentStatus, Page, Person, Step};
use serde_json::json;

#[test]
fn one_person_registered_on_two_phones_becomes_one_record() {
    let (mut a, mut b) = (Replica::new("w-a"), Replica::new("w-b"));
    let id_a = a.store.create(wang_fang()).unwrap();
    let id_b = b.store.create(wang_fang()).unwrap();
    assert_eq!(id_a, id_b, "the id derives from the ID number");

    let mut on_a = a.store.get::<Person>(&id_a).unwrap().record;
    on_a.phone = Some("13800138000".into());
    a.store.replace(&id_a, on_a).unwrap();
    let mut on_b = b.store.get::<Person>(&id_b).unwrap().record;
    on_b.occupation = Some("务农".into());
    b.store.replace(&id_b, on_b).unwrap();

    exchange(&mut a, &mut b);
    let merged = a.store.get::<Person>(&id_a).unwrap();
    assert_eq!(merged.record.phone.as_deref(), Some("13800138000"));
    assert_eq!(merged.record.occupation.as_deref(), Some("务农"));
    assert_eq!(merged, b.store.get::<Person>(&id_b).unwrap());
    assert_eq!(a.store.list_persons("", &Page::first(10)).unwrap().items.len(), 1);
    // Both registered the same values: that is no conflict.
    assert!(a.store.conflicts(&id_a).unwrap().is_empty());
    // The history shows two registrations, one per phone, then each phone's edit.
    let history = a.store.history(&id_a).unwrap();
    let registered: Vec<&str> = history.iter().filter(|e| e.registers).map(|e| e.worker.as_str()).collect();
    assert_eq!(registered.len(), 2, "{history:?}");
    assert!(registered.contains(&"w-a") && registered.contains(&"w-b"));
    assert_eq!(history.iter().filter(|e| !e.registers).count(), 2);
}

#[test]
fn concurrent_edits_of_one_field_are_shown_and_resolved() {
    let (mut a, mut b) = (Replica::new("w-a"), Replica::new("w-b"));
    let id = a.store.create(Sample::new(1).household(&grid(), 1)).unwrap();
    send(&a, &mut b);

    let mut on_a = a.store.get::<Household>(&id).unwrap().record;
    on_a.address = "幸福路1号".into();
    a.store.replace(&id, on_a).unwrap();
    let mut on_b = b.store.get::<Household>(&id).unwrap().record;
    on_b.address = "幸福路2号".into();
    on_b.housing = gridsync_core::Housing::Rented;
    b.store.replace(&id, on_b).unwrap();
    exchange(&mut a, &mut b);

    let conflicts = a.store.conflicts(&id).unwrap();
    assert_eq!(conflicts, b.store.conflicts(&id).unwrap(), "every replica lists the same conflicts");
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0].field, "address");
    let values: Vec<_> = conflicts[0].values.iter().map(|v| (v.value.clone(), v.worker.as_str())).collect();
    assert_eq!(values, [(json!("幸福路1号"), "w-a"), (json!("幸福路2号"), "w-b")]);
    assert_eq!(a.store.list_conflicted("4401", &Page::first(10)).unwrap().items.len(), 1);

    a.store.resolve(&id, "address", &json!("幸福路2号")).unwrap();
    exchange(&mut a, &mut b);
    for replica in [&a, &b] {
        assert!(replica.store.conflicts(&id).unwrap().is_empty());
        assert_eq!(replica.store.get::<Household>(&id).unwrap().record.address, "幸福路2号");
        assert!(replica.store.list_conflicted("4401", &Page::first(10)).unwrap().items.is_empty());
    }
    // A resolution must still be a valid record.
    assert!(matches!(a.store.resolve(&id, "phone", &json!("123")), Err(Error::Invalid(e)) if e.field == "phone"));
}

#[test]
fn concurrent_moves_of_a_person_surface_as_a_conflict() {
    let (mut a, mut b) = (Replica::new("w-a"), Replica::new("w-b"));
    let mut sample = Sample::new(2);
    let home = a.store.create(sample.household(&grid(), 1)).unwrap();
    let east = a.store.create(sample.household(&grid(), 2)).unwrap();
    let west = a.store.create(sample.household(&grid(), 3)).unwrap();
    let person = a.store.create(sample.person(&grid(), Some((&home, "20")))).unwrap();
    send(&a, &mut b);

    for (replica, to) in [(&mut a, &east), (&mut b, &west)] {
        let mut moved = replica.store.get::<Person>(&person).unwrap().record;
        moved.household_id = Some(to.clone());
        replica.store.replace(&person, moved).unwrap();
    }
    exchange(&mut a, &mut b);
    let conflicts = a.store.conflicts(&person).unwrap();
    assert_eq!(conflicts.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(), ["household_id"]);
    // Member lists are derived from the winning value, identically everywhere.
    let members = |r: &Replica, h: &str| r.store.household_members(h).unwrap().len();
    assert_eq!(members(&a, &home), 0);
    assert_eq!(members(&a, &east) + members(&a, &west), 1);
    assert_eq!((members(&a, &east), members(&a, &west)), (members(&b, &east), members(&b, &west)));
}

#[test]
fn a_delete_concurrent_with_an_edit_keeps_the_edit_and_stays_deleted() {
    let (mut a, mut b) = (Replica::new("w-a"), Replica::new("w-b"));
    let id = a.store.create(Sample::new(1).household(&grid(), 1)).unwrap();
    send(&a, &mut b);
    a.store.delete(&id).unwrap();
    let mut edited = b.store.get::<Household>(&id).unwrap().record;
    edited.notes = "已核实".into();
    b.store.replace(&id, edited.clone()).unwrap();
    exchange(&mut a, &mut b);
    for replica in [&a, &b] {
        let stored = replica.store.get::<Household>(&id).unwrap();
        assert!(stored.deleted);
        assert_eq!(stored.record, edited);
        assert!(replica.store.list_households("", &Page::first(10)).unwrap().items.is_empty());
    }
    b.store.restore(&id).unwrap();
    send(&b, &mut a);
    assert!(!a.store.get::<Household>(&id).unwrap().deleted);
}

#[test]
fn notes_edited_on_two_phones_keep_both_edits() {
    let (mut a, mut b) = (Replica::new("w-a"), Replica::new("w-b"));
    let mut household = Sample::new(1).household(&grid(), 1);
    household.notes = "户主务工。".into();
    let id = a.store.create(household.clone()).unwrap();
    send(&a, &mut b);
    household.notes = "户主务工。老人独居。".into();
    a.store.replace(&id, household.clone()).unwrap();
    household.notes = "户主务工，春节返乡。".into();
    b.store.replace(&id, household).unwrap();
    exchange(&mut a, &mut b);
    let notes = a.store.get::<Household>(&id).unwrap().record.notes;
    assert!(notes.contains("老人独居") && notes.contains("春节返乡"), "{notes}");
    assert_eq!(notes, b.store.get::<Household>(&id).unwrap().record.notes);
}

#[test]
fn an_incident_closed_on_one_phone_and_escalated_on_another_is_flagged() {
    let (mut a, mut b) = (Replica::new("w-a"), Replica::new("w-b"));
    let id = a.store.create(Sample::new(1).incident(&grid(), 1, 1_000)).unwrap();
    for step in [Step::Report, Step::Accept, Step::StartHandling] {
        a.store.append_follow_up(&id, follow_up(step, "w-a", 2_000)).unwrap();
    }
    send(&a, &mut b);
    // Locally an illegal step is refused with a typed error.
    assert!(matches!(
        a.store.append_follow_up(&id, follow_up(Step::Accept, "w-a", 3_000)),
        Err(Error::IllegalStep { step: Step::Accept, status: IncidentStatus::InProgress })
    ));
    for step in [Step::Complete, Step::Verify, Step::Close] {
        a.store.append_follow_up(&id, follow_up(step, "w-a", 3_000)).unwrap();
    }
    b.store.append_follow_up(&id, follow_up(Step::Escalate, "w-b", 3_000)).unwrap();

    exchange(&mut a, &mut b);

    let on_a = a.store.get::<Incident>(&id).unwrap().record;
    let on_b = b.store.get::<Incident>(&id).unwrap().record;
    assert_eq!(on_a.timeline.len(), 7, "every entry is kept");
    assert_eq!(on_a, on_b);
    let state = on_a.state();
    assert!(state.needs_review(), "{state:?}");
    let flagged = a.store.list_incidents("", IncidentFilter::NeedsReview, &Page::first(10)).unwrap();
    assert_eq!(flagged.items.len(), 1);
    assert!(flagged.items[0].review.as_deref().unwrap_or_default().contains("by w-"));

    a.store.append_follow_up(&id, follow_up(Step::Review, "c-01", 4_000)).unwrap();
    send(&a, &mut b);
    assert!(b.store.list_incidents("", IncidentFilter::NeedsReview, &Page::first(10)).unwrap().items.is_empty());
}

#[test]
fn changes_arriving_before_their_dependencies_wait_and_survive_a_restart() {
    let (mut a, mut b) = (Replica::new("w-a"), Replica::new("w-b"));
    let mut household = Sample::new(1).household(&grid(), 1);
    let id = a.store.create(household.clone()).unwrap();
    household.address = "新村5号".into();
    a.store.replace(&id, household.clone()).unwrap();
    let changes: Vec<_> = a.store.changes_after(0, 10).unwrap().into_iter().map(|(_, c)| c).collect();
    assert_eq!(changes.len(), 2);

    // The edit arrives first: it waits (no projection yet), and survives a restart.
    let outcome = b.store.apply_remote(&changes[1..]).unwrap();
    assert_eq!((outcome.new_changes, outcome.waiting), (1, 1));
    assert!(b.store.list_households("", &Page::first(10)).unwrap().items.is_empty());
    let mut b = b.reopen();
    let outcome = b.store.apply_remote(&changes[..1]).unwrap();
    assert_eq!((outcome.new_changes, outcome.waiting), (1, 0));
    assert_eq!(b.store.get::<Household>(&id).unwrap().record, household);
    assert_eq!(b.store.list_households("", &Page::first(10)).unwrap().items.len(), 1);

    // Repeating the whole batch changes nothing.
    let outcome = b.store.apply_remote(&changes).unwrap();
    assert_eq!((outcome.new_changes, outcome.known_changes), (0, 2));
    assert_eq!(b.store.get::<Household>(&id).unwrap().heads, a.store.get::<Household>(&id).unwrap().heads);
}

#[test]
fn malformed_change_bytes_store_nothing() {
    let (a, mut b) = (Replica::new("w-a"), Replica::new("w-b"));
    let mut a = a;
    a.store.create(Sample::new(1).household(&grid(), 1)).unwrap();
    let mut changes: Vec<_> = a.store.changes_after(0, 10).unwrap().into_iter().map(|(_, c)| c).collect();
    let mut garbage = changes[0].clone();
    garbage.bytes.truncate(garbage.bytes.len() / 2);
    changes.push(garbage);
    assert!(matches!(b.store.apply_remote(&changes), Err(Error::Document(_))));
    assert!(b.store.changes_after(0, 10).unwrap().is_empty());
}
