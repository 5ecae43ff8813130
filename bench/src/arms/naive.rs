//! B: naive automerge. One automerge document per record, saved whole into SQLite after
//! every change, with only the kind and area beside it: everything else (members,
//! status, search) means loading documents. This is how automerge is usually first
//! wired to a database; gridsync is measured against it.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, Automerge, ROOT, ReadDoc, ScalarValue, Value};
use gridsync_core::{FollowUp, IncidentState, IncidentStatus};
use rusqlite::{Connection, params};
use serde_json::Value as Json;

use super::Arm;
use crate::data::{Dataset, TOWNSHIP, initials};

#[derive(Debug)]
pub struct Naive {
    pub conn: Connection,
    households: Vec<String>,
}

/// A document with every top-level field of `record` as a scalar (nested values as JSON
/// text), committed as one change.
pub fn to_doc(kind: &str, record: &Json) -> AutoCommit {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "kind", kind).expect("put");
    if let Json::Object(fields) = record {
        for (name, value) in fields {
            let scalar = match value {
                Json::Null => continue,
                Json::Bool(b) => ScalarValue::Boolean(*b),
                Json::Number(n) => n.as_i64().map_or(ScalarValue::F64(n.as_f64().unwrap_or(0.0)), ScalarValue::Int),
                Json::String(s) => ScalarValue::Str(s.as_str().into()),
                other => ScalarValue::Str(other.to_string().into()),
            };
            doc.put(ROOT, name.as_str(), scalar).expect("put");
        }
    }
    doc.commit();
    doc
}

pub fn text(doc: &Automerge, field: &str) -> Option<String> {
    match doc.get(ROOT, field).ok()?? {
        (Value::Scalar(s), _) => s.as_str().map(str::to_owned),
        _ => None,
    }
}

impl Naive {
    pub fn open(path: &std::path::Path) -> Self {
        let conn = super::open_encrypted(path);
        conn.execute_batch(
            "CREATE TABLE docs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, area_code TEXT NOT NULL, doc BLOB NOT NULL);
             CREATE INDEX docs_kind_area ON docs (kind, area_code, id);",
        )
        .expect("schema");
        Self { conn, households: Vec::new() }
    }

    fn insert(&self, kind: &str, area: &str, record: &Json) -> String {
        let id = uuid::Uuid::now_v7().to_string();
        let bytes = to_doc(kind, record).save();
        self.conn
            .prepare_cached("INSERT INTO docs VALUES (?1, ?2, ?3, ?4)")
            .expect("insert")
            .execute(params![id, kind, area, bytes])
            .expect("insert doc");
        id
    }

    /// Loads every document of `kind` under `prefix`, in id order, until `visit` says stop.
    fn scan(&self, kind: &str, prefix: &str, mut visit: impl FnMut(&str, Automerge) -> bool) {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, doc FROM docs WHERE kind = ?1 AND area_code >= ?2 AND area_code < ?3 ORDER BY area_code, id")
            .expect("scan");
        let mut rows = stmt.query(params![kind, prefix, format!("{prefix}\u{ffff}")]).expect("rows");
        while let Some(row) = rows.next().expect("row") {
            let id: String = row.get(0).expect("id");
            let doc = Automerge::load(&row.get::<_, Vec<u8>>(1).expect("doc")).expect("a saved document");
            if !visit(&id, doc) {
                break;
            }
        }
    }

