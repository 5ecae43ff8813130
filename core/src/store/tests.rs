use std::collections::BTreeSet;

use tempfile::TempDir;

use super::*;
use crate::area::AreaCode;
use crate::model::{Finding, Household, Incident, IncidentStatus, Person, Step, Visit, VisitTarget};
use crate::sample::{Sample, follow_up, with_check_character};
use crate::validate::{Date, Gender};

const KEY: [u8; 32] = [7; 32];
const GRID: &str = "44010601200300102";
const TOWNSHIP_KEY: &[u8] = b"township-440106012-test-secret";

fn grid() -> AreaCode {
    AreaCode::parse("area_code", GRID).unwrap()
}

/// A raw connection to the store at `path`, keyed, for building older schemas.
fn keyed_connection(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.pragma_update(None, "key", format!("x'{}'", hex::encode(KEY))).unwrap();
    conn
}

fn open_store(dir: &TempDir) -> Store {
    let mut store = Store::open(dir.path().join("phone.db"), DbKey::Raw(&KEY)).unwrap();
    store.set_worker("w-0001").unwrap();
    store.set_township_key(TOWNSHIP_KEY).unwrap();
    store
}

fn wang_fang() -> Person {
    let birth = Date::new("d", 1990, 3, 7).unwrap();
    let mut person = Sample::new(1).person(&grid(), None);
    person.name = "王芳".into();
    person.gender = Gender::Female;
    person.birth_date = birth;
    person.id_number = Some(with_check_character("44010619900307002"));
    person.phone = Some("13800138000".into());
    person
}

#[test]
fn every_kind_round_trips() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    let mut sample = Sample::new(3);

    let household = sample.household(&grid(), 1);
    let hid = store.create(household.clone()).unwrap();
    assert_eq!(store.get::<Household>(&hid).unwrap().record, household);

    let mut person = sample.person(&grid(), Some((&hid, "02")));
    person.notes = "独居，行动不便".into();
    let pid = store.create(person.clone()).unwrap();
    assert_eq!(store.get::<Person>(&pid).unwrap().record, person);

    let mut visit = sample.visit(&grid(), VisitTarget::Household(hid.clone()), 1_700_000_000_000, "w-0001");
    let vid = store.create(visit.clone()).unwrap();
    let finding = Finding { at: 1_700_000_100_000, by: "w-0001".into(), text: "屋顶漏水".into() };
    store.append_finding(&vid, finding.clone()).unwrap();
    visit.findings.push(finding);
    assert_eq!(store.get::<Visit>(&vid).unwrap().record, visit);

    let incident = sample.incident(&grid(), 1, 1_700_000_000_000);
    let iid = store.create(incident.clone()).unwrap();
    store.append_follow_up(&iid, follow_up(Step::Report, "w-0001", 1_700_000_000_001)).unwrap();
    let stored = store.get::<Incident>(&iid).unwrap().record;
    assert_eq!(stored.timeline.len(), 1);
    assert_eq!(stored.status(), IncidentStatus::Reported);

    // An update writes only what changed, and reads back.
    let mut edited = household.clone();
    edited.tags = BTreeSet::from(["低保户".to_owned()]);
    edited.notes = "2024年起享受低保".into();
    store.replace(&hid, edited.clone()).unwrap();
    assert_eq!(store.get::<Household>(&hid).unwrap().record, edited);

    // Asking for the wrong kind is a typed error.
    assert!(matches!(store.get::<Person>(&hid), Err(Error::WrongKind { .. })));
    assert!(matches!(store.get::<Person>("nope"), Err(Error::NotFound { .. })));
}

#[test]
fn an_unchanged_update_records_no_change() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    let household = Sample::new(1).household(&grid(), 1);
    let id = store.create(household.clone()).unwrap();
    let count = |store: &Store| -> i64 {
        store.connection().query_row("SELECT count(*) FROM change_log", [], |r| r.get(0)).unwrap()
    };
    assert_eq!(count(&store), 1);
    store.replace(&id, household).unwrap();
    assert_eq!(count(&store), 1);
}

#[test]
fn lists_members_and_incidents_by_status() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    let mut sample = Sample::new(5);
    let other_grid = AreaCode::parse("a", "44010601200300201").unwrap();
    let mut households = Vec::new();
    for n in 0..7 {
        let area = if n < 5 { grid() } else { other_grid.clone() };
        let hid = store.create(sample.household(&area, n)).unwrap();
        for rel in ["02", "10", "20"] {
            store.create(sample.person(&area, Some((&hid, rel)))).unwrap();
        }
        households.push(hid);
    }
    // Paging walks the grid exactly once.
    let mut seen = Vec::new();
    let mut page = Page::first(2);
    loop {
        let result = store.list_households(GRID, &page).unwrap();
        seen.extend(result.items.into_iter().map(|h| h.id));
        match result.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    assert_eq!(store.list_households("440106012003", &Page::first(50)).unwrap().items.len(), 7);
    assert_eq!(store.list_persons(GRID, &Page::first(50)).unwrap().items.len(), 15);
    assert_eq!(store.household_members(&households[0]).unwrap().len(), 3);

    // Counts per grid (15 digits) under a village, as the console's 网格 page reads them.
    let by_grid = store.count_by_area(Kind::Household, "440106012003", 15).unwrap();
    assert_eq!(by_grid, [("440106012003001".to_owned(), 5), ("440106012003002".to_owned(), 2)]);

    // Deleted records drop out of lists and member lists but can be restored.
    let member = store.household_members(&households[0]).unwrap()[0].id.clone();
    store.delete(&member).unwrap();
    assert_eq!(store.household_members(&households[0]).unwrap().len(), 2);
    assert_eq!(
        store.count_by_area(Kind::Person, GRID, 15).unwrap(),
        [(GRID[..15].to_owned(), 14)],
        "deleted: not counted"
    );
    assert!(store.get::<Person>(&member).unwrap().deleted);
    store.restore(&member).unwrap();
    assert_eq!(store.household_members(&households[0]).unwrap().len(), 3);

    let a = store.create(sample.incident(&grid(), 1, 1)).unwrap();
    let b = store.create(sample.incident(&grid(), 2, 2)).unwrap();
    store.append_follow_up(&a, follow_up(Step::Report, "w-0001", 3)).unwrap();
    store.append_follow_up(&b, follow_up(Step::Report, "w-0001", 3)).unwrap();
    store.append_follow_up(&b, follow_up(Step::Accept, "c-01", 4)).unwrap();
    let reported =
        store.list_incidents(GRID, IncidentFilter::Status(IncidentStatus::Reported), &Page::first(10)).unwrap();
    assert_eq!(reported.items.iter().map(|i| &i.id).collect::<Vec<_>>(), [&a]);
    assert_eq!(store.list_incidents(GRID, IncidentFilter::All, &Page::first(10)).unwrap().items.len(), 2);

    assert!(
        matches!(store.list_households("44a", &Page::first(1)), Err(Error::Invalid(e)) if e.field == "area_prefix")
    );
}

