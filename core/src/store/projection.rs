//! Projections: each record's fields in typed columns for queries. Always derived from
//! the document, inside the same transaction that stored it, and rebuildable.

use rusqlite::{Connection, OptionalExtension, params};

use super::search::SearchKeys;
use crate::doc::RecordDoc;
use crate::error::Result;
use crate::model::{Household, Incident, Kind, Millis, Person, Visit, VisitTarget};

/// Writes the projection row(s) of `doc`.
pub(crate) fn project(tx: &Connection, id: &str, doc: &RecordDoc, updated_at: Millis) -> Result<()> {
    let deleted = doc.is_deleted()?;
    match doc.kind() {
        Kind::Household => project_household(tx, id, &doc.read()?, deleted, updated_at),
        Kind::Person => project_person(tx, id, &doc.read()?, deleted, updated_at),
        Kind::Visit => project_visit(tx, id, &doc.read()?, deleted, updated_at),
        Kind::Incident => project_incident(tx, id, &doc.read()?, deleted, updated_at),
    }
}

/// Every projection table, for rebuilds.
pub(crate) const PROJECTION_TABLES: &[&str] =
    &["households", "persons", "person_search", "person_terms", "visits", "incidents"];

fn json_list<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The serde name of a unit enum variant (`"family"`, `"moved_out"` …).
fn code<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn project_household(tx: &Connection, id: &str, h: &Household, deleted: bool, at: Millis) -> Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO households
         (id, area_code, household_no, household_type, address, lat, lon, residence_matches, housing, tags,
          phone, deleted, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        id,
        h.area_code.as_str(),
        h.household_no,
        code(&h.household_type),
        h.address,
        h.gps.map(|g| g.lat),
        h.gps.map(|g| g.lon),
        h.residence_matches,
        code(&h.housing),
        json_list(&h.tags),
        h.phone,
        deleted,
        at
    ])?;
    Ok(())
}

fn project_person(tx: &Connection, id: &str, p: &Person, deleted: bool, at: Millis) -> Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO persons
         (id, area_code, name, former_name, id_type, id_number, gender, ethnicity, birth_date, phone,
          household_id, relationship, person_type, status, focus_groups, deleted, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    )?
    .execute(params![
        id,
        p.area_code.as_str(),
        p.name,
        p.former_name,
        p.id_type.as_str(),
        p.id_number,
        code(&p.gender),
        p.ethnicity,
        p.birth_date.to_string(),
        p.phone,
        p.household_id,
        p.relationship,
        code(&p.person_type),
        code(&p.status),
        json_list(&p.focus_groups.keys().collect::<Vec<_>>()),
        deleted,
        at
    ])?;
    let keys = SearchKeys::for_person(p);
    let indexed_names: Option<String> = tx
        .prepare_cached("SELECT names FROM person_search WHERE id = ?1")?
        .query_row([id], |row| row.get(0))
        .optional()?;
    tx.prepare_cached(
        "INSERT OR REPLACE INTO person_search (id, area_code, names, pinyin, initials, id_rev, phone_rev)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        id,
        p.area_code.as_str(),
        keys.names,
        keys.pinyin,
        keys.initials,
        keys.id_rev,
        keys.phone_rev
    ])?;
    // The terms derive from the names alone: most writes leave them as they are, and a
    // new person has none to delete. A change of how they derive (the pinyin crate's
    // data included: an upgrade of it is one) must come with a migration that rebuilds
    // projections, or old spellings stay; search.rs's tests pin the spellings.
    if indexed_names.as_deref() != Some(keys.names.as_str()) {
        if indexed_names.is_some() {
            tx.prepare_cached("DELETE FROM person_terms WHERE id = ?1")?.execute([id])?;
        }
        let mut insert = tx.prepare_cached("INSERT OR IGNORE INTO person_terms (term, id) VALUES (?1, ?2)")?;
        for term in keys.terms() {
            insert.execute(params![term, id])?;
        }
    }
    Ok(())
}

fn project_visit(tx: &Connection, id: &str, v: &Visit, deleted: bool, at: Millis) -> Result<()> {
    let (target_kind, target_id) = match &v.target {
        VisitTarget::Household(id) => (Kind::Household, id),
        VisitTarget::Person(id) => (Kind::Person, id),
    };
    tx.prepare_cached(
        "INSERT OR REPLACE INTO visits
         (id, area_code, target_kind, target_id, visited_at, visitor, purpose, next_due, findings, deleted, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        id,
        v.area_code.as_str(),
        target_kind.as_str(),
        target_id,
        v.visited_at,
        v.visitor,
        v.purpose,
        v.next_due.map(|d| d.to_string()),
        v.findings.len() as i64,
        deleted,
        at
    ])?;
    Ok(())
}

fn project_incident(tx: &Connection, id: &str, i: &Incident, deleted: bool, at: Millis) -> Result<()> {
    let state = i.state();
    let review = state.needs_review().then(|| state.review.iter().map(|r| r.reason()).collect::<Vec<_>>().join("; "));
    tx.prepare_cached(
        "INSERT OR REPLACE INTO incidents
         (id, area_code, service_no, title, categories, status, urgent, supervision, major, occurred_at, deadline,
          needs_review, review, deleted, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        id,
        i.area_code.as_str(),
        i.service_no,
        i.title,
        json_list(&i.categories),
        state.status.as_str(),
        state.urgent,
        state.supervision.map(|s| code(&s)),
        i.major,
        i.occurred_at,
        state.deadline,
        state.needs_review(),
        review,
        deleted,
        at
    ])?;
    Ok(())
}
