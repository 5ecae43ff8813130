//! Edits relative to what the user saw: a form writes the fields the user changed and
//! nothing else, and a value that moved underneath an open form is never silently
//! overwritten (docs/merge.md, "Edits").

#![allow(clippy::unwrap_used)] // a failure here is a test failure

mod common;

use std::collections::BTreeMap;

use common::{Replica, exchange, send, wang_fang};
use gridsync_core::{Date, Error, FocusGroup, Person, Stored};

/// 王芳 with everything a phone-number form does not show: a former name, addresses,
/// an occupation and a focus group.
fn full_person() -> Person {
    let mut person = wang_fang();
    person.former_name = Some("王小芳".into());
    person.registered_address = Some("幸福村1组".into());
    person.current_address = Some("幸福村2组".into());
    person.occupation = Some("教师".into());
    person.focus_groups = BTreeMap::from([(
        "留守妇女".to_owned(),
        FocusGroup { worker: "w-a".into(), from: Date::new("from", 2024, 5, 1).unwrap(), until: None },
    )]);
    person
}

/// Two phones holding the same synced person.
fn two_phones() -> (Replica, Replica, String) {
    let (mut a, mut b) = (Replica::new("w-a"), Replica::new("w-b"));
    let id = a.store.create(full_person()).unwrap();
    send(&a, &mut b);
    (a, b, id)
}

fn read(replica: &Replica, id: &str) -> Stored<Person> {
    replica.store.get::<Person>(id).unwrap()
}

/// Phone A's worker corrects the phone number; phone B's worker changes the focus
/// groups and the occupation. Whatever the order of forms, edits and syncs, nothing
/// either of them did not touch is erased, and there is no conflict.
#[test]
fn phone_number_and_focus_groups_edited_on_two_phones_in_every_order() {
    // (A's form opened before B's edit arrived, which phone syncs first)
    for (a_form_opened_before_sync, a_sends_first) in [(false, true), (false, false), (true, true), (true, false)] {
        let (mut a, mut b, id) = two_phones();
        let a_form = read(&a, &id);

        let b_form = read(&b, &id);
        b.store
            .edit_with::<Person>(&id, &b_form.heads, |mut p| {
                p.focus_groups.clear();
                p.occupation = Some("务农".into());
                Ok(p)
            })
            .unwrap();

        let a_form = if a_form_opened_before_sync {
            // B's edit reaches A while A's form is still open on the old values.
            send(&b, &mut a);
            a_form
        } else {
            a_form
        };
        // A's form round-trips every field it read, as a whole-record form would.
        let mut edited = a_form.record.clone();
        edited.phone = Some("13800138000".into());
        a.store.edit(&id, &a_form.heads, edited).unwrap();

        if a_sends_first {
            send(&a, &mut b);
            send(&b, &mut a);
        } else {
            send(&b, &mut a);
            send(&a, &mut b);
        }
        for replica in [&a, &b] {
            let merged = read(replica, &id).record;
            let case = (a_form_opened_before_sync, a_sends_first);
            assert_eq!(merged.phone.as_deref(), Some("13800138000"), "{case:?}");
            assert_eq!(merged.occupation.as_deref(), Some("务农"), "{case:?}");
            assert!(merged.focus_groups.is_empty(), "{case:?}: B's removal kept");
            assert_eq!(merged.former_name.as_deref(), Some("王小芳"), "{case:?}");
            assert_eq!(merged.current_address.as_deref(), Some("幸福村2组"), "{case:?}");
            assert!(replica.store.conflicts(&id).unwrap().is_empty(), "{case:?}");
        }
        assert_eq!(read(&a, &id), read(&b, &id));
    }
}

/// A form that shows only some fields names what it changed; fields it never read are
/// left exactly as they are, even the ones it would have written as empty.
#[test]
fn a_form_naming_its_field_never_writes_the_others() {
    let (mut a, _b, id) = two_phones();
    let before = read(&a, &id);
    a.store
        .edit_with::<Person>(&id, &before.heads, |mut p| {
            p.phone = Some("13900139000".into());
            Ok(p)
        })
        .unwrap();
    let history = a.store.history(&id).unwrap();
    assert_eq!(history.last().unwrap().fields, ["phone"], "one field written, nothing else");
    let after = read(&a, &id).record;
    assert_eq!(after, Person { phone: Some("13900139000".into()), ..before.record });
}

