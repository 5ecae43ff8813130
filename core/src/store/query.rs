//! Read queries over the projections: lists by area with keyset paging, household
//! members, incidents by status, person search. None of them loads a document.

use rusqlite::{Connection, Row, ToSql, params_from_iter, types::Value as SqlValue};
use serde::{Serialize, de::DeserializeOwned};

use super::search::{INITIALS, PINYIN, SearchQuery, han_term, like_escape};
use crate::area::prefix_range;
use crate::error::{Error, Result, Rule, ValidationError};
use crate::model::{
    Household, HouseholdType, Incident, IncidentStatus, Millis, Person, PersonStatus, PersonType, Supervision,
    VisitTarget,
};
use crate::validate::{Date, Gender};

/// Which page of a list: after the cursor of the previous page, at most `limit` rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub after: Option<String>,
    pub limit: u32,
}

impl Page {
    pub fn first(limit: u32) -> Self {
        Self { after: None, limit }
    }
}

/// One page of results and the cursor of the next page, if there is one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HouseholdRow {
    pub id: String,
    pub area_code: String,
    pub household_no: String,
    pub household_type: HouseholdType,
    pub address: String,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonRow {
    pub id: String,
    pub area_code: String,
    pub name: String,
    pub gender: Gender,
    pub birth_date: Date,
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub household_id: Option<String>,
    pub relationship: Option<String>,
    pub person_type: PersonType,
    pub status: PersonStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VisitRow {
    pub id: String,
    pub area_code: String,
    pub target: VisitTarget,
    pub visited_at: Millis,
    pub visitor: String,
    pub purpose: String,
    pub next_due: Option<Date>,
    pub findings: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentRow {
    pub id: String,
    pub area_code: String,
    pub service_no: String,
    pub title: String,
    pub categories: Vec<String>,
    pub status: IncidentStatus,
    pub urgent: bool,
    pub supervision: Option<Supervision>,
    pub major: bool,
    pub occurred_at: Millis,
    pub deadline: Option<Millis>,
    /// Concurrent steps that conflict were merged; `review` says which.
    pub needs_review: bool,
    pub review: Option<String>,
}

impl HouseholdRow {
    /// The row of a household read from its document (a center lists from documents).
    pub fn of(id: &str, h: &Household) -> Self {
        Self {
            id: id.to_owned(),
            area_code: h.area_code.as_str().to_owned(),
            household_no: h.household_no.clone(),
            household_type: h.household_type,
            address: h.address.clone(),
            tags: h.tags.iter().cloned().collect(),
        }
    }
}

impl PersonRow {
    /// The row of a person read from their document.
    pub fn of(id: &str, p: &Person) -> Self {
        Self {
            id: id.to_owned(),
            area_code: p.area_code.as_str().to_owned(),
            name: p.name.clone(),
            gender: p.gender,
            birth_date: p.birth_date,
            id_number: p.id_number.clone(),
            phone: p.phone.clone(),
            household_id: p.household_id.clone(),
            relationship: p.relationship.clone(),
            person_type: p.person_type,
            status: p.status,
        }
    }
}

impl IncidentRow {
    /// The row of an incident read from its document: its status folded from the
    /// timeline, as the projection does.
    pub fn of(id: &str, i: &Incident) -> Self {
        let state = i.state();
        let review =
            state.needs_review().then(|| state.review.iter().map(|r| r.reason()).collect::<Vec<_>>().join("; "));
        Self {
            id: id.to_owned(),
            area_code: i.area_code.as_str().to_owned(),
            service_no: i.service_no.clone(),
            title: i.title.clone(),
            categories: i.categories.iter().cloned().collect(),
            status: state.status,
            urgent: state.urgent,
            supervision: state.supervision,
            major: i.major,
            occurred_at: i.occurred_at,
            deadline: state.deadline,
            needs_review: state.needs_review(),
            review,
        }
    }
}

/// Which incidents to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentFilter {
    All,
    Status(IncidentStatus),
    /// Merged timelines with conflicting concurrent steps.
    NeedsReview,
    /// Past their deadline at the given time and not yet done.
    OverdueAt(Millis),
}

impl IncidentFilter {
    /// The SQL condition (its one parameter is `?6`).
    pub(crate) fn condition(self) -> Option<(&'static str, SqlValue)> {
        match self {
            IncidentFilter::All => None,
            IncidentFilter::Status(status) => Some(("status = ?6", status.as_str().to_owned().into())),
            IncidentFilter::NeedsReview => Some(("needs_review = ?6", 1.into())),
            IncidentFilter::OverdueAt(now) => Some((
                "deadline < ?6 AND status NOT IN ('completed', 'verified', 'closed', 'shut', 'declined')",
                now.into(),
            )),
        }
    }
}

/// A record with conflicting concurrent values, for the conflict review screen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConflictedRow {
    pub id: String,
    pub kind: crate::model::Kind,
    pub area_code: String,
    /// How many fields hold conflicting values.
    pub conflicts: u32,
}

