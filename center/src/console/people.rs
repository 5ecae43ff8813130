//! 人口 and 户: browse by grid and search as the phone does (汉字, pinyin, initials, the
//! tail of an ID or phone number), record pages with their field history. ID numbers and
//! phones are masked (3408**********1233, 138****5678); a dispatcher or a leader may
//! reveal them on one record at a time, and every reveal is audited.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use gridsync_core::doc::HistoryEntry;
use gridsync_core::store::PersonRow;
use gridsync_core::zh::{Zh, china_time};
use gridsync_core::{Household, Page, Paged, Person, Record, Role, StaffAction, Store};
use maud::{Markup, html};

use super::accounts::{self, Staff};
use super::web::{CsrfForm, Posted, SignedIn, blocking, layout, not_found, now, page, prefixes_for};
use crate::app::AppState;

/// Rows per page of a list.
const PAGE_ROWS: u32 = 50;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/people", get(people))
        .route("/console/people/{id}", get(person_page).post(reveal))
        .route("/console/households", get(households))
        .route("/console/households/{id}", get(household_page))
}

/// Who may see an ID number or phone in full: the center's dispatchers and leaders.
pub fn may_reveal(role: Role) -> bool {
    role.may(StaffAction::RevealPersonalData)
}

/// An ID number with only its first and last four characters shown.
pub fn mask_id_number(number: &str) -> String {
    mask(number, 4, 4)
}

/// A phone number with its first three and last four digits shown.
pub fn mask_phone(number: &str) -> String {
    mask(number, 3, 4)
}

fn mask(text: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len());
    }
    let hidden = chars.len() - head - tail;
    chars[..head].iter().chain(std::iter::repeat_n(&'*', hidden)).chain(&chars[chars.len() - tail..]).collect()
}

#[derive(Debug, Default, serde::Deserialize)]
struct ListQuery {
    #[serde(default)]
    area: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    after: Option<String>,
}

/// One page of a list under each of `prefixes` (a staff scope of several areas), after
/// `after`, with where the next page starts.
fn page_under<T>(
    prefixes: &[String],
    after: Option<String>,
    list: impl Fn(&str, &Page) -> gridsync_core::Result<Paged<T>>,
) -> Result<(Vec<T>, Option<String>), String> {
    let mut rows = Vec::new();
    let mut next = None;
    for prefix in prefixes {
        let paged = list(prefix, &Page { after: after.clone(), limit: PAGE_ROWS }).map_err(|e| e.to_string())?;
        rows.extend(paged.items);
        next = next.or(paged.next);
    }
    Ok((rows, next))
}

fn area_form(action: &str, query: &ListQuery, search: bool) -> Markup {
    html! {
        form.filters method="get" action=(action) {
            label { "区域 " input name="area" value=(query.area) placeholder="网格编码"; }
            @if search {
                label { "查找 " input name="q" value=(query.q) placeholder="姓名、拼音、首字母、证件或手机号后几位"; }
            }
            " " button type="submit" { "查询" }
        }
    }
}

/// The list's next page, as a link that keeps the filters.
fn next_link(action: &str, query: &ListQuery, next: Option<&String>) -> Markup {
    html! {
        @if let Some(next) = next {
            p { a href={ (action) "?area=" (query.area) "&after=" (next) } { "下一页 →" } }
        }
    }
}

async fn people(
    State(state): State<AppState>,
    SignedIn { staff, csrf, .. }: SignedIn,
    Query(query): Query<ListQuery>,
) -> Response {
    let (center, model) = (state.center.clone(), state.read_model.clone());
    let prefixes = prefixes_for(&staff, &query.area);
    let (text, after) = (query.q.trim().to_owned(), query.after.clone());
    let listed = blocking(move || {
        model.read(&center, |store| {
            if text.is_empty() {
                return page_under(&prefixes, after, |prefix, page| store.list_persons(prefix, page));
            }
            let mut rows = Vec::new();
            for prefix in &prefixes {
                rows.extend(store.search_persons(&text, prefix, PAGE_ROWS).map_err(|e| e.to_string())?);
            }
            Ok((rows, None))
        })
    })
    .await;
    let (rows, next) = match listed {
        Ok(listed) => listed,
        Err(response) => return response,
    };
    let content = html! {
        (area_form("/console/people", &query, true))
        table {
            thead { tr { th { "姓名" } th { "性别" } th { "出生日期" } th { "证件号码" } th { "手机" } th { "区域" } } }
            tbody {
                @for row in &rows { (person_row(row)) }
            }
        }
        @if rows.is_empty() { p.muted { "没有符合条件的人员" } }
        (next_link("/console/people", &query, next.as_ref()))
    };
    page(StatusCode::OK, layout("人口", Some((&staff, &csrf)), content), Vec::new())
}

