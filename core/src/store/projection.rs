//! Projections: each record's fields in typed columns for queries. Always derived from
//! the document, inside the same transaction that stored it, and rebuildable.

use std::sync::OnceLock;

use rusqlite::{Connection, OptionalExtension, ToSql, params};

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
/// FTS5) is keyed by `person_search.key` instead: [`clear`] and [`forget`] handle it.
static TABLES: [&Table; 5] = [&HOUSEHOLDS, &PERSONS, &PERSON_SEARCH, &VISITS, &INCIDENTS];

/// The names of the projection tables keyed by record id.
pub(crate) fn table_names() -> impl Iterator<Item = &'static str> {
    TABLES.iter().map(|table| table.name)
}

/// Removes every projection row, for a rebuild or a wipe.
pub(crate) fn clear(tx: &Connection) -> Result<()> {
    tx.execute("INSERT INTO person_terms (person_terms) VALUES ('delete-all')", [])?;
    for table in table_names() {
        tx.execute(&format!("DELETE FROM {table}"), [])?;
    }
    Ok(())
}

/// Removes one record's projection rows (a record leaving the phone's scope).
pub(crate) fn forget(tx: &Connection, id: &str) -> Result<()> {
    tx.prepare_cached("DELETE FROM person_terms WHERE rowid = (SELECT key FROM person_search WHERE id = ?1)")?
        .execute([id])?;
    for table in table_names() {
        tx.prepare_cached(&format!("DELETE FROM {table} WHERE id = ?1"))?.execute([id])?;
    }
    Ok(())
}

/// Removes from the search index's pages what [`forget`] deleted. FTS5 deletes a row of
/// a contentless table by a tombstone: its terms (pieces of the person's names) stay in
/// the index's pages until their segments are merged, and a record that left the
/// phone's scope must leave no trace of the person. Merges every segment: the cost of
/// reading the index once, after a prune only.
pub(crate) fn purge_forgotten(tx: &Connection) -> Result<()> {
    tx.execute("INSERT INTO person_terms (person_terms) VALUES ('optimize')", [])?;
    Ok(())
}

/// A projection table: its columns (`id` first; values are bound in this order) and
/// those that an index holds (`indexed` saves pages only: a column missing from it is
/// still written, by the upsert; a test keeps it equal to the schema's indexes).
struct Table {
    name: &'static str,
    columns: &'static str,
    indexed: &'static [&'static str],
    statements: OnceLock<[String; 2]>,
}

static HOUSEHOLDS: Table = Table::new(
    "households",
    "id, area_code, household_no, household_type, address, lat, lon, residence_matches, housing, tags, phone, \
     deleted, updated_at",
    &["area_code"],
);
static PERSONS: Table = Table::new(
    "persons",
    "id, area_code, name, former_name, id_type, id_number, gender, ethnicity, birth_date, phone, household_id, \
     relationship, person_type, status, focus_groups, deleted, updated_at",
    &["area_code", "household_id"],
);
static PERSON_SEARCH: Table =
    Table::new("person_search", "id, area_code, names, id_rev, phone_rev", &["id_rev", "phone_rev"]);
static VISITS: Table = Table::new(
    "visits",
    "id, area_code, target_kind, target_id, visited_at, visitor, purpose, next_due, findings, deleted, updated_at",
    &["area_code", "target_id", "visited_at"],
);
static INCIDENTS: Table = Table::new(
    "incidents",
    "id, area_code, service_no, title, categories, status, urgent, supervision, major, occurred_at, deadline, \
     needs_review, review, deleted, updated_at",
    &["area_code", "status"],
);