/// A projection table and how to read its rows.
pub(crate) trait Listed: Sized {
    const TABLE: &'static str;
    const COLUMNS: &'static str;
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self>;
}

/// Reads a column holding a serde code (`"family"`, `"moved_out"` …) or JSON list.
fn decode<T: DeserializeOwned>(row: &Row<'_>, index: usize) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    let json = if text.starts_with('[') { text } else { serde_json::Value::String(text).to_string() };
    serde_json::from_str(&json)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e)))
}

fn decode_opt<T: DeserializeOwned>(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<T>> {
    match row.get_ref(index)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => decode(row, index).map(Some),
    }
}

impl Listed for HouseholdRow {
    const TABLE: &'static str = "households";
    const COLUMNS: &'static str = "id, area_code, household_no, household_type, address, tags";
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            area_code: row.get(1)?,
            household_no: row.get(2)?,
            household_type: decode(row, 3)?,
            address: row.get(4)?,
            tags: decode(row, 5)?,
        })
    }
}

impl Listed for PersonRow {
    const TABLE: &'static str = "persons";
    const COLUMNS: &'static str =
        "id, area_code, name, gender, birth_date, id_number, phone, household_id, relationship, person_type, status";
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            area_code: row.get(1)?,
            name: row.get(2)?,
            gender: decode(row, 3)?,
            birth_date: decode(row, 4)?,
            id_number: row.get(5)?,
            phone: row.get(6)?,
            household_id: row.get(7)?,
            relationship: row.get(8)?,
            person_type: decode(row, 9)?,
            status: decode(row, 10)?,
        })
    }
}

impl Listed for VisitRow {
    const TABLE: &'static str = "visits";
    const COLUMNS: &'static str =
        "id, area_code, target_kind, target_id, visited_at, visitor, purpose, next_due, findings";
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let target_kind: String = row.get(2)?;
        let target_id: String = row.get(3)?;
        Ok(Self {
            id: row.get(0)?,
            area_code: row.get(1)?,
            target: if target_kind == "person" {
                VisitTarget::Person(target_id)
            } else {
                VisitTarget::Household(target_id)
            },
            visited_at: row.get(4)?,
            visitor: row.get(5)?,
            purpose: row.get(6)?,
            next_due: decode_opt(row, 7)?,
            findings: row.get(8)?,
        })
    }
}

impl Listed for ConflictedRow {
    const TABLE: &'static str = "records";
    const COLUMNS: &'static str = "id, area_code, kind, conflicts";
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let kind: String = row.get(2)?;
        Ok(Self {
            id: row.get(0)?,
            area_code: row.get(1)?,
            kind: crate::model::Kind::parse(&kind).ok_or(rusqlite::Error::InvalidColumnType(
                2,
                "kind".into(),
                rusqlite::types::Type::Text,
            ))?,
            conflicts: row.get(3)?,
        })
    }
}

impl Listed for IncidentRow {
    const TABLE: &'static str = "incidents";
    const COLUMNS: &'static str = "id, area_code, service_no, title, categories, status, urgent, supervision, major, \
                                   occurred_at, deadline, needs_review, review";
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            area_code: row.get(1)?,
            service_no: row.get(2)?,
            title: row.get(3)?,
            categories: decode(row, 4)?,
            status: decode(row, 5)?,
            urgent: row.get(6)?,
            supervision: decode_opt(row, 7)?,
            major: row.get(8)?,
            occurred_at: row.get(9)?,
            deadline: row.get(10)?,
            needs_review: row.get(11)?,
            review: row.get(12)?,
        })
    }
}

/// Checks a list filter's area prefix.
fn check_prefix(prefix: &str) -> Result<(), ValidationError> {
    if prefix.len() > 17 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValidationError::new("area_prefix", Rule::AreaPrefix));
    }
    Ok(())
}