#[test]
fn search_by_han_pinyin_initials_and_number_tails() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    let mut sample = Sample::new(11);
    let wang = store.create(wang_fang()).unwrap();
    let mut shan = sample.person(&grid(), None);
    shan.name = "单田芳".into();
    let shan = store.create(shan).unwrap();
    for _ in 0..50 {
        let mut other = sample.person(&grid(), None);
        other.name = "李四".into();
        other.phone = None;
        store.create(other).unwrap();
    }
    let mut lv = sample.person(&grid(), None);
    lv.name = "吕绿".into();
    let lv = store.create(lv).unwrap();
    let mut abdu = sample.person(&grid(), None);
    abdu.name = "阿卜杜·热合曼".into();
    let abdu = store.create(abdu).unwrap();
    // ASCII punctuation and FTS5's query syntax inside a name.
    let mut odd = sample.person(&grid(), None);
    odd.name = "赵\"(小)\"* OR 钱".into();
    let odd = store.create(odd).unwrap();
    let names = std::collections::HashMap::from([
        (wang, "wang"),
        (shan, "shan"),
        (lv, "lv"),
        (abdu.clone(), "abdu"),
        (odd, "odd"),
    ]);
    let find = |q: &str| -> Vec<&str> {
        let found = store.search_persons(q, "4401", 20).unwrap();
        found.iter().map(|p| names.get(&p.id).copied().unwrap_or("other")).collect()
    };
    assert_eq!(find("王芳"), ["wang"], "two-character name");
    assert_eq!(find("芳"), ["wang", "shan"], "substring, shortest name first");
    assert_eq!(find("wangfang"), ["wang"], "full pinyin");
    assert_eq!(find("Wang Fang"), ["wang"], "spaced, capitalised pinyin");
    assert_eq!(find("wf"), ["wang"], "initials");
    assert_eq!(find("shantianfang"), ["shan"], "heteronym surname, one reading");
    assert_eq!(find("dtf"), ["shan"], "heteronym surname, other reading");
    assert_eq!(find("单田芳"), ["shan"], "three characters");
    assert_eq!(find("田芳"), ["shan"], "a given name");
    assert_eq!(find("fang"), ["wang", "shan"], "pinyin of a given name");
    assert_eq!(find("wangf"), ["wang"], "pinyin as it is being typed");
    assert!(find("angf").is_empty(), "pinyin starts at a syllable");
    let id_number = wang_fang().id_number.unwrap();
    assert_eq!(find(&id_number[14..]), ["wang"], "ID tail");
    assert_eq!(find("8000"), ["wang"], "phone tail");
    assert!(find("王芳").len() == 1 && find("").is_empty() && find("%").is_empty());
    assert!(store.search_persons("王芳", "4402", 20).unwrap().is_empty(), "area filter");
    // ü as keyboards type it, and separator dots in any form or none.
    assert_eq!(find("lvlv"), ["lv"], "ü typed v");
    assert_eq!(find("lulu"), ["lv"], "ü typed u");
    assert_eq!(find("ll"), ["lv"], "initials of ü syllables");
    for query in ["阿卜杜热合曼", "阿卜杜·热合曼", "阿卜杜•热合曼", "阿卜杜・热合曼", "卜杜.热合"]
    {
        assert_eq!(find(query), ["abdu"], "{query}");
    }
    assert_eq!(store.get::<Person>(&abdu).unwrap().record.name, "阿卜杜·热合曼", "kept as typed");
    for query in ["赵\"", "\"(小", "(小)", "小)\"*", "*OR钱", "*or钱", "赵\"(小)\"*OR钱", "zhao", "zxq"] {
        assert_eq!(find(query), ["odd"], "{query}");
    }
    assert!(find("\"*").is_empty() && find("OR钱钱").is_empty());
}