/// Both workers change the same field from the same screen state: the two values are
/// shown as a conflict on both phones, neither is dropped.
#[test]
fn the_same_field_changed_under_an_open_form_becomes_a_conflict() {
    let (mut a, mut b, id) = two_phones();
    let a_form = read(&a, &id);
    let b_form = read(&b, &id);
    b.store.edit(&id, &b_form.heads, Person { occupation: Some("务农".into()), ..b_form.record }).unwrap();
    send(&b, &mut a);
    // A submits the form it opened before B's value arrived.
    a.store.edit(&id, &a_form.heads, Person { occupation: Some("个体".into()), ..a_form.record }).unwrap();
    exchange(&mut a, &mut b);
    for replica in [&a, &b] {
        let conflicts = replica.store.conflicts(&id).unwrap();
        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        assert_eq!(conflicts[0].field, "occupation");
        let values: Vec<_> = conflicts[0].values.iter().map(|v| v.value.as_str().unwrap().to_owned()).collect();
        assert_eq!(values, ["个体", "务农"]);
    }
}

/// Replacing the whole record is still possible, by name, and it does what it says.
#[test]
fn replace_clears_what_it_leaves_empty() {
    let (mut a, _b, id) = two_phones();
    let mut bare = read(&a, &id).record;
    bare.focus_groups.clear();
    bare.occupation = None;
    a.store.replace(&id, bare.clone()).unwrap();
    assert_eq!(read(&a, &id).record, bare);
}

/// Two edits on one phone from a form opened before the first: the device's own
/// edits follow each other, and the second keeps what the first wrote.
#[test]
fn two_stale_edits_on_one_phone_both_land() {
    let (mut a, _b, id) = two_phones();
    let form = read(&a, &id);
    a.store.edit(&id, &form.heads, Person { occupation: Some("务农".into()), ..form.record.clone() }).unwrap();
    a.store.edit(&id, &form.heads, Person { phone: Some("13700137000".into()), ..form.record }).unwrap();
    let now = read(&a, &id).record;
    assert_eq!(now.occupation.as_deref(), Some("务农"));
    assert_eq!(now.phone.as_deref(), Some("13700137000"));
}

#[test]
fn heads_that_are_not_the_records_are_refused_naming_read_at() {
    let (mut a, _b, id) = two_phones();
    let person = read(&a, &id).record;
    for heads in [vec![], vec!["zz".to_owned()], vec!["00".repeat(32)]] {
        match a.store.edit(&id, &heads, person.clone()) {
            Err(Error::Invalid(v)) => assert_eq!(v.field, "read_at", "{heads:?}"),
            other => panic!("{heads:?}: {other:?}"),
        }
    }
}

/// An edit is validated and scope-checked as the record the user would see.
#[test]
fn an_invalid_edit_stores_nothing() {
    let (mut a, _b, id) = two_phones();
    let form = read(&a, &id);
    let result = a.store.edit_with::<Person>(&id, &form.heads, |mut p| {
        p.phone = Some("12".into());
        Ok(p)
    });
    assert!(matches!(result, Err(Error::Invalid(ref v)) if v.field == "phone"), "{result:?}");
    assert_eq!(read(&a, &id), form);
}

/// A mistyped ID number is corrected by registering the person under the right number:
/// the number never changes on a record, so the same number is always the same record,
/// even when another phone registered the right number offline meanwhile.
#[test]
fn a_mistyped_id_number_is_corrected_by_registering_anew() {
    let (mut a, mut b) = (Replica::new("w-a"), Replica::new("w-b"));
    let right = wang_fang();
    let mut mistyped = wang_fang();
    // Another valid number: the worker typed 07 for 03 in the birth month.
    mistyped.id_number = Some(gridsync_core::sample::with_check_character("44010619900707002"));
    mistyped.birth_date = Date::new("d", 1990, 7, 7).unwrap();
    let wrong_id = a.store.create(mistyped).unwrap();

    // Editing the number in place is refused, saying what to do.
    let form = read(&a, &wrong_id);
    let refused = a.store.edit(&wrong_id, &form.heads, Person { birth_date: right.birth_date, ..right.clone() });
    match refused {
        Err(Error::Invalid(v)) => assert_eq!(v.code(), "id_number.fixed", "{v}"),
        other => panic!("{other:?}"),
    }

    // Registered anew under the right number; the mistaken record deleted.
    let right_id = a.store.create(right.clone()).unwrap();
    a.store.delete(&wrong_id).unwrap();
    // Meanwhile, offline, another worker registered the same person correctly.
    let on_b = b.store.create(right).unwrap();
    assert_eq!(on_b, right_id, "the right number names one record on every phone");

    exchange(&mut a, &mut b);
    for replica in [&a, &b] {
        let live: Vec<_> = replica
            .store
            .list_persons("", &gridsync_core::Page::first(10))
            .unwrap()
            .items
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(live, std::slice::from_ref(&right_id), "one live record for 王芳");
        assert!(replica.store.record_meta(&wrong_id).unwrap().deleted);
    }
}