impl Table {
    const fn new(name: &'static str, columns: &'static str, indexed: &'static [&'static str]) -> Self {
        Self { name, columns, indexed, statements: OnceLock::new() }
    }

    /// Writes the row of `values` (in `columns` order) and returns its rowid.
    ///
    /// An upsert, not a replace: a replace deleted the row and appended it under a new
    /// rowid, dirtying two table pages and every index at each edit. And the indexed
    /// columns are set apart, all of them when any one changed and none otherwise:
    /// SQLite rewrites an index's entry for every column an UPDATE sets, equal or not,
    /// and each index page so dirtied is one more page to encrypt and write at the
    /// commit (an edit of a household's address wrote its area index every time).
    fn write(&self, tx: &Connection, values: &[&dyn ToSql]) -> Result<i64> {
        let [upsert, reindex] = self.statements.get_or_init(|| self.statements());
        let rowid = tx.prepare_cached(upsert)?.query_row(values, |row| row.get(0))?;
        let mut bound: Vec<&dyn ToSql> = vec![&rowid];
        bound.extend(self.names().zip(values).filter(|(name, _)| self.indexed.contains(name)).map(|(_, v)| *v));
        tx.prepare_cached(reindex)?.execute(&*bound)?;
        Ok(rowid)
    }

    fn names(&self) -> impl Iterator<Item = &'static str> {
        self.columns.split(", ")
    }

    /// The upsert of every column (the indexed ones on insert only), and the update of
    /// the indexed ones where one differs.
    fn statements(&self) -> [String; 2] {
        let (name, columns) = (self.name, self.columns);
        let values = (1..=self.names().count()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
        let unindexed = self.names().skip(1).filter(|c| !self.indexed.contains(c));
        let set = unindexed.map(|c| format!("{c} = excluded.{c}")).collect::<Vec<_>>().join(", ");
        let indexed = self.names().filter(|c| self.indexed.contains(c)).enumerate();
        let (assign, differ): (Vec<String>, Vec<String>) =
            indexed.map(|(k, c)| (format!("{c} = ?{}", k + 2), format!("{c} IS NOT ?{}", k + 2))).unzip();
        [
            format!(
                "INSERT INTO {name} ({columns}) VALUES ({values}) ON CONFLICT (id) DO UPDATE SET {set} RETURNING rowid"
            ),
            format!("UPDATE {name} SET {} WHERE rowid = ?1 AND ({})", assign.join(", "), differ.join(" OR ")),
        ]
    }
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
    HOUSEHOLDS.write(
        tx,
        params![
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
        ],
    )?;
    Ok(())
}

fn project_person(tx: &Connection, id: &str, p: &Person, deleted: bool, at: Millis) -> Result<()> {
    PERSONS.write(
        tx,
        params![
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
        ],
    )?;
    let keys = SearchKeys::for_person(p);
    let indexed_names: Option<String> = tx
        .prepare_cached("SELECT names FROM person_search WHERE id = ?1")?
        .query_row([id], |row| row.get(0))
        .optional()?;
    // The row keeps its key, which keys its search terms.
    let key = PERSON_SEARCH.write(tx, params![id, p.area_code.as_str(), keys.names, keys.id_rev, keys.phone_rev])?;
    // The terms derive from the names alone: most writes leave them as they are, and a
    // new person has none to delete. A change of how they derive (the pinyin crate's
    // data included: an upgrade of it is one) must come with a migration that rebuilds
    // projections, or old spellings stay; search.rs's tests pin the spellings.
    if indexed_names.as_deref() != Some(keys.names.as_str()) {
        if indexed_names.is_some() {
            tx.prepare_cached("DELETE FROM person_terms WHERE rowid = ?1")?.execute([key])?;
        }
        tx.prepare_cached("INSERT INTO person_terms (rowid, terms) VALUES (?1, ?2)")?
            .execute(params![key, keys.index_text()])?;
    }
    Ok(())
}

fn project_visit(tx: &Connection, id: &str, v: &Visit, deleted: bool, at: Millis) -> Result<()> {
    let (target_kind, target_id) = match &v.target {
        VisitTarget::Household(id) => (Kind::Household, id),
        VisitTarget::Person(id) => (Kind::Person, id),
    };
    VISITS.write(
        tx,
        params![
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
        ],
    )?;
    Ok(())
}

fn project_incident(tx: &Connection, id: &str, i: &Incident, deleted: bool, at: Millis) -> Result<()> {
    let state = i.state();
    let review = state.needs_review().then(|| state.review.iter().map(|r| r.reason()).collect::<Vec<_>>().join("; "));
    INCIDENTS.write(
        tx,
        params![
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
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_indexed_columns_are_those_the_schema_indexes() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = crate::store::Store::open(dir.path().join("s.db"), crate::store::DbKey::Raw(&[7; 32])).unwrap();
        let conn = store.connection();
        for table in TABLES {
            let mut indexed: Vec<String> = conn
                .prepare(
                    "SELECT DISTINCT i.name FROM pragma_index_list(?1) l, pragma_index_info(l.name) i
                     WHERE i.name != 'id' ORDER BY i.name",
                )
                .unwrap()
                .query_map([table.name], |row| row.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            indexed.sort();
            let mut listed: Vec<&str> = table.indexed.to_vec();
            listed.sort();
            assert_eq!(indexed, listed, "{}", table.name);
            for statement in table.statements() {
                conn.prepare(&statement).unwrap_or_else(|e| panic!("{}: {e}: {statement}", table.name));
            }
        }
    }
}