/// Lists live rows of `T` whose area code starts with `prefix`, ordered by
/// (area code, id), one page at a time. `filter` adds `AND <condition>`, whose one
/// parameter is `?6`.
pub(crate) fn list_in_area<T: Listed>(
    conn: &Connection,
    prefix: &str,
    filter: Option<(&str, SqlValue)>,
    page: &Page,
) -> Result<Paged<T>> {
    check_prefix(prefix)?;
    let limit = page.limit.clamp(1, 500);
    let (after_area, after_id) = match &page.after {
        Some(cursor) => cursor.split_once('/').ok_or_else(|| ValidationError::new("page.after", Rule::PageCursor))?,
        None => ("", ""),
    };
    let (low, high) = prefix_range(prefix);
    let (filter_sql, filter_value) = match filter {
        Some((sql, value)) => (format!("AND {sql}"), value),
        None => (String::new(), SqlValue::Null),
    };
    let sql = format!(
        "SELECT {columns} FROM {table}
         WHERE area_code >= ?1 AND area_code < ?2 AND (area_code, id) > (?3, ?4) AND deleted = 0 {filter_sql}
         ORDER BY area_code, id LIMIT ?5",
        columns = T::COLUMNS,
        table = T::TABLE,
    );
    let mut params: Vec<SqlValue> = vec![
        low.into(),
        high.into(),
        after_area.to_owned().into(),
        after_id.to_owned().into(),
        i64::from(limit + 1).into(),
    ];
    if !filter_sql.is_empty() {
        params.push(filter_value);
    }
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(params.iter()))?;
    let mut items = Vec::new();
    let mut keys = Vec::new();
    while let Some(row) = rows.next()? {
        keys.push((row.get::<_, String>(1)?, row.get::<_, String>(0)?));
        items.push(T::from_row(row)?);
    }
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        keys.get(limit as usize - 1).map(|(area, id)| format!("{area}/{id}"))
    } else {
        None
    };
    Ok(Paged { items, next })
}

/// Live rows of `T` where `column = value`, in (area code, id) order, at most `limit`.
pub(crate) fn rows_where<T: Listed>(conn: &Connection, column: &str, value: &dyn ToSql, limit: u32) -> Result<Vec<T>> {
    let sql = format!(
        "SELECT {columns} FROM {table} WHERE {column} = ?1 AND deleted = 0 ORDER BY area_code, id LIMIT ?2",
        columns = T::COLUMNS,
        table = T::TABLE,
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params![value, limit], T::from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Searches live persons under `prefix` (see [`SearchQuery`]), shortest names first.
pub(crate) fn search_persons(conn: &Connection, input: &str, prefix: &str, limit: u32) -> Result<Vec<PersonRow>> {
    check_prefix(prefix)?;
    let Some(query) = SearchQuery::parse(input) else {
        return Ok(Vec::new());
    };
    // Two terms each: the number tail against both reversed columns; a 汉字 piece of one
    // or two characters (longer queries then filter on the whole text); pinyin against
    // spellings and initials, as FTS5 prefix queries. Each term is one quoted token (see
    // `han_term`; pinyin is letters only), so no input reaches FTS5's query syntax.
    let (matcher, first, second) = match query {
        SearchQuery::NumberTail(rev) => (
            "((s.id_rev >= ?1 AND s.id_rev < ?1 || '~') OR (s.phone_rev >= ?2 AND s.phone_rev < ?2 || '~'))",
            rev.clone(),
            rev,
        ),
        SearchQuery::Han(text) => (
            r"s.key IN (SELECT rowid FROM person_terms WHERE person_terms MATCH ?1)
              AND s.names LIKE '%' || ?2 || '%' ESCAPE '\'",
            format!("\"{}\"", han_term(&text.chars().take(2).collect::<Vec<_>>())),
            like_escape(&text),
        ),
        SearchQuery::Pinyin(text) => (
            "s.key IN (SELECT rowid FROM person_terms WHERE person_terms MATCH ?1
                         UNION ALL SELECT rowid FROM person_terms WHERE person_terms MATCH ?2)",
            format!("\"{PINYIN}{text}\"*"),
            format!("\"{INITIALS}{text}\"*"),
        ),
    };
    let (low, high) = prefix_range(prefix);
    let columns = PersonRow::COLUMNS.split(", ").map(|c| format!("p.{c}")).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT {columns} FROM person_search s JOIN persons p ON p.id = s.id
         WHERE {matcher} AND s.area_code >= ?3 AND s.area_code < ?4 AND p.deleted = 0
         ORDER BY length(p.name), p.name, p.id LIMIT ?5"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params![first, second, low, high, limit.clamp(1, 500)], PersonRow::from_row)?;
    rows.collect::<Result<_, _>>().map_err(Error::from)
}