#[test]
fn the_same_id_number_gives_the_same_record_id_on_every_phone() {
    let (a, b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let mut phone_a = open_store(&a);
    let mut phone_b = open_store(&b);
    let id_a = phone_a.create(wang_fang()).unwrap();
    let id_b = phone_b.create(wang_fang()).unwrap();
    assert_eq!(id_a, id_b);
    assert!(matches!(phone_a.create(wang_fang()), Err(Error::AlreadyExists { .. })));

    // A lower-case x is normalised before the id is derived.
    let mut x_person = wang_fang();
    x_person.id_number = Some("11010519491231002x".into());
    x_person.birth_date = Date::new("d", 1949, 12, 31).unwrap();
    let id = phone_a.create(x_person).unwrap();
    assert_eq!(phone_a.get::<Person>(&id).unwrap().record.id_number.as_deref(), Some("11010519491231002X"));

    // Without the township key a person with an ID number cannot be registered.
    let c = TempDir::new().unwrap();
    let mut unenrolled = Store::open(c.path().join("c.db"), DbKey::Raw(&KEY)).unwrap();
    assert!(matches!(unenrolled.create(wang_fang()), Err(Error::NotConfigured(_))));
}

#[test]
fn invalid_input_is_refused_naming_the_field() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    let mut person = wang_fang();
    person.id_number = Some("440106199003070021".into());
    let err = store.create(person).unwrap_err();
    assert!(matches!(&err, Error::Invalid(e) if e.field == "id_number"), "{err}");
    assert!(!err.to_string().contains("440106199003070021"));

    let mut person = wang_fang();
    person.gender = Gender::Male;
    assert!(matches!(store.create(person), Err(Error::Invalid(e)) if e.field == "gender"));

    let mut household = Sample::new(1).household(&grid(), 1);
    household.phone = Some("12345".into());
    assert!(matches!(store.create(household), Err(Error::Invalid(e)) if e.field == "phone"));
    let count: i64 = store.connection().query_row("SELECT count(*) FROM records", [], |r| r.get(0)).unwrap();
    assert_eq!(count, 0);
}

#[test]
fn scope_limits_where_records_are_created_and_changed() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    let elsewhere = AreaCode::parse("a", "44010601200400101").unwrap();
    let inside = store.create(Sample::new(1).household(&grid(), 1)).unwrap();
    store.set_scope(Scope::new(["440106012003"]).unwrap()).unwrap();
    assert!(matches!(
        store.create(Sample::new(2).household(&elsewhere, 2)),
        Err(Error::OutOfScope { field: "area_code", .. })
    ));
    let mut moved = store.get::<Household>(&inside).unwrap().record;
    moved.area_code = elsewhere;
    assert!(matches!(store.replace(&inside, moved), Err(Error::OutOfScope { .. })));
}

#[test]
fn history_names_device_worker_and_fields() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    let id = store.create(wang_fang()).unwrap();
    store.set_worker("w-0002").unwrap();
    let mut person = store.get::<Person>(&id).unwrap().record;
    person.phone = Some("13900139000".into());
    person.notes = "已迁入".into();
    store.replace(&id, person).unwrap();
    store.delete(&id).unwrap();

    let history = store.history(&id).unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[0].worker, "w-0001");
    assert!(history[0].fields.contains(&"name".to_owned()));
    assert_eq!(history[1].worker, "w-0002");
    assert_eq!(history[1].fields, ["notes", "phone"]);
    assert_eq!(history[2].fields, ["deleted"]);
    assert!(history.iter().all(|h| h.device == store.device_actor()));
}

/// A household created and then given a new address `moves` times, each its own change;
/// its id and last state.
fn household_moved(store: &mut Store, moves: usize) -> (String, Household) {
    let mut household = Sample::new(1).household(&grid(), 1);
    let id = store.create(household.clone()).unwrap();
    for n in 0..moves {
        household.address = format!("幸福路{n}号");
        store.replace(&id, household.clone()).unwrap();
    }
    (id, household)
}