fn person_row(row: &PersonRow) -> Markup {
    html! {
        tr {
            td { a href={ "/console/people/" (row.id) } { (row.name) } }
            td { (row.gender.zh()) }
            td { (row.birth_date.to_string()) }
            td.number { (row.id_number.as_deref().map(mask_id_number).unwrap_or_default()) }
            td.number { (row.phone.as_deref().map(mask_phone).unwrap_or_default()) }
            td { (row.area_code) }
        }
    }
}

/// A record of kind `T` if it lies in `staff`'s scope.
fn in_scope<T: Record>(store: &Store, staff: &Staff, id: &str) -> Result<Option<gridsync_core::Stored<T>>, String> {
    match store.get::<T>(id) {
        Ok(stored) if staff.scope.contains(stored.record.area_code()) => Ok(Some(stored)),
        Ok(_) | Err(gridsync_core::Error::NotFound { .. } | gridsync_core::Error::WrongKind { .. }) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// A person, their history, and the household they belong to.
type PersonView = (Person, Vec<HistoryEntry>, Option<(String, String)>);

fn person_view(store: &Store, staff: &Staff, id: &str) -> Result<Option<PersonView>, String> {
    let Some(stored) = in_scope::<Person>(store, staff, id)? else { return Ok(None) };
    let history = store.history(id).map_err(|e| e.to_string())?;
    let household = match &stored.record.household_id {
        Some(household) => store.get::<Household>(household).ok().map(|h| (household.clone(), h.record.address)),
        None => None,
    };
    Ok(Some((stored.record, history, household)))
}

async fn person_page(State(state): State<AppState>, signed: SignedIn, Path(id): Path<String>) -> Response {
    show_person(state, signed, id, false).await
}

/// Reveals the person's numbers to a role allowed to see them, audited.
async fn reveal(State(state): State<AppState>, Path(id): Path<String>, posted: Posted<CsrfForm>) -> Response {
    show_person(state, posted.signed, id, true).await
}

async fn show_person(state: AppState, SignedIn { staff, csrf, .. }: SignedIn, id: String, reveal: bool) -> Response {
    if reveal && !may_reveal(staff.role) {
        return page(
            StatusCode::FORBIDDEN,
            layout("人口", Some((&staff, &csrf)), html! { p.error { "本角色不能查看完整证件号码" } }),
            Vec::new(),
        );
    }
    let (center, model, reader, wanted) = (state.center.clone(), state.read_model.clone(), staff.clone(), id.clone());
    let view = blocking(move || {
        let view = model.read(&center, |store| person_view(store, &reader, &wanted))?;
        if reveal && view.is_some() {
            // Written before the numbers are shown: no reveal goes unrecorded.
            accounts::record(&center, &reader.id, "person.reveal", &wanted, "", now())?;
        }
        Ok(view)
    })
    .await;
    let (person, history, household) = match view {
        Ok(Some(view)) => view,
        Ok(None) => return not_found(&staff, &csrf, "人员"),
        Err(response) => return response,
    };
    let shown = |number: Option<&str>, masked: fn(&str) -> String| match number {
        Some(number) if reveal => number.to_owned(),
        Some(number) => masked(number),
        None => String::new(),
    };
    let content = html! {
        p { a href="/console/people" { "← 人口" } }
        h2 { (person.name) }
        table.fields {
            tr { th { "性别" } td { (person.gender.zh()) } }
            tr { th { "出生日期" } td { (person.birth_date.to_string()) } }
            tr { th { "证件" } td.number { (person.id_type.zh()) " " (shown(person.id_number.as_deref(), mask_id_number)) } }
            tr { th { "手机" } td.number { (shown(person.phone.as_deref(), mask_phone)) } }
            tr { th { "区域" } td { (person.area_code.as_str()) } }
            tr { th { "人员类型" } td { (person.person_type.zh()) } }
            tr { th { "状态" } td { (person.status.zh()) } }
            @if let Some((household, address)) = &household {
                tr { th { "所在户" } td { a href={ "/console/households/" (household) } { (address) } } }
            }
            @if !person.focus_groups.is_empty() {
                tr { th { "重点人群" } td { @for group in person.focus_groups.keys() { span.tag { (group) } } } }
            }
        }
        @if !reveal && may_reveal(staff.role) && (person.id_number.is_some() || person.phone.is_some()) {
            form method="post" action={ "/console/people/" (id) } {
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" { "查看完整号码（将记入审计）" }
            }
        }
        (history_table(&history))
    };
    page(StatusCode::OK, layout("人口", Some((&staff, &csrf)), content), Vec::new())
}

/// Who changed which fields when, newest first, from the record's automerge history.
fn history_table(history: &[HistoryEntry]) -> Markup {
    html! {
        h3 { "修改记录" }
        table {
            thead { tr { th { "时间" } th { "人员" } th { "字段" } } }
            tbody {
                @for entry in history.iter().rev() {
                    tr {
                        td {
                            (china_time(entry.at))
                            @if entry.time_doubtful { " " span.tag.overdue { "设备时间可疑" } }
                        }
                        td { (entry.worker) }
                        td {
                            @for field in &entry.fields {
                                span.tag { (gridsync_core::zh::field_zh(field).unwrap_or(field)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn households(
    State(state): State<AppState>,
    SignedIn { staff, csrf, .. }: SignedIn,
    Query(query): Query<ListQuery>,
) -> Response {
    let (center, model) = (state.center.clone(), state.read_model.clone());
    let (prefixes, after) = (prefixes_for(&staff, &query.area), query.after.clone());
    let listed = blocking(move || {
        model.read(&center, |store| page_under(&prefixes, after, |prefix, page| store.list_households(prefix, page)))
    })
    .await;
    let (rows, next) = match listed {
        Ok(listed) => listed,
        Err(response) => return response,
    };
    let content = html! {
        (area_form("/console/households", &query, false))
        table {
            thead { tr { th { "户号" } th { "类型" } th { "地址" } th { "标签" } th { "区域" } } }
            tbody {
                @for row in &rows {
                    tr {
                        td { a href={ "/console/households/" (row.id) } { (row.household_no) } }
                        td { (row.household_type.zh()) }
                        td { (row.address) }
                        td { @for tag in &row.tags { span.tag { (tag) } } }
                        td { (row.area_code) }
                    }
                }
            }
        }
        @if rows.is_empty() { p.muted { "没有符合条件的户" } }
        (next_link("/console/households", &query, next.as_ref()))
    };
    page(StatusCode::OK, layout("户", Some((&staff, &csrf)), content), Vec::new())
}

async fn household_page(
    State(state): State<AppState>,
    SignedIn { staff, csrf, .. }: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let (center, model, reader, wanted) = (state.center.clone(), state.read_model.clone(), staff.clone(), id.clone());
    let view = blocking(move || {
        model.read(&center, |store| {
            let Some(stored) = in_scope::<Household>(store, &reader, &wanted)? else { return Ok(None) };
            let members = store.household_members(&wanted).map_err(|e| e.to_string())?;
            let history = store.history(&wanted).map_err(|e| e.to_string())?;
            Ok(Some((stored.record, members, history)))
        })
    })
    .await;
    let (household, members, history) = match view {
        Ok(Some(view)) => view,
        Ok(None) => return not_found(&staff, &csrf, "户"),
        Err(response) => return response,
    };
    let content = html! {
        p { a href="/console/households" { "← 户" } }
        h2 { (household.address) }
        table.fields {
            tr { th { "户号" } td { (household.household_no) } }
            tr { th { "类型" } td { (household.household_type.zh()) } }
            tr { th { "联系电话" } td.number { (household.phone.as_deref().map(mask_phone).unwrap_or_default()) } }
            tr { th { "区域" } td { (household.area_code.as_str()) } }
        }
        h3 { "成员" }
        table {
            thead { tr { th { "姓名" } th { "性别" } th { "出生日期" } th { "证件号码" } th { "手机" } th { "区域" } } }
            tbody { @for row in &members { (person_row(row)) } }
        }
        (history_table(&history))
    };
    page(StatusCode::OK, layout("户", Some((&staff, &csrf)), content), Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_masked_but_for_their_ends() {
        assert_eq!(mask_id_number("340823199001011233"), "3408**********1233");
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("1234"), "****", "too short to show any of it");
        assert!(may_reveal(Role::Dispatcher) && may_reveal(Role::Leader) && !may_reveal(Role::Admin));
    }
}