    /// Every document's id, kind, area and bytes.
    pub fn documents(&self) -> Vec<(String, String, String, Vec<u8>)> {
        let mut stmt = self.conn.prepare("SELECT id, kind, area_code, doc FROM docs").expect("select");
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).expect("rows");
        rows.map(|r| r.expect("row")).collect()
    }

    /// Applies other replicas' changes document by document: load, apply, save whole.
    pub fn apply_changes(&mut self, incoming: &[(String, String, String, Vec<Vec<u8>>)]) {
        for (id, kind, area, changes) in incoming {
            let existing: Option<Vec<u8>> = self
                .conn
                .prepare_cached("SELECT doc FROM docs WHERE id = ?1")
                .expect("select")
                .query_row([id], |r| r.get(0))
                .ok();
            let mut doc = existing.map_or_else(Automerge::new, |b| Automerge::load(&b).expect("a saved document"));
            let parsed = changes.iter().map(|c| automerge::Change::from_bytes(c.clone()).expect("a change"));
            doc.apply_changes(parsed).expect("apply");
            self.conn
                .prepare_cached("INSERT OR REPLACE INTO docs VALUES (?1, ?2, ?3, ?4)")
                .expect("upsert")
                .execute(params![id, kind, area, doc.save()])
                .expect("save");
        }
    }

    /// Saves the households and persons of `data`, in whatever transaction is open.
    fn insert_register(&mut self, data: &Dataset) {
        for h in &data.households {
            let id = self.insert("household", h.area_code.as_str(), &json(h));
            self.households.push(id);
        }
        for (household, p) in &data.persons {
            let mut p = p.clone();
            p.household_id = Some(self.households[*household].clone());
            self.insert("person", p.area_code.as_str(), &json(&p));
        }
    }
}

fn json<T: serde::Serialize>(value: &T) -> Json {
    serde_json::to_value(value).expect("records serialise")
}

impl Arm for Naive {
    fn create_all(&mut self, data: &Dataset) {
        self.insert_register(data);
        for (household, v) in &data.visits {
            let mut v = v.clone();
            v.target = gridsync_core::VisitTarget::Household(self.households[*household].clone());
            self.insert("visit", v.area_code.as_str(), &json(&v));
        }
        for (incident, timeline) in &data.incidents {
            let mut incident = incident.clone();
            incident.timeline = timeline.clone();
            self.insert("incident", incident.area_code.as_str(), &json(&incident));
        }
    }

    fn import_register(&mut self, data: &Dataset) {
        self.conn.execute_batch("BEGIN").expect("begin");
        self.insert_register(data);
        self.conn.execute_batch("COMMIT").expect("commit");
    }

    fn edit_address(&mut self, _: &Dataset, index: usize, address: &str) {
        let id = &self.households[index];
        let bytes: Vec<u8> = self
            .conn
            .prepare_cached("SELECT doc FROM docs WHERE id = ?1")
            .expect("select")
            .query_row([id], |r| r.get(0))
            .expect("doc");
        let mut doc = AutoCommit::load(&bytes).expect("a saved document");
        doc.put(ROOT, "address", address).expect("put");
        self.conn
            .prepare_cached("UPDATE docs SET doc = ?2 WHERE id = ?1")
            .expect("update")
            .execute(params![id, doc.save()])
            .expect("save");
    }

    fn list_grid(&mut self, grid: &str) -> usize {
        let mut shown = Vec::new();
        self.scan("household", grid, |_, doc| {
            shown.push(text(&doc, "address"));
            shown.len() < 100
        });
        shown.len()
    }

    fn members(&mut self, index: usize) -> usize {
        let household = self.households[index].clone();
        let area: String = self
            .conn
            .prepare_cached("SELECT area_code FROM docs WHERE id = ?1")
            .expect("select")
            .query_row([&household], |r| r.get(0))
            .expect("area");
        let mut members = 0;
        self.scan("person", &area, |_, doc| {
            members += usize::from(text(&doc, "household_id").as_deref() == Some(household.as_str()));
            true
        });
        members
    }

    fn incidents_with_status(&mut self, status: IncidentStatus) -> usize {
        let mut found = 0;
        self.scan("incident", TOWNSHIP, |_, doc| {
            let timeline: Vec<FollowUp> =
                text(&doc, "timeline").and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
            found += usize::from(IncidentState::fold(&timeline).status == status);
            found < 100
        });
        found
    }

    fn search(&mut self, query: &str) -> usize {
        let mut found = 0;
        self.scan("person", TOWNSHIP, |_, doc| {
            let name = text(&doc, "name").unwrap_or_default();
            let id_number = text(&doc, "id_number").unwrap_or_default();
            if name.contains(query) || initials(&name).starts_with(query) || id_number.ends_with(query) {
                found += 1;
            }
            found < 20
        });
        found
    }
}