#[test]
fn long_edit_histories_are_compacted_and_still_load() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    let (id, household) = household_moved(&mut store, 100);
    let (tail, has_snapshot): (i64, bool) = store
        .connection()
        .query_row("SELECT tail_len, snapshot IS NOT NULL FROM records WHERE id = ?1", [&id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert!(has_snapshot && tail <= 32, "tail {tail}");
    assert_eq!(store.get::<Household>(&id).unwrap().record, household);
    let logged: i64 = store.connection().query_row("SELECT count(*) FROM change_log", [], |r| r.get(0)).unwrap();
    assert_eq!(logged, 101, "the change log keeps every change");
    drop(store);
    let store = open_store(&dir);
    assert_eq!(store.get::<Household>(&id).unwrap().record, household);
}

/// Every projection table's rows, in a stable order.
fn dump_projections(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    for table in projection::table_names() {
        let mut stmt = store.connection().prepare(&format!("SELECT * FROM {table} ORDER BY id")).unwrap();
        // person_search's key numbers rows in the order they were written; a rebuild
        // writes them in id order.
        let columns: Vec<usize> = (0..stmt.column_count()).filter(|&i| stmt.column_name(i).unwrap() != "key").collect();
        let rows = stmt
            .query_map([], |row| {
                let values: Vec<String> = columns.iter().map(|&i| format!("{:?}", row.get_ref(i).unwrap())).collect();
                Ok(format!("{table}: {}", values.join(" | ")))
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    // The search index by term and how many persons hold it (its rowids are
    // person_search's, which a rebuild renumbers).
    store
        .connection()
        .execute_batch("CREATE VIRTUAL TABLE IF NOT EXISTS temp.term_counts USING fts5vocab(main, person_terms, 'row')")
        .unwrap();
    let mut stmt = store.connection().prepare("SELECT term, doc FROM temp.term_counts ORDER BY term").unwrap();
    let terms = stmt
        .query_map([], |row| Ok(format!("person_terms: {} | {}", row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))
        .unwrap();
    out.extend(terms.map(Result::unwrap));
    out.sort();
    out
}

#[test]
fn search_terms_follow_a_rename_and_stay_put_otherwise() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    let id = store.create(wang_fang()).unwrap();
    let found = |store: &Store, q: &str| store.search_persons(q, "4401", 20).unwrap().len();
    // The search index's stored bytes: any write to it (an insert, a delete's tombstone)
    // changes them.
    let term_writes = |store: &Store| -> Vec<u8> {
        store
            .connection()
            .query_row("SELECT group_concat(hex(id) || hex(block)) FROM person_terms_data", [], |r| {
                r.get::<_, String>(0)
            })
            .unwrap()
            .into_bytes()
    };
    let read_at = store.get::<Person>(&id).unwrap().heads;
    let before = term_writes(&store);
    store.edit_with::<Person>(&id, &read_at, |p| Ok(Person { phone: Some("13800138001".into()), ..p })).unwrap();
    assert!(term_writes(&store) == before, "a new phone number leaves the name's terms alone");
    assert_eq!(found(&store, "王芳"), 1);

    let read_at = store.get::<Person>(&id).unwrap().heads;
    let before = term_writes(&store);
    store.edit_with::<Person>(&id, &read_at, |p| Ok(Person { former_name: Some("王小芳".into()), ..p })).unwrap();
    assert!(term_writes(&store) != before, "a rename rewrites the terms");
    assert_eq!(found(&store, "小芳"), 1, "found by the new name");
    assert_eq!(found(&store, "wf"), 1);

    let read_at = store.get::<Person>(&id).unwrap().heads;
    store.edit_with::<Person>(&id, &read_at, |p| Ok(Person { name: "李芳".into(), former_name: None, ..p })).unwrap();
    assert_eq!(found(&store, "李芳"), 1);
    assert_eq!(found(&store, "lf"), 1);
    assert_eq!(found(&store, "王"), 0, "the old name's terms are gone");
    assert_eq!(found(&store, "wf"), 0);
    let live = dump_projections(&store);
    store.rebuild_projections().unwrap();
    assert_eq!(dump_projections(&store), live, "the terms are those a rebuild makes");
}

#[test]
fn an_edit_of_an_indexed_column_moves_it_in_its_index_and_no_other() {
    let dir = TempDir::new().unwrap();
    let (mut store, other_grid) = store_covering_two_grids(&dir);
    let mut sample = Sample::new(21);
    let first = store.create(sample.household(&grid(), 1)).unwrap();
    let second = store.create(sample.household(&grid(), 2)).unwrap();
    let mut person = sample.person(&grid(), Some((&first, "02")));
    person.phone = Some("13800138001".into());
    let pid = store.create(person.clone()).unwrap();
    let listed = |store: &Store, prefix: &str| store.list_households(prefix, &Page::first(10)).unwrap().items.len();
    let members = |store: &Store, hid: &str| store.household_members(hid).unwrap().len();
    let found = |store: &Store, q: &str| store.search_persons(q, "4401", 10).unwrap().len();

    // Columns no index holds: every index stays as it was.
    let mut household = store.get::<Household>(&first).unwrap().record;
    household.address = "幸福路1号".into();
    store.replace(&first, household.clone()).unwrap();
    assert_eq!((listed(&store, GRID), listed(&store, other_grid.as_str())), (2, 0));

    // Each indexed column, changed.
    household.area_code = other_grid.clone();
    store.replace(&first, household).unwrap();
    assert_eq!((listed(&store, GRID), listed(&store, other_grid.as_str())), (1, 1), "moved to the other grid");
    let in_area = |store: &Store, prefix: &str| store.heads_in_area(prefix).unwrap().iter().any(|(id, _)| *id == first);
    assert!(in_area(&store, other_grid.as_str()) && !in_area(&store, GRID), "the record, too, is in its new area");
    person.household_id = Some(second.clone());
    person.phone = Some("13900139002".into());
    store.replace(&pid, person.clone()).unwrap();
    assert_eq!((members(&store, &first), members(&store, &second)), (0, 1), "moved to the other household");
    assert_eq!((found(&store, "8001"), found(&store, "9002")), (0, 1), "found by the new phone only");
    person.household_id = None;
    person.phone = None;
    store.replace(&pid, person).unwrap();
    assert_eq!((members(&store, &second), found(&store, "9002")), (0, 0), "to no household, no phone");
    let mut visit = sample.visit(&grid(), VisitTarget::Household(first.clone()), 7, "w-0001");
    let vid = store.create(visit.clone()).unwrap();
    visit.target = VisitTarget::Household(second.clone());
    store.replace(&vid, visit).unwrap();
    let visits = |store: &Store, hid: &str| store.visits_of(hid).unwrap().len();
    assert_eq!((visits(&store, &first), visits(&store, &second)), (0, 1), "the visit's target moved");
    let live = dump_projections(&store);
    store.rebuild_projections().unwrap();
    assert_eq!(dump_projections(&store), live);
}

#[test]
fn rebuilt_projections_equal_the_live_ones() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    let mut sample = Sample::new(9);
    for n in 0..30 {
        let hid = store.create(sample.household(&grid(), n)).unwrap();
        store.create(sample.person(&grid(), Some((&hid, "02")))).unwrap();
        let iid = store.create(sample.incident(&grid(), n, 5)).unwrap();
        store.append_follow_up(&iid, follow_up(Step::Report, "w-0001", 6)).unwrap();
        store.create(sample.visit(&grid(), VisitTarget::Household(hid.clone()), 7, "w-0001")).unwrap();
        if n % 4 == 0 {
            store.delete(&hid).unwrap();
        }
    }
    let live = dump_projections(&store);
    assert_eq!(live.iter().filter(|row| !row.starts_with("person_terms")).count(), 30 * 5);
    assert!(live.iter().any(|row| row.starts_with("person_terms: h") && row.ends_with("| 1")));
    assert!(live.iter().any(|row| row.starts_with("person_terms")));
    store.rebuild_projections().unwrap();
    assert_eq!(dump_projections(&store), live);
}

#[test]
fn a_failed_write_leaves_nothing_behind() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    let existing = store.create(Sample::new(1).household(&grid(), 1)).unwrap();
    // Make the last step of a write (the projection) fail, after the document and the
    // change log were written in the same transaction.
    store
        .connection()
        .execute_batch(
            "CREATE TRIGGER fail_projection BEFORE INSERT ON persons
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
        )
        .unwrap();
    let counts = |store: &Store| -> (i64, i64, i64) {
        store
            .connection()
            .query_row(
                "SELECT (SELECT count(*) FROM records), (SELECT count(*) FROM change_log),
                        (SELECT count(*) FROM persons) + (SELECT count(*) FROM person_search)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap()
    };
    let before = counts(&store);
    assert!(store.create(wang_fang()).is_err());
    assert_eq!(counts(&store), before);
    // The store keeps working.
    store.connection().execute_batch("DROP TRIGGER fail_projection").unwrap();
    store.create(wang_fang()).unwrap();
    assert!(store.get::<Household>(&existing).is_ok());
}

#[test]
fn the_database_is_encrypted_and_a_wrong_key_is_refused() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("phone.db");
    let marker = "MARKER张三丰QX7";
    {
        let mut store = open_store(&dir);
        let mut person = wang_fang();
        person.name = "张三丰".into();
        person.notes = marker.into();
        person.current_address = Some(marker.into());
        store.create(person).unwrap();
        // Check the WAL while it still holds the write.
        let wal = std::fs::read(dir.path().join("phone.db-wal")).unwrap_or_default();
        assert!(!contains(&wal, marker.as_bytes()), "marker in WAL");
    }
    let file = std::fs::read(&path).unwrap();
    for needle in [marker.as_bytes(), "张三丰".as_bytes(), b"SQLite format 3", b"households"] {
        assert!(!contains(&file, needle), "{:?} readable in the database file", String::from_utf8_lossy(needle));
    }

    let before = std::fs::read(&path).unwrap();
    let err = Store::open(&path, DbKey::Raw(&[8; 32])).unwrap_err();
    assert!(matches!(err, Error::WrongKey), "{err}");
    assert!(matches!(Store::open(&path, DbKey::Passphrase("guess")), Err(Error::WrongKey)));
    assert_eq!(std::fs::read(&path).unwrap(), before, "a wrong key must not touch the file");
    assert_eq!(open_store(&dir).search_persons("张三丰", "", 5).unwrap().len(), 1);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn migrations_from_every_older_version_match_a_fresh_schema() {
    let schema = |conn: &Connection| -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT type || ' ' || name || ': ' || ifnull(sql, '') FROM sqlite_master ORDER BY type, name")
            .unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    let dir = TempDir::new().unwrap();
    let fresh = Store::open(dir.path().join("fresh.db"), DbKey::Raw(&KEY)).unwrap();
    let expected = schema(fresh.connection());
    for version in 0..open::MIGRATIONS.len() {
        let path = dir.path().join(format!("v{version}.db"));
        {
            let conn = keyed_connection(&path);
            open::migrate(&conn, version).unwrap();
        }
        let upgraded = Store::open(&path, DbKey::Raw(&KEY)).unwrap();
        assert_eq!(schema(upgraded.connection()), expected, "upgrade from version {version}");
        let user_version: i64 = upgraded.connection().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(user_version, SCHEMA_VERSION);
    }
    // A database from a newer build is refused rather than misread.
    fresh.connection().pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
    drop(fresh);
    assert!(matches!(Store::open(dir.path().join("fresh.db"), DbKey::Raw(&KEY)), Err(Error::SchemaTooNew { .. })));
}

/// A store whose worker covers this test's grid and the next one, which it returns; a
/// pull for the first alone then narrows the scope.
fn store_covering_two_grids(dir: &TempDir) -> (Store, AreaCode) {
    let mut store = open_store(dir);
    store.set_scope(Scope::new(["440106012003", "440106012004"]).unwrap()).unwrap();
    (store, AreaCode::parse("a", "44010601200400101").unwrap())
}

#[test]
fn a_narrowed_scope_prunes_records_once_their_local_changes_are_stored() {
    let dir = TempDir::new().unwrap();
    let (mut store, other_grid) = store_covering_two_grids(&dir);
    let kept = store.create(Sample::new(1).household(&other_grid, 1)).unwrap();
    let gone = store.create(Sample::new(2).household(&other_grid, 2)).unwrap();
    let stays = store.create(Sample::new(3).household(&grid(), 3)).unwrap();
    let cursor = crate::sync::wire::Cursor::Changes { after: 0 };
    // `gone` was stored at the center; `kept` still has a pending change.
    let hash_of = |store: &Store, id: &str| -> Vec<u8> {
        store.connection().query_row("SELECT hash FROM change_log WHERE record_id = ?1", [id], |r| r.get(0)).unwrap()
    };
    let acked = crate::sync::wire::PushResponse {
        batch_id: "b".into(),
        accepted: vec![hash_of(&store, &gone)],
        rejected: vec![],
    };
    let sent: Vec<i64> = store.pending_push(10, 1 << 20).unwrap().into_iter().map(|(seq, _)| seq).collect();
    store.record_push(&sent, &acked).unwrap();

    store.apply_pull(&[], &[], &cursor, &["440106012003".to_owned()]).unwrap();
    assert!(store.get::<Household>(&gone).is_err(), "an acknowledged record outside the scope goes");
    assert!(store.get::<Household>(&kept).is_ok(), "a record with unsent work stays");
    assert!(store.get::<Household>(&stays).is_ok());

    // Once the center stores the change, the next page prunes it.
    let acked = crate::sync::wire::PushResponse {
        batch_id: "c".into(),
        accepted: vec![hash_of(&store, &kept)],
        rejected: vec![],
    };
    store.record_push(&sent, &acked).unwrap();
    store.apply_pull(&[], &[], &cursor, &["440106012003".to_owned()]).unwrap();
    assert!(store.get::<Household>(&kept).is_err());
    assert!(store.get::<Household>(&stays).is_ok());
}

#[test]
fn a_pruned_person_leaves_no_piece_of_her_name_in_the_search_index() {
    let dir = TempDir::new().unwrap();
    let (mut store, other_grid) = store_covering_two_grids(&dir);
    let mut leaving = Sample::new(1).person(&other_grid, None);
    leaving.name = "欧阳娜娜".into();
    let leaving = store.create(leaving).unwrap();
    store.create(wang_fang()).unwrap();
    let acked = crate::sync::wire::PushResponse {
        batch_id: "b".into(),
        accepted: {
            let mut stmt = store.connection().prepare("SELECT hash FROM change_log").unwrap();
            stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
        },
        rejected: vec![],
    };
    let sent: Vec<i64> = store.pending_push(10, 1 << 20).unwrap().into_iter().map(|(seq, _)| seq).collect();
    store.record_push(&sent, &acked).unwrap();
    // Every stored byte of the search index, as text: 娜 is in no other name.
    let index_bytes = |store: &Store| -> String {
        store
            .connection()
            .query_row(
                "SELECT (SELECT group_concat(hex(block), '') FROM person_terms_data)
                     || (SELECT group_concat(hex(term), '') FROM person_terms_idx)",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    let na = "娜".bytes().map(|b| format!("{b:02X}")).collect::<String>();
    assert!(index_bytes(&store).contains(&na), "the check can see the name");

    let cursor = crate::sync::wire::Cursor::Changes { after: 0 };
    store.apply_pull(&[], &[], &cursor, &["440106012003".to_owned()]).unwrap();
    assert!(store.get::<Person>(&leaving).is_err(), "pruned");
    assert!(!index_bytes(&store).contains(&na), "no piece of a pruned name stays in the index");
    assert_eq!(store.search_persons("wf", "4401", 10).unwrap().len(), 1, "the others are still found");
}

#[test]
fn a_store_of_schema_8_with_persons_upgrades_to_the_search_index() {
    let dir = TempDir::new().unwrap();
    let mut current = open_store(&dir);
    let mut sample = Sample::new(31);
    for n in 0..20 {
        let hid = current.create(sample.household(&grid(), n)).unwrap();
        current.create(sample.person(&grid(), Some((&hid, "02")))).unwrap();
    }
    current.create(wang_fang()).unwrap();
    let expected = dump_projections(&current);
    drop(current);

    // A phone's database as schema 8 left it: the same records and log, and the old
    // projections (search keys with pinyin and initials columns, a term table).
    let older = dir.path().join("v8.db");
    let conn = keyed_connection(&older);
    open::migrate(&conn, 8).unwrap();
    conn.execute_batch(&format!(
        "ATTACH DATABASE '{}' AS cur KEY \"x'{}'\";
         INSERT INTO meta SELECT * FROM cur.meta;
         INSERT INTO records SELECT * FROM cur.records;
         INSERT INTO change_log SELECT * FROM cur.change_log;
         INSERT INTO households SELECT * FROM cur.households;
         INSERT INTO persons SELECT * FROM cur.persons;
         INSERT INTO person_search (id, area_code, names, pinyin, initials, id_rev, phone_rev)
             SELECT id, area_code, names, 'old', 'old', id_rev, phone_rev FROM cur.person_search;
         INSERT INTO person_terms (term, id) SELECT 'h:' || substr(names, 1, 1), id FROM cur.person_search;
         DETACH DATABASE cur;",
        dir.path().join("phone.db").display(),
        hex::encode(KEY)
    ))
    .unwrap();
    drop(conn);

    let upgraded = Store::open(&older, DbKey::Raw(&KEY)).unwrap();
    assert_eq!(dump_projections(&upgraded), expected, "the projections a fresh store makes");
    assert_eq!(upgraded.search_persons("wf", "4401", 10).unwrap().len(), 1);
    assert_eq!(upgraded.search_persons("王芳", "4401", 10).unwrap().len(), 1);
}

#[test]
fn a_rebuild_cut_short_runs_again_at_the_next_open() {
    let dir = TempDir::new().unwrap();
    // A migration that asks for a rebuild marks the projections stale in its own
    // transaction, before the rebuild runs.
    let older = dir.path().join("v8.db");
    {
        let conn = keyed_connection(&older);
        open::migrate(&conn, 8).unwrap();
        assert!(open::migrate(&conn, open::MIGRATIONS.len()).unwrap(), "schemas 9 and 10 rebuild projections");
        assert!(open::migrate(&conn, open::MIGRATIONS.len()).unwrap(), "still stale: nothing rebuilt them");
    }
    drop(Store::open(&older, DbKey::Raw(&KEY)).unwrap());
    let conn = keyed_connection(&older);
    assert!(!open::migrate(&conn, open::MIGRATIONS.len()).unwrap(), "the open rebuilt them");

    // A store whose migration committed but whose rebuild was cut short: its projections
    // are the old schema's (here: none) until an open rebuilds them.
    let mut store = open_store(&dir);
    store.create(wang_fang()).unwrap();
    {
        let tx = store.conn.transaction().unwrap();
        projection::clear(&tx).unwrap();
        tx.execute("INSERT INTO meta (key, value) VALUES (?1, x'01')", [open::META_PROJECTIONS_STALE]).unwrap();
        tx.commit().unwrap();
    }
    assert!(store.search_persons("王芳", "4401", 10).unwrap().is_empty());
    drop(store);
    let store = open_store(&dir);
    assert_eq!(store.search_persons("王芳", "4401", 10).unwrap().len(), 1);
    assert_eq!(store.search_persons("wf", "4401", 10).unwrap().len(), 1);
}

/// Rows in the tables a write touches: records, change log, projections, search.
fn row_counts(store: &Store) -> (i64, i64, i64) {
    store
        .connection()
        .query_row(
            "SELECT (SELECT count(*) FROM records), (SELECT count(*) FROM change_log),
                    (SELECT count(*) FROM households) + (SELECT count(*) FROM persons)
                    + (SELECT count(*) FROM person_search)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
}

/// Caps the database at its current size plus `pages`, as a full disk would.
fn fill_up(store: &Store, pages: i64) {
    let used: i64 = store.connection().pragma_query_value(None, "page_count", |r| r.get(0)).unwrap();
    store.connection().pragma_update(None, "max_page_count", used + pages).unwrap();
}

fn free_space(store: &Store) {
    store.connection().pragma_update(None, "max_page_count", 1_073_741_823).unwrap();
}

#[test]
fn a_full_disk_fails_a_write_cleanly_and_the_store_recovers() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    let mut sample = Sample::new(12);
    fill_up(&store, 8);
    let mut written = 0;
    let err = loop {
        let household = sample.household(&grid(), written);
        let hid = match store.create(household) {
            Ok(id) => id,
            Err(err) => break err,
        };
        let before = row_counts(&store);
        if let Err(err) = store.create(sample.person(&grid(), Some((&hid, "02")))) {
            assert_eq!(row_counts(&store), before, "nothing of the failed write remains");
            break err;
        }
        written += 1;
        assert!(written < 10_000, "the size limit never bit");
    };
    assert!(matches!(err, Error::StorageFull), "{err}");
    assert_eq!(err.to_string(), "storage full: nothing was written");
    // Reads go on while the disk is full; writes once space returns.
    assert_eq!(store.list_households("", &Page::first(5)).unwrap().items.len(), 5.min(written as usize + 1));
    free_space(&store);
    let id = store.create(sample.household(&grid(), 100_000)).unwrap();
    assert!(store.get::<Household>(&id).is_ok());
    drop(store);
    assert!(open_store(&dir).get::<Household>(&id).is_ok());
}

#[test]
fn a_repeated_delivery_does_not_grow_the_tail_it_did_not_add_to() {
    let (a, b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let mut source = open_store(&a);
    let (id, household) = household_moved(&mut source, 19);
    let changes: Vec<RemoteChange> = source.changes_after(0, 1_000).unwrap().into_iter().map(|(_, c)| c).collect();
    let mut phone = open_store(&b);
    phone.apply_remote(&changes[..10]).unwrap();
    // The first ten again, with ten new ones.
    assert_eq!(phone.apply_remote(&changes).unwrap().new_changes, 10);
    let (tail, beyond_snapshot): (i64, i64) = phone
        .connection()
        .query_row(
            "SELECT tail_len, (SELECT count(*) FROM change_log c WHERE c.record_id = r.id AND c.seq > r.snapshot_seq)
             FROM records r WHERE id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((tail, beyond_snapshot), (20, 20));
    assert_eq!(phone.get::<Household>(&id).unwrap().record, household);
}

#[test]
fn a_full_disk_fails_applying_a_sync_page_as_a_whole() {
    let dir = TempDir::new().unwrap();
    let mut source = open_store(&dir);
    let mut sample = Sample::new(13);
    for n in 0..60 {
        let hid = source.create(sample.household(&grid(), n)).unwrap();
        source.create(sample.person(&grid(), Some((&hid, "10")))).unwrap();
    }
    let changes: Vec<RemoteChange> = source.changes_after(0, 1_000).unwrap().into_iter().map(|(_, c)| c).collect();
    let other = TempDir::new().unwrap();
    let mut phone = open_store(&other);
    fill_up(&phone, 4);
    let before = row_counts(&phone);
    assert!(matches!(phone.apply_remote(&changes), Err(Error::StorageFull)));
    assert_eq!(row_counts(&phone), before, "a page applies whole or not at all");
    free_space(&phone);
    assert_eq!(phone.apply_remote(&changes).unwrap().new_changes, 120);
    assert_eq!(phone.heads_in_area("").unwrap(), source.heads_in_area("").unwrap());
}

#[test]
fn a_batch_writes_every_record_in_one_transaction_or_none() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    let mut sample = Sample::new(40);
    // A household and its members, together.
    let (household, members) = store
        .batch(|batch| {
            let household = batch.create(sample.household(&grid(), 1))?;
            let members = (0..3)
                .map(|_| batch.create(sample.person(&grid(), Some((&household, "10")))))
                .collect::<Result<Vec<_>>>()?;
            Ok((household, members))
        })
        .unwrap();
    assert_eq!(store.household_members(&household).unwrap().len(), 3);
    assert!(members.iter().all(|id| store.record_meta(id).is_ok()));
    assert_eq!(store.change_audit().unwrap().made_here, 4, "one change a record, nothing else");

    // An import whose 3rd row is invalid stores none of its rows.
    let before = store.heads_in_area("").unwrap();
    let mut bad = sample.household(&grid(), 3);
    bad.address = String::new();
    let rows = vec![sample.household(&grid(), 4), sample.household(&grid(), 5), bad, sample.household(&grid(), 6)];
    let result = store.batch(|batch| rows.into_iter().map(|row| batch.create(row)).collect::<Result<Vec<_>>>());
    assert!(matches!(result, Err(Error::Invalid(ref v)) if v.field == "address"), "{result:?}");
    assert_eq!(store.heads_in_area("").unwrap(), before, "nothing of a failed batch is stored");
    assert_eq!(store.list_households("", &Page::first(10)).unwrap().items.len(), 1);

    // The same person twice in one batch: the second is the first's record.
    let twice = store.batch(|batch| {
        batch.create(wang_fang())?;
        batch.create(wang_fang())
    });
    assert!(matches!(twice, Err(Error::AlreadyExists { .. })), "{twice:?}");
    assert_eq!(store.heads_in_area("").unwrap(), before);
}

#[test]
fn an_acknowledgement_marks_only_the_changes_sent() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    // Two identical rows of an import: one device, one second, the same values give
    // byte-identical first changes in two records.
    let row = Sample::new(9).household(&grid(), 1);
    let ids = store.batch(|batch| Ok((batch.create(row.clone())?, batch.create(row.clone())?))).unwrap();
    let pending = store.pending_push(10, 1 << 20).unwrap();
    assert_eq!(pending.len(), 2);
    let hash = |bytes: &[u8]| automerge::Change::from_bytes(bytes.to_vec()).unwrap().hash().0.to_vec();
    assert_eq!(hash(&pending[0].1.bytes), hash(&pending[1].1.bytes), "the same change in two records");
    // A push that carried only the first record is acknowledged.
    let answer = crate::sync::wire::PushResponse {
        batch_id: "b".into(),
        accepted: vec![hash(&pending[0].1.bytes)],
        rejected: vec![],
    };
    assert_eq!(store.record_push(&[pending[0].0], &answer).unwrap().acknowledged, 1);
    let left = store.pending_push(10, 1 << 20).unwrap();
    assert_eq!(left.len(), 1, "the second record's change never left the phone");
    assert_eq!(left[0].1.record_id, if pending[0].1.record_id == ids.0 { ids.1 } else { ids.0 });
}

/// A sync with nothing new must not read every change the phone ever held (it did: the
/// quarantine count walked every local change, 200 ms at 50,000 records): each count the
/// sync status makes reads the partial index of its own rows.
#[test]
fn the_sync_status_reads_no_more_than_what_waits() {
    let dir = TempDir::new().unwrap();
    let store = open_store(&dir);
    let counts =
        [(sync_state::PENDING_COUNT, "change_log_unacked"), (sync_state::QUARANTINED_COUNT, "change_log_quarantined")];
    for (sql, index) in counts {
        let plan: Vec<String> = store
            .connection()
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map([], |row| row.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(plan, [format!("SCAN change_log USING INDEX {index}")], "{sql}");
    }
}

#[test]
fn an_incident_reported_without_a_service_number_gets_one_unique_and_dated_in_china() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    // 2026-11-30 16:30 UTC is already 12-01 in China.
    store.set_clock(|| 1_796_056_200_000);
    let mut numbered = Vec::new();
    for seed in 0..3 {
        let mut incident = Sample::new(seed).incident(&grid(), 1, 1_700_000_000_000);
        incident.service_no = String::new();
        let id = store.create(incident).unwrap();
        let number = store.get::<Incident>(&id).unwrap().record.service_no;
        let tail = id.replace('-', "")[24..].to_ascii_uppercase();
        assert_eq!(number, format!("SJ20261201-{tail}"));
        numbered.push(number);
    }
    assert_eq!(numbered.iter().collect::<BTreeSet<_>>().len(), 3);
    let given = Sample::new(9).incident(&grid(), 7, 1_700_000_000_000);
    let id = store.create(given.clone()).unwrap();
    assert_eq!(store.get::<Incident>(&id).unwrap().record.service_no, given.service_no, "a given number is kept");
}

#[test]
fn a_snapshot_stored_as_it_came_must_be_whole_from_its_genesis_and_valid() {
    use automerge::{Automerge, Change, ROOT, transaction::Transactable};
    let dir = TempDir::new().unwrap();
    let mut source = open_store(&dir);
    let (id, household) = household_moved(&mut source, 2);
    let logged: Vec<Vec<u8>> = source.changes_after(0, u32::MAX).unwrap().into_iter().map(|(_, c)| c.bytes).collect();
    let first_two = |doc: &mut Automerge| {
        let genesis = Change::from_bytes(crate::doc::genesis_change(Kind::Household).to_vec()).unwrap();
        doc.apply_changes([genesis, Change::from_bytes(logged[0].clone()).unwrap()]).unwrap();
    };
    // The record as first made, then the third change without the second it builds on.
    let mut made = Automerge::new();
    first_two(&mut made);
    let mut waiting = made.save();
    waiting.extend_from_slice(&logged[2]);
    let mut invalid = Automerge::new();
    first_two(&mut invalid);
    let mut tx = invalid.transaction();
    tx.put(ROOT, "phone", "12345").unwrap();
    tx.commit();
    let mut rootless = Automerge::new();
    let mut tx = rootless.transaction();
    tx.put(ROOT, "kind", "household").unwrap();
    tx.commit();

    let target_dir = TempDir::new().unwrap();
    let mut target = open_store(&target_dir);
    let snapshot =
        |document: Vec<u8>| crate::sync::wire::Snapshot { record_id: id.clone(), kind: Kind::Household, document };
    for (what, document) in [("waiting", waiting), ("invalid", invalid.save()), ("rootless", rootless.save())] {
        let outcome = target.apply_snapshots(&[snapshot(document)]).unwrap();
        assert_eq!(outcome.refused, 1, "{what}");
        assert!(target.record_meta(&id).is_err(), "{what}: nothing stored");
    }
    let whole = source.export_document(&id).unwrap();
    assert_eq!(target.apply_snapshots(&[snapshot(whole)]).unwrap().refused, 0);
    assert_eq!(target.get::<Household>(&id).unwrap().record, household);
}
