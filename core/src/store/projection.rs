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

/// The projection tables keyed by record id. The person search index (`person_terms`,
/// FTS5) is keyed by `person_search`'s rowid instead: [`clear`] and [`forget`] handle it.
pub(crate) const PROJECTION_TABLES: &[&str] = &["households", "persons", "person_search", "visits", "incidents"];

/// Removes every projection row, for a rebuild or a wipe.
pub(crate) fn clear(tx: &Connection) -> Result<()> {
    tx.execute("INSERT INTO person_terms (person_terms) VALUES ('delete-all')", [])?;
    for table in PROJECTION_TABLES {
        tx.execute(&format!("DELETE FROM {table}"), [])?;
    }
    Ok(())
}

/// Removes one record's projection rows (a record leaving the phone's scope).
pub(crate) fn forget(tx: &Connection, id: &str) -> Result<()> {
    tx.prepare_cached("DELETE FROM person_terms WHERE rowid = (SELECT rowid FROM person_search WHERE id = ?1)")?
        .execute([id])?;
    for table in PROJECTION_TABLES {
        tx.prepare_cached(&format!("DELETE FROM {table} WHERE id = ?1"))?.execute([id])?;
    }
    Ok(())
}

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
    let indexed: Option<(i64, String)> = tx
        .prepare_cached("SELECT rowid, names FROM person_search WHERE id = ?1")?
        .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    // An upsert, not a replace: the row keeps its rowid, which keys its search terms.
    let rowid: i64 = tx
        .prepare_cached(
            "INSERT INTO person_search (id, area_code, names, id_rev, phone_rev) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET area_code = excluded.area_code, names = excluded.names,
               id_rev = excluded.id_rev, phone_rev = excluded.phone_rev
             RETURNING rowid",
        )?
        .query_row(params![id, p.area_code.as_str(), keys.names, keys.id_rev, keys.phone_rev], |row| row.get(0))?;
    // The terms derive from the names alone: most writes leave them as they are, and a
    // new person has none to delete. A change of how they derive (the pinyin crate's
    // data included: an upgrade of it is one) must come with a migration that rebuilds
    // projections, or old spellings stay; search.rs's tests pin the spellings.
    match indexed {
        Some((_, names)) if names == keys.names => {}
        indexed => {
            if indexed.is_some() {
                tx.prepare_cached("DELETE FROM person_terms WHERE rowid = ?1")?.execute([rowid])?;
            }
            tx.prepare_cached("INSERT INTO person_terms (rowid, terms) VALUES (?1, ?2)")?
                .execute(params![rowid, keys.index_text()])?;
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
