//! 冲突: records whose fields hold values written concurrently on two phones. A
//! dispatcher picks one; the choice is an automerge change by the dispatcher's own actor
//! (the same as a phone's `resolve`), audited, and it reaches the phones on their next
//! pull like any change.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use gridsync_core::doc::Conflict;
use gridsync_core::store::ConflictedRow;
use gridsync_core::zh::{Zh, china_time, field_zh};
use gridsync_core::{Household, Incident, Kind, Page, Person, StaffAction, Store, Visit};
use maud::html;

use super::accounts::Staff;
use super::incidents::{Audited, StepRefusal, change_as_staff};
use super::web::{Posted, SignedIn, blocking, csrf_form, layout, not_found, now, page, refusal_status, refused};
use crate::app::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/conflicts", get(conflicts_page))
        .route("/console/conflicts/{id}", get(record_page).post(resolve))
}

/// The records in `staff`'s scope holding conflicts, each with what a person knows it by.
fn conflicted(store: &Store, staff: &Staff) -> Result<Vec<(ConflictedRow, String)>, String> {
    let mut rows = Vec::new();
    for prefix in staff.scope.prefixes() {
        for row in store.list_conflicted(prefix, &Page::first(200)).map_err(|e| e.to_string())?.items {
            let label = label_of(store, &row);
            rows.push((row, label));
        }
    }
    Ok(rows)
}

/// A household by its address, a person by name, an incident by title, a visit by date.
fn label_of(store: &Store, row: &ConflictedRow) -> String {
    let label = match row.kind {
        Kind::Household => store.get::<Household>(&row.id).map(|h| h.record.address),
        Kind::Person => store.get::<Person>(&row.id).map(|p| p.record.name),
        Kind::Incident => store.get::<Incident>(&row.id).map(|i| i.record.title),
        Kind::Visit => store.get::<Visit>(&row.id).map(|v| china_time(v.record.visited_at)),
    };
    label.unwrap_or_else(|_| row.id.clone())
}

async fn conflicts_page(State(state): State<AppState>, SignedIn { staff, csrf, .. }: SignedIn) -> Response {
    let (center, model, reader) = (state.center.clone(), state.read_model.clone(), staff.clone());
    let rows = match blocking(move || model.read(&center, |store| conflicted(store, &reader))).await {
        Ok(rows) => rows,
        Err(response) => return response,
    };
    let content = html! {
        p { "两部手机离线时改了同一字段，各自的值都保留着。请核实后选定一个，选定的值会同步到所有手机。" }
        table {
            thead { tr { th { "记录" } th { "类别" } th { "区域" } th { "冲突字段数" } } }
            tbody {
                @for (row, label) in &rows {
                    tr {
                        td { a href={ "/console/conflicts/" (row.id) } { (label) } }
                        td { (row.kind.zh()) }
                        td { (row.area_code) }
                        td.number { (row.conflicts) }
                    }
                }
            }
        }
        @if rows.is_empty() { p.muted { "没有待处理的冲突" } }
    };
    page(StatusCode::OK, layout("冲突", Some((&staff, &csrf)), content), Vec::new())
}

/// The record's conflicts if it lies in `staff`'s scope.
fn conflicts_of(store: &Store, staff: &Staff, id: &str) -> Result<Option<Vec<Conflict>>, String> {
    let Ok(Some(area)) = store.area_of(id) else { return Ok(None) };
    if !staff.scope.covers(&area) {
        return Ok(None);
    }
    store.conflicts(id).map(Some).map_err(|e| e.to_string())
}

async fn record_page(
    State(state): State<AppState>,
    SignedIn { staff, csrf, .. }: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let (center, model, reader, wanted) = (state.center.clone(), state.read_model.clone(), staff.clone(), id.clone());
    let conflicts = match blocking(move || model.read(&center, |store| conflicts_of(store, &reader, &wanted))).await {
        Ok(Some(conflicts)) => conflicts,
        Ok(None) => return not_found(&staff, &csrf, "记录"),
        Err(response) => return response,
    };
    let may_resolve = staff.role.may(StaffAction::ResolveConflict);
    let content = html! {
        p { a href="/console/conflicts" { "← 冲突" } }
        @for conflict in &conflicts {
            h3 { (field_zh(&conflict.field).unwrap_or(&conflict.field)) }
            table {
                thead { tr { th { "值" } th { "网格员" } th { "时间" } @if may_resolve { th {} } } }
                tbody {
                    @for (n, value) in conflict.values.iter().enumerate() {
                        tr {
                            td { (display_value(&value.value)) }
                            td { (value.worker) }
                            td {
                                (china_time(value.at))
                                @if value.time_doubtful { " " span.tag.overdue { "设备时间可疑" } }
                            }
                            @if may_resolve {
                                td {
                                    form method="post" action={ "/console/conflicts/" (id) } {
                                        input type="hidden" name="csrf" value=(csrf);
                                        input type="hidden" name="field" value=(conflict.field);
                                        input type="hidden" name="choice" value=(n);
                                        button type="submit" { "选定此值" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if conflicts.is_empty() { p.muted { "这条记录已没有冲突" } }
    };
    page(StatusCode::OK, layout("冲突", Some((&staff, &csrf)), content), Vec::new())
}

/// A conflicting value as a person reads it (text as itself, anything else as JSON).
fn display_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => "（空）".into(),
        other => other.to_string(),
    }
}

#[derive(Debug, serde::Deserialize)]
struct ResolveForm {
    #[serde(default)] // a form without its token is refused as one with a wrong token
    csrf: String,
    field: String,
    choice: usize,
}

async fn resolve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { signed: SignedIn { staff, .. }, form }: Posted<ResolveForm>,
) -> Response {
    if !staff.role.may(StaffAction::ResolveConflict) {
        return refused(StatusCode::FORBIDDEN, "只有调度员可以处理冲突");
    }
    let (center, model, target) = (state.center.clone(), state.read_model.clone(), id.clone());
    let done = blocking(move || {
        // The value as the page listed it; the record is then changed at the center.
        let listed = model.read(&center, |store| conflicts_of(store, &staff, &target))?;
        let value = listed
            .and_then(|conflicts| conflicts.into_iter().find(|c| c.field == form.field))
            .and_then(|conflict| conflict.values.into_iter().nth(form.choice))
            .map(|chosen| chosen.value);
        let Some(value) = value else { return Ok(Err(StepRefusal::NotFound)) };
        let audited = Audited { action: "record.resolve".into(), detail: form.field.clone() };
        Ok(change_as_staff(&center, &staff, &target, None, now(), audited, |doc, author| {
            doc.resolve(&form.field, &value, author).map(drop).map_err(|e| StepRefusal::Invalid(e.to_string()))
        }))
    })
    .await;
    match done {
        Ok(Ok(())) => Redirect::to(&format!("/console/conflicts/{id}")).into_response(),
        Ok(Err(refusal)) => refused(refusal_status(&refusal), &refusal.zh()),
        Err(response) => response,
    }
}

csrf_form!(ResolveForm);
