//! One oracle for loss and duplicates, the way Jepsen checks a store: the harness logs
//! every write a phone acknowledged to its user — records created, field values set,
//! timeline entries appended — and at the end checks each one on the center and on
//! every phone in scope:
//!
//! - a created record is there, and no second record holds its natural key (a person's
//!   ID number, a household's number in its area): a retried create made twice is a
//!   duplicate a user would see;
//! - a field holds the last value some phone acknowledged for it, or shows that value in
//!   a visible conflict; an older value back, or none, is a lost write;
//! - a timeline entry is there exactly once, by its own id.
//!
//! `check` counts what it finds; the suites print those counts, and the oracle's own
//! test injects a loss and a duplicate to see them counted.

use std::collections::{BTreeMap, HashMap};

use gridsync_core::model::{Household, Incident};
use gridsync_core::{Page, Store};
use serde_json::Value;

/// One write a phone reported as done.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Ack {
    /// A household created, with its number in its area.
    Household { id: String, area_code: String, household_no: String },
    /// A person created, with the ID number it holds (if any).
    Person { id: String, id_number: Option<String> },
    /// A scalar field of a household set to a value (by a given phone).
    Field { phone: String, id: String, field: String, value: Value },
    /// Free text of a record edited (text merges, so only the record is checked).
    Text { id: String },
    /// A follow-up appended to an incident.
    FollowUp { incident: String, entry: String },
}

impl Ack {
    /// The record the write went to.
    pub fn record_id(&self) -> &str {
        match self {
            Ack::Household { id, .. } | Ack::Person { id, .. } | Ack::Field { id, .. } | Ack::Text { id } => id,
            Ack::FollowUp { incident, .. } => incident,
        }
    }
}

/// The writes a `gridsync-proc phone` process reported (`wrote {json}` lines).
pub fn acks_in(lines: &[String]) -> Vec<Ack> {
    lines
        .iter()
        .filter_map(|line| line.strip_prefix("wrote "))
        .map(|json| serde_json::from_str(json).expect("a `wrote` line holds an acknowledged write"))
        .collect()
}

/// What a check found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Acknowledged writes missing from a replica (counted per replica).
    pub lost: u64,
    /// Acknowledged writes present twice on a replica (counted per replica).
    pub duplicates: u64,
    /// What was lost or doubled, and where (record ids and field names only).
    pub findings: Vec<String>,
}

/// The acknowledged writes of a run.
#[derive(Debug, Default)]
pub struct Oracle {
    acks: Vec<Ack>,
}

impl From<Vec<Ack>> for Oracle {
    fn from(acks: Vec<Ack>) -> Self {
        Self { acks }
    }
}

impl Oracle {
    pub fn new() -> Self {
        Self::default()
    }

    /// The writes whose presence alone is their check (records, texts, timeline
    /// entries): what a replica must hold right after a crash, before it has synced
    /// with the phones whose later values may have replaced its field values.
    pub fn durable(&self) -> Self {
        Self { acks: self.acks.iter().filter(|a| !matches!(a, Ack::Field { .. })).cloned().collect() }
    }

    pub fn ack(&mut self, ack: Ack) {
        self.acks.push(ack);
    }

    pub fn extend(&mut self, acks: impl IntoIterator<Item = Ack>) {
        self.acks.extend(acks);
    }

    pub fn len(&self) -> usize {
        self.acks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.acks.is_empty()
    }

    /// Checks every acknowledged write on each named replica.
    pub fn check(&self, replicas: &[(&str, &Store)]) -> Verdict {
        let mut verdict = Verdict::default();
        // For each field, the last value each phone acknowledged: the value at the end
        // must be one of them (concurrent writes: automerge picks one) or conflict.
        let mut finals: BTreeMap<(&str, &str), HashMap<&str, &Value>> = BTreeMap::new();
        for ack in &self.acks {
            if let Ack::Field { phone, id, field, value } = ack {
                finals.entry((id, field)).or_default().insert(phone, value);
            }
        }
        for (name, store) in replicas {
            let mut found = |what: String, lost: bool| {
                if lost {
                    verdict.lost += 1;
                } else {
                    verdict.duplicates += 1;
                }
                verdict.findings.push(format!("{name}: {what}"));
            };
            let households = all_households(store);
            let persons = all_persons(store);
            let mut timelines: HashMap<String, Vec<String>> = HashMap::new();
            for ack in &self.acks {
                match ack {
                    Ack::Household { id, area_code, household_no } => {
                        if store.record_meta(id).is_err() {
                            found(format!("household {id} lost"), true);
                        }
                        let same = households.iter().filter(|h| h.1 == *area_code && h.2 == *household_no).count();
                        if same > 1 {
                            found(format!("household {id} registered {same} times"), false);
                        }
                    }
                    Ack::Person { id, id_number } => {
                        if store.record_meta(id).is_err() {
                            found(format!("person {id} lost"), true);
                        }
                        if let Some(number) = id_number {
                            let same = persons.iter().filter(|p| p.as_deref() == Some(number.as_str())).count();
                            if same > 1 {
                                found(format!("person {id}: {same} records hold its ID number"), false);
                            }
                        }
                    }
                    Ack::Field { .. } => {}
                    Ack::Text { id } => {
                        if store.record_meta(id).is_err() {
                            found(format!("record {id} lost (its text)"), true);
                        }
                    }
                    Ack::FollowUp { incident, entry } => {
                        let entries = timelines.entry(incident.clone()).or_insert_with(|| {
                            store
                                .get::<Incident>(incident)
                                .map(|s| s.record.timeline.into_iter().map(|f| f.id).collect())
                                .unwrap_or_default()
                        });
                        match entries.iter().filter(|e| *e == entry).count() {
                            0 => found(format!("follow-up {entry} of {incident} lost"), true),
                            1 => {}
                            n => found(format!("follow-up {entry} of {incident} there {n} times"), false),
                        }
                    }
                }
            }
            for ((id, field), values) in &finals {
                let Ok(stored) = store.get::<Household>(id) else {
                    found(format!("household {id} lost (its {field})"), true);
                    continue;
                };
                let now = serde_json::to_value(&stored.record).ok().and_then(|v| v.get(*field).cloned());
                let conflicting: Vec<Value> = store
                    .conflicts(id)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|c| c.field == *field)
                    .flat_map(|c| c.values.into_iter().map(|v| v.value))
                    .collect();
                let kept = values.values().any(|v| now.as_ref() == Some(*v) || conflicting.contains(v));
                if !kept {
                    found(format!("household {id}: the last acknowledged {field} lost"), true);
                }
            }
        }
        verdict
    }
}

/// (id, area code, household number) of every household.
fn all_households(store: &Store) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut page = Page::first(500);
    loop {
        let paged = store.list_households("", &page).expect("list households");
        out.extend(paged.items.into_iter().map(|h| (h.id, h.area_code, h.household_no)));
        match paged.next {
            Some(after) => page = Page { after: Some(after), limit: 500 },
            None => return out,
        }
    }
}

/// The ID number of every person.
fn all_persons(store: &Store) -> Vec<Option<String>> {
    let mut out = Vec::new();
    let mut page = Page::first(500);
    loop {
        let paged = store.list_persons("", &page).expect("list persons");
        out.extend(paged.items.into_iter().map(|p| p.id_number));
        match paged.next {
            Some(after) => page = Page { after: Some(after), limit: 500 },
            None => return out,
        }
    }
}
