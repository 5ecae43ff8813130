//! A: plain rusqlite. The same rows in ordinary tables with the indexes an app would
//! make, no documents and no sync metadata: the floor gridsync is measured against.
//! Search is what such an app does: LIKE over the name, a stored initials column and the
//! ID number.

use gridsync_core::IncidentStatus;
use rusqlite::{Connection, params};

use super::Arm;
use crate::data::{Dataset, TOWNSHIP, initials};

const SCHEMA: &str = "
CREATE TABLE households (id TEXT PRIMARY KEY, area_code TEXT NOT NULL, household_no TEXT NOT NULL,
    household_type TEXT NOT NULL, address TEXT NOT NULL, housing TEXT NOT NULL, phone TEXT, notes TEXT NOT NULL);
CREATE INDEX households_area ON households (area_code, id);
CREATE TABLE persons (id TEXT PRIMARY KEY, area_code TEXT NOT NULL, household_id TEXT, name TEXT NOT NULL,
    initials TEXT NOT NULL, id_number TEXT, gender TEXT NOT NULL, birth_date TEXT NOT NULL, phone TEXT,
    relationship TEXT, status TEXT NOT NULL);
CREATE INDEX persons_household ON persons (household_id);
CREATE TABLE visits (id TEXT PRIMARY KEY, area_code TEXT NOT NULL, household_id TEXT NOT NULL,
    visited_at INTEGER NOT NULL, purpose TEXT NOT NULL);
CREATE TABLE incidents (id TEXT PRIMARY KEY, area_code TEXT NOT NULL, title TEXT NOT NULL,
    status TEXT NOT NULL, occurred_at INTEGER NOT NULL);
CREATE INDEX incidents_status ON incidents (status, area_code, id);
";

#[derive(Debug)]
pub struct Plain {
    pub conn: Connection,
    households: Vec<String>,
}

impl Plain {
    pub fn open(path: &std::path::Path) -> Self {
        let conn = super::open_encrypted(path);
        conn.execute_batch(SCHEMA).expect("schema");
        Self { conn, households: Vec::new() }
    }

    fn json<T: serde::Serialize>(value: &T) -> String {
        serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
    }

    /// Every row of every table, as incoming "changes" for another replica.
    pub fn rows(&self) -> Vec<(String, Vec<rusqlite::types::Value>)> {
        let mut out = Vec::new();
        for table in ["households", "persons", "visits", "incidents"] {
            let mut stmt = self.conn.prepare(&format!("SELECT * FROM {table}")).expect("select");
            let columns = stmt.column_count();
            let rows = stmt
                .query_map([], |row| (0..columns).map(|i| row.get::<_, rusqlite::types::Value>(i)).collect())
                .expect("rows");
            out.extend(rows.map(|r| (table.to_owned(), r.expect("row"))));
        }
        out
    }

    /// Upserts `rows` in transactions of 500.
    pub fn apply_rows(&mut self, rows: &[(String, Vec<rusqlite::types::Value>)]) {
        for page in rows.chunks(500) {
            let tx = self.conn.transaction().expect("tx");
            for (table, values) in page {
                let marks = vec!["?"; values.len()].join(", ");
                tx.prepare_cached(&format!("INSERT OR REPLACE INTO {table} VALUES ({marks})"))
                    .expect("insert")
                    .execute(rusqlite::params_from_iter(values))
                    .expect("upsert");
            }
            tx.commit().expect("commit");
        }
    }

    /// Inserts the households and persons of `data`, in whatever transaction is open.
    fn insert_register(&mut self, data: &Dataset) {
        for h in &data.households {
            let id = uuid::Uuid::now_v7().to_string();
            self.conn
                .prepare_cached("INSERT INTO households VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
                .expect("insert")
                .execute(params![
                    id,
                    h.area_code.as_str(),
                    h.household_no,
                    Self::json(&h.household_type),
                    h.address,
                    Self::json(&h.housing),
                    h.phone,
                    h.notes
                ])
                .expect("insert household");
            self.households.push(id);
        }
        for (household, p) in &data.persons {
            self.conn
                .prepare_cached("INSERT INTO persons VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")
                .expect("insert")
                .execute(params![
                    uuid::Uuid::now_v7().to_string(),
                    p.area_code.as_str(),
                    self.households[*household],
                    p.name,
                    initials(&p.name),
                    p.id_number,
                    Self::json(&p.gender),
                    p.birth_date.to_string(),
                    p.phone,
                    p.relationship,
                    Self::json(&p.status)
                ])
                .expect("insert person");
        }
    }
}

impl Arm for Plain {
    fn create_all(&mut self, data: &Dataset) {
        self.insert_register(data);
        for (household, v) in &data.visits {
            self.conn
                .prepare_cached("INSERT INTO visits VALUES (?1, ?2, ?3, ?4, ?5)")
                .expect("insert")
                .execute(params![
                    uuid::Uuid::now_v7().to_string(),
                    v.area_code.as_str(),
                    self.households[*household],
                    v.visited_at,
                    v.purpose
                ])
                .expect("insert visit");
        }
        for (incident, timeline) in &data.incidents {
            let mut with_timeline = incident.clone();
            with_timeline.timeline = timeline.clone();
            self.conn
                .prepare_cached("INSERT INTO incidents VALUES (?1, ?2, ?3, ?4, ?5)")
                .expect("insert")
                .execute(params![
                    uuid::Uuid::now_v7().to_string(),
                    incident.area_code.as_str(),
                    incident.title,
                    Self::json(&with_timeline.status()),
                    incident.occurred_at
                ])
                .expect("insert incident");
        }
    }

    fn import_register(&mut self, data: &Dataset) {
        self.conn.execute_batch("BEGIN").expect("begin");
        self.insert_register(data);
        self.conn.execute_batch("COMMIT").expect("commit");
    }

    fn edit_address(&mut self, _: &Dataset, index: usize, address: &str) {
        self.conn
            .prepare_cached("UPDATE households SET address = ?2 WHERE id = ?1")
            .expect("update")
            .execute(params![self.households[index], address])
            .expect("edit");
    }

    fn list_grid(&mut self, grid: &str) -> usize {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT * FROM households WHERE area_code >= ?1 AND area_code < ?2 ORDER BY area_code, id LIMIT 100",
            )
            .expect("list");
        let rows = stmt.query_map(params![grid, format!("{grid}\u{ffff}")], |r| r.get::<_, String>(0)).expect("rows");
        rows.count()
    }

    fn members(&mut self, index: usize) -> usize {
        let mut stmt = self.conn.prepare_cached("SELECT * FROM persons WHERE household_id = ?1").expect("members");
        stmt.query_map([&self.households[index]], |r| r.get::<_, String>(0)).expect("rows").count()
    }

    fn incidents_with_status(&mut self, status: IncidentStatus) -> usize {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT * FROM incidents WHERE status = ?1 AND area_code >= ?2 ORDER BY area_code, id LIMIT 100",
            )
            .expect("incidents");
        stmt.query_map(params![Self::json(&status), TOWNSHIP], |r| r.get::<_, String>(0)).expect("rows").count()
    }

    fn search(&mut self, query: &str) -> usize {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT * FROM persons WHERE name LIKE '%' || ?1 || '%' OR initials LIKE ?1 || '%'
                 OR id_number LIKE '%' || ?1 LIMIT 20",
            )
            .expect("search");
        stmt.query_map([query], |r| r.get::<_, String>(0)).expect("rows").count()
    }
}
