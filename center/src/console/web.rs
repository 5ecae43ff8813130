//! The console's pages, served by `gridsync-center serve` under `/console/`: sign-in,
//! sign-out, the 事件看板 (incidents in the staff member's scope by status) and 事件详情,
//! and what every page shares (session, CSRF, layout, security headers). Rendered
//! on the server (maud escapes every value); no script at all, so the Content-Security-
//! Policy allows none. Every page checks the session on the server; every form carries
//! the session's CSRF token; the session cookie is HttpOnly, SameSite=Strict, scoped to
//! `/console`, and Secure when the center serves TLS.

use axum::Router;
use axum::extract::{Extension, Form, FromRequest, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use gridsync_core::store::{IncidentFilter, IncidentRow};
use gridsync_core::zh::{Zh, china_time, parse_china_time};
use gridsync_core::{IncidentStatus, Step, Supervision};
use maud::{DOCTYPE, Markup, html};
use ring::rand::{SecureRandom, SystemRandom};

use super::accounts::{self, LoginRefusal, Staff};
use super::incidents::{self, StepRefusal, StepTaken};
use crate::app::AppState;
use crate::serve::Peer;

const SESSION_COOKIE: &str = "gs_session";
/// The sign-in form's own CSRF token (double-submitted: cookie and field), before any
/// session exists.
const LOGIN_COOKIE: &str = "gs_login";
const STYLE: &str = include_str!("style.css");
/// No script, no frames, nothing from elsewhere.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/console/", get(board))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", axum::routing::post(logout))
        .route("/console/incidents/{id}", get(incident_page).post(take_step))
        .route("/console/photos/{record}/{hash}", get(photo))
        .route("/console/style.css", get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE) }))
        .merge(super::people::routes())
        .merge(super::grid::routes())
        .merge(super::conflicts::routes())
        .merge(super::devices::routes())
        .merge(super::exports::routes())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), per_address))
}

/// Every console request spends its address's budget, as the sync endpoints do, before
/// any session is looked up.
async fn per_address(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let ip = request.extensions().get::<Peer>().map(|peer| peer.0.ip());
    if let Some(Err(wait)) = ip.map(|ip| state.limits.address.take(&ip)) {
        state.center.count_refusal("rate_limited");
        let seconds = (wait.as_secs() + 1).to_string();
        let mut response = (StatusCode::TOO_MANY_REQUESTS, "请求过于频繁，请稍后再试").into_response();
        if let Ok(value) = HeaderValue::from_str(&seconds) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    next.run(request).await
}

pub(super) fn now() -> i64 {
    gridsync_core::store::system_clock()
}

/// Runs storage work off the async threads; a failure is a 503 page.
pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "console page failed");
            Err(StatusCode::SERVICE_UNAVAILABLE.into_response())
        }
        Err(_) => Err(StatusCode::SERVICE_UNAVAILABLE.into_response()),
    }
}

/// A page saying that nothing by that name is in the staff member's scope (a record
/// elsewhere is not told apart from one that does not exist).
pub(super) fn not_found(staff: &Staff, csrf: &str, what: &str) -> Response {
    page(StatusCode::NOT_FOUND, layout(what, Some((staff, csrf)), html! { p { "没有找到" (what) } }), Vec::new())
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // A failing system generator leaves zeros: the form then never matches a cookie
    // another browser holds, since that one would be random.
    let _ = SystemRandom::new().fill(&mut bytes);
    hex::encode(bytes)
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

fn set_cookie(state: &AppState, name: &str, value: &str, max_age_s: i64) -> HeaderValue {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let text = format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A page with the console's security headers.
pub(super) fn page(status: StatusCode, body: Markup, cookies: Vec<HeaderValue>) -> Response {
    let mut response = (status, maud::html! { (DOCTYPE) (body) }.into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for value in cookies {
        headers.append(header::SET_COOKIE, value);
    }
    response
}

/// The console's sections, as the navigation shows them.
const SECTIONS: [(&str, &str); 7] = [
    ("/console/", "事件看板"),
    ("/console/people", "人口"),
    ("/console/households", "户"),
    ("/console/grid", "网格"),
    ("/console/conflicts", "冲突"),
    ("/console/devices", "设备"),
    ("/console/exports", "导出"),
];

pub(super) fn layout(title: &str, staff: Option<(&Staff, &str)>, content: Markup) -> Markup {
    html! {
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · 综治中心" }
                link rel="stylesheet" href="/console/style.css";
            }
            body {
                header {
                    h1 { "综治中心 · " (title) }
                    @if let Some((staff, csrf)) = staff {
                        nav {
                            @for (href, name) in SECTIONS {
                                a.current[name == title] href=(href) { (name) }
                            }
                        }
                        form method="post" action="/console/logout" {
                            span { (staff.name) "（" (staff.role.zh()) "）" }
                            input type="hidden" name="csrf" value=(csrf);
                            " "
                            button type="submit" { "退出" }
                        }
                    }
                }
                main { (content) }
            }
        }
    }
}

fn login_form(csrf: &str, error: Option<&str>) -> Markup {
    layout(
        "登录",
        None,
        html! {
            form.login method="post" action="/console/login" {
                @if let Some(error) = error { p.error { (error) } }
                label for="id" { "账号" }
                input #id name="id" autocomplete="username" required;
                label for="password" { "密码" }
                input #password type="password" name="password" autocomplete="current-password" required;
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" { "登录" }
            }
        },
    )
}

async fn login_page(State(state): State<AppState>) -> Response {
    let csrf = random_token();
    let cookie = set_cookie(&state, LOGIN_COOKIE, &csrf, 3_600);
    page(StatusCode::OK, login_form(&csrf, None), vec![cookie])
}

#[derive(Debug, serde::Deserialize)]
struct LoginForm {
    id: String,
    password: String,
    #[serde(default)] // a form without its token is refused as one with a wrong token
    csrf: String,
}

async fn login(
    State(state): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let ip = peer.0.ip();
    let again = random_token();
    let retry = |status, message: &str| {
        let cookie = set_cookie(&state, LOGIN_COOKIE, &again, 3_600);
        page(status, login_form(&again, Some(message)), vec![cookie])
    };
    if cookie(&headers, LOGIN_COOKIE).is_none_or(|expected| expected != form.csrf) {
        return retry(StatusCode::FORBIDDEN, "页面已过期，请重新登录");
    }
    // Guessing across many accounts from one address is slowed like enrolment codes.
    if state.limits.failures.check(&ip).is_err() {
        return retry(StatusCode::TOO_MANY_REQUESTS, "尝试次数过多，请稍后再试");
    }
    let center = state.center.clone();
    let (id, password) = (form.id, form.password);
    let result = tokio::task::spawn_blocking(move || accounts::login(&center, &id, &password, now())).await;
    match result {
        Ok(Ok(opened)) => {
            let max_age = (opened.expires_at - now()) / 1_000;
            let mut response = Redirect::to("/console/").into_response();
            let headers = response.headers_mut();
            headers.append(header::SET_COOKIE, set_cookie(&state, SESSION_COOKIE, &opened.token, max_age));
            headers.append(header::SET_COOKIE, set_cookie(&state, LOGIN_COOKIE, "", 0));
            response
        }
        // A locked account answers as a wrong password does: the answer must not tell
        // an outsider which accounts exist (an unknown one is never locked).
        Ok(Err(LoginRefusal::WrongCredentials | LoginRefusal::Locked { .. })) => {
            let _ = state.limits.failures.take(&ip);
            retry(StatusCode::UNAUTHORIZED, "账号或密码错误（连续错误5次，账号将锁定15分钟）")
        }
        Ok(Err(LoginRefusal::Storage(_))) | Err(_) => {
            retry(StatusCode::SERVICE_UNAVAILABLE, "系统暂时不可用，请稍后再试")
        }
    }
}

/// The signed-in member of staff, their session's CSRF token and the session token;
/// extracting it answers the sign-in page to a browser without a live session.
pub(super) struct SignedIn {
    pub staff: Staff,
    pub csrf: String,
    pub token: String,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(Redirect::to("/console/login").into_response());
        };
        let center = state.center.clone();
        let lookup = token.clone();
        match tokio::task::spawn_blocking(move || accounts::session(&center, &lookup, now())).await {
            Ok(Ok(Some((staff, csrf)))) => Ok(SignedIn { staff, csrf, token }),
            Ok(Ok(None)) => Err(Redirect::to("/console/login").into_response()),
            _ => Err(StatusCode::SERVICE_UNAVAILABLE.into_response()),
        }
    }
}

/// A form that carries the session's CSRF token.
pub(super) trait CsrfToken {
    fn csrf(&self) -> &str;
}

/// A form posted by a signed-in member of staff, its CSRF token checked against the
/// session's before the handler runs: a form without it, or with another session's, is
/// refused with 403.
pub(super) struct Posted<T> {
    pub signed: SignedIn,
    pub form: T,
}

impl<T: serde::de::DeserializeOwned + CsrfToken + Send> FromRequest<AppState> for Posted<T> {
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let signed = SignedIn::from_request_parts(&mut parts, state).await?;
        let Form(form) = Form::<T>::from_request(axum::extract::Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        if form.csrf() != signed.csrf {
            return Err(refused(StatusCode::FORBIDDEN, "表单已失效（CSRF 校验未通过），没有办理；请刷新页面后重试"));
        }
        Ok(Posted { signed, form })
    }
}

/// Implements [`CsrfToken`] for forms whose token is their `csrf` field.
macro_rules! csrf_form {
    ($($form:ty),+) => {
        $(impl $crate::console::web::CsrfToken for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        })+
    };
}
pub(super) use csrf_form;

#[derive(Debug, serde::Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)] // a form without its token is refused as one with a wrong token
    pub csrf: String,
}

csrf_form!(CsrfForm, StepForm);

async fn logout(State(state): State<AppState>, posted: Posted<CsrfForm>) -> Response {
    let SignedIn { staff, token, .. } = posted.signed;
    let center = state.center.clone();
    let _ = tokio::task::spawn_blocking(move || accounts::logout(&center, &token, &staff.id, now())).await;
    let mut response = Redirect::to("/console/login").into_response();
    response.headers_mut().append(header::SET_COOKIE, set_cookie(&state, SESSION_COOKIE, "", 0));
    response
}

/// The board's columns: where an incident stands in the closed loop, center first.
const COLUMNS: [(&str, &[IncidentStatus]); 5] = [
    ("待受理", &[IncidentStatus::Reported, IncidentStatus::Returned]),
    (
        "已交办/分流",
        &[IncidentStatus::Accepted, IncidentStatus::Assigned, IncidentStatus::Diverted, IncidentStatus::Escalated],
    ),
    ("办理中", &[IncidentStatus::InProgress]),
    ("待回访", &[IncidentStatus::Completed, IncidentStatus::Verified]),
    ("已结案", &[IncidentStatus::Closed, IncidentStatus::Shut, IncidentStatus::Declined]),
];

/// The board's filters, from the query string.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct BoardFilter {
    /// A grid (or any area code) inside the staff member's scope.
    #[serde(default)]
    area: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    urgent: Option<String>,
    /// A 督办 level: the incident's highest is at least it.
    #[serde(default)]
    supervision: String,
    #[serde(default)]
    overdue: Option<String>,
}

/// The area prefixes a page reads: the staff member's scope, or the part of it `area`
/// names (an area outside the scope reads nothing).
pub(super) fn prefixes_for(staff: &Staff, area: &str) -> Vec<String> {
    if area.is_empty() {
        return staff.scope.prefixes().to_vec();
    }
    match gridsync_core::AreaCode::parse("area", area) {
        Ok(code) if staff.scope.contains(&code) => vec![area.to_owned()],
        _ => Vec::new(),
    }
}

/// Every live incident under `prefixes`, from the read model, a page at a time.
pub(super) fn incidents_under(store: &gridsync_core::Store, prefixes: &[String]) -> Result<Vec<IncidentRow>, String> {
    let mut rows = Vec::new();
    for prefix in prefixes {
        let mut page = gridsync_core::Page::first(500);
        loop {
            let paged = store.list_incidents(prefix, IncidentFilter::All, &page).map_err(|e| e.to_string())?;
            rows.extend(paged.items);
            match paged.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
    }
    Ok(rows)
}

async fn board(
    State(state): State<AppState>,
    SignedIn { staff, csrf, .. }: SignedIn,
    Query(filter): Query<BoardFilter>,
) -> Response {
    let (center, model) = (state.center.clone(), state.read_model.clone());
    let prefixes = prefixes_for(&staff, &filter.area);
    let rows = match blocking(move || model.read(&center, |store| incidents_under(store, &prefixes))).await {
        Ok(rows) => rows,
        Err(response) => return response,
    };
    let at = now();
    let overdue = |row: &IncidentRow| row.deadline.is_some_and(|deadline| deadline < at) && !row.status.is_settled();
    let wanted_level: Option<Supervision> =
        serde_json::from_value(serde_json::Value::String(filter.supervision.clone())).ok();
    let shown = |row: &&IncidentRow| {
        (filter.category.is_empty() || row.categories.iter().any(|c| c.starts_with(&filter.category)))
            && (filter.urgent.is_none() || row.urgent)
            && wanted_level.is_none_or(|level| row.supervision.is_some_and(|s| s >= level))
            && (filter.overdue.is_none() || overdue(row))
    };
    let columns: Vec<(&str, Vec<&IncidentRow>)> = COLUMNS
        .iter()
        .map(|(title, statuses)| {
            let mut cards: Vec<&IncidentRow> =
                rows.iter().filter(|r| statuses.contains(&r.status)).filter(shown).collect();
            // Overdue first, then the newest.
            cards.sort_by_key(|r| (!overdue(r), std::cmp::Reverse(r.occurred_at)));
            (*title, cards)
        })
        .collect();
    let content = html! {
        form.filters method="get" action="/console/" {
            label { "区域 " input name="area" value=(filter.area) placeholder="网格编码"; }
            label { "类别 " select name="category" {
                option value="" { "全部" }
                @for category in gridsync_core::CATEGORIES {
                    option value=(category) selected[filter.category == *category] { (category) }
                }
            } }
            label { input type="checkbox" name="urgent" value="1" checked[filter.urgent.is_some()]; " 加急" }
            label { "督办 " select name="supervision" {
                option value="" { "不限" }
                @for (code, name) in [("normal", "普通"), ("yellow", "黄牌"), ("red", "红牌")] {
                    option value=(code) selected[filter.supervision == code] { (name) "及以上" }
                }
            } }
            label { input type="checkbox" name="overdue" value="1" checked[filter.overdue.is_some()]; " 已超期" }
            " " button type="submit" { "筛选" }
        }
        div.board {
            @for (title, cards) in &columns {
                section.column {
                    h2 { (title) " " span.count { (cards.len()) } }
                    @for row in cards {
                        div.card.overdue[overdue(row)] {
                            div { a href={ "/console/incidents/" (row.id) } { (row.title) } }
                            div.muted { (row.service_no) " · " (china_time(row.occurred_at)) " · " (row.status.zh()) }
                            div {
                                @if row.urgent { span.tag.urgent { "加急" } }
                                @if let Some(level) = row.supervision { span.tag.urgent { "督办·" (level.zh()) } }
                                @if overdue(row) { span.tag.overdue { "已超期" } }
                                @if row.needs_review { span.tag.overdue { "待复核" } }
                                @if let Some(deadline) = row.deadline { span.tag { "期限 " (china_time(deadline)) } }
                                @for category in &row.categories { span.tag { (category) } }
                            }
                        }
                    }
                }
            }
        }
    };
    page(StatusCode::OK, layout("事件看板", Some((&staff, &csrf)), content), Vec::new())
}

/// 事件详情: the timeline (who, what, when) and the steps the staff member's role may take
/// now, each a form carrying the session's CSRF token.
async fn incident_page(
    State(state): State<AppState>,
    SignedIn { staff, csrf, .. }: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let center = state.center.clone();
    let (reader, wanted) = (staff.clone(), id.clone());
    let found = blocking(move || {
        let Some((incident, photos)) = incidents::incident(&center, &reader, &wanted).map_err(|e| e.to_string())?
        else {
            return Ok(None);
        };
        let people = incident.timeline.iter().map(|e| e.by.as_str()).chain(photos.iter().map(|p| p.added_by.as_str()));
        let names = incidents::names_of(&center, people)?;
        let held: Vec<bool> = photos.iter().map(|p| center.blob_stored(&p.thumbnail.hash).unwrap_or(false)).collect();
        Ok(Some((incident, photos.into_iter().zip(held).collect::<Vec<_>>(), names)))
    })
    .await;
    let (incident, photos, names) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(&staff, &csrf, "事件"),
        Err(response) => return response,
    };
    let who = |id: &str| names.get(id).map_or_else(|| id.to_owned(), |name| format!("{name}（{id}）"));
    let state_now = incident.state();
    let steps = incidents::allowed_steps(&staff, &state_now);
    let content = html! {
        p { a href="/console/" { "← 事件看板" } }
        h2 { (incident.title) }
        p.muted {
            (incident.service_no) " · " (incident.area_code.as_str()) " · 发生于 " (china_time(incident.occurred_at))
            " · " strong { (state_now.status.zh()) }
            @if let Some(deadline) = state_now.deadline { " · 办理期限 " (china_time(deadline)) }
        }
        table {
            thead { tr { th { "时间" } th { "人员" } th { "环节" } th { "说明" } } }
            tbody {
                @for entry in &incident.timeline {
                    tr {
                        td {
                            (china_time(entry.at))
                            @if gridsync_core::doc::time_is_doubtful(entry.at, now()) { " " span.tag.overdue { "设备时间可疑" } }
                        }
                        td { (who(&entry.by)) }
                        td { (entry.step.zh()) }
                        td {
                            (entry.note)
                            @if let Some(deadline) = entry.deadline { " （期限 " (china_time(deadline)) "）" }
                        }
                    }
                }
            }
        }
        @if !photos.is_empty() {
            h3 { "现场照片" }
            div.photos {
                @for (photo, here) in &photos {
                    figure {
                        @if *here {
                            a href={ "/console/photos/" (id) "/" (photo.blob.hash) } {
                                img src={ "/console/photos/" (id) "/" (photo.thumbnail.hash) }
                                    alt=(photo.caption) width=(thumb_width(photo)) height=(thumb_height(photo));
                            }
                        } @else {
                            div.pending { "照片上传中" }
                        }
                        figcaption {
                            @if !photo.caption.is_empty() { (photo.caption) br; }
                            span.muted { (who(&photo.added_by)) " · " (china_time(photo.taken_at.unwrap_or(photo.added_at))) }
                        }
                    }
                }
            }
        }
        @if state_now.needs_review() {
            p.error { "并发的环节需要复核：" @for note in &state_now.review { (note.step.zh()) "（" (note.by) "） " } }
        }
        @if !incident.involved_persons.is_empty() || !incident.involved_households.is_empty() {
            h3 { "涉及人员和户" }
            ul {
                @for person in &incident.involved_persons { li { a href={ "/console/people/" (person) } { "人员 " (person) } } }
                @for household in &incident.involved_households {
                    li { a href={ "/console/households/" (household) } { "户 " (household) } }
                }
            }
        }
        @if !steps.is_empty() {
            h3 { "可办理" }
            @for step in &steps {
                form.step method="post" action={ "/console/incidents/" (id) } {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="step" value=(incidents::step_code(*step));
                    input name="note" placeholder="说明";
                    @if matches!(step, Step::Assign | Step::Divert) {
                        " 期限 " input type="datetime-local" name="deadline" required;
                    }
                    @if *step == Step::Supervise {
                        " " select name="supervision" {
                            option value="normal" { "普通" } option value="yellow" { "黄牌" } option value="red" { "红牌" }
                        }
                    }
                    " " button type="submit" { (step.zh()) }
                }
            }
        }
    };
    page(StatusCode::OK, layout("事件详情", Some((&staff, &csrf)), content), Vec::new())
}

/// A thumbnail's box on the page: 160 px on its longest side, in the photo's shape.
fn thumb_width(photo: &gridsync_core::Attachment) -> u32 {
    (160 * photo.width / photo.width.max(photo.height)).max(1)
}

fn thumb_height(photo: &gridsync_core::Attachment) -> u32 {
    (160 * photo.height / photo.width.max(photo.height)).max(1)
}

/// A photo of a record in the staff member's scope, by hash (the thumbnail or the
/// whole photo): served only through a record that references it, as to phones.
async fn photo(
    State(state): State<AppState>,
    SignedIn { staff, csrf, .. }: SignedIn,
    Path((record, hash)): Path<(String, String)>,
) -> Response {
    let center = state.center.clone();
    let scope = staff.scope.clone();
    let found = blocking(move || center.blob_for_staff(&scope, &record, &hash).map_err(|e| e.to_string())).await;
    match found {
        Ok(Some(bytes)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(gridsync_core::PHOTO_MEDIA_TYPE)),
                // Named by their content: never changes; private to the signed-in browser.
                (header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=86400, immutable")),
            ],
            bytes,
        )
            .into_response(),
        Ok(None) => not_found(&staff, &csrf, "照片"),
        Err(response) => response,
    }
}

#[derive(Debug, serde::Deserialize)]
struct StepForm {
    #[serde(default)] // a form without its token is refused as one with a wrong token
    csrf: String,
    step: String,
    #[serde(default)]
    note: String,
    /// `YYYY-MM-DDTHH:MM`, China time, from a datetime-local field.
    #[serde(default)]
    deadline: String,
    #[serde(default)]
    supervision: String,
}

async fn take_step(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { signed: SignedIn { staff, .. }, form }: Posted<StepForm>,
) -> Response {
    let Some(step) = incidents::parse_step(&form.step) else {
        return refused(StatusCode::BAD_REQUEST, "没有这个办理环节");
    };
    let deadline = if form.deadline.is_empty() {
        None
    } else {
        match parse_china_time(&form.deadline) {
            Some(at) => Some(at),
            None => return refused(StatusCode::BAD_REQUEST, "办理期限不是有效的日期和时间"),
        }
    };
    let supervision = serde_json::from_value(serde_json::Value::String(form.supervision)).ok();
    let taken = StepTaken { step, note: form.note, deadline, supervision };
    let center = state.center.clone();
    let target = id.clone();
    match tokio::task::spawn_blocking(move || incidents::take_step(&center, &staff, &target, taken, now())).await {
        Ok(Ok(())) => Redirect::to(&format!("/console/incidents/{id}")).into_response(),
        Ok(Err(refusal)) => refused(refusal_status(&refusal), &refusal.zh()),
        Err(_) => refused(StatusCode::SERVICE_UNAVAILABLE, "系统暂时不可用，请稍后再试"),
    }
}

/// The answer to a refused console change.
pub(super) fn refusal_status(refusal: &StepRefusal) -> StatusCode {
    match refusal {
        StepRefusal::NotFound => StatusCode::NOT_FOUND,
        StepRefusal::NotYourStep => StatusCode::FORBIDDEN,
        StepRefusal::Illegal(_) | StepRefusal::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        StepRefusal::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// A page saying, in Chinese, why an action was not done (nothing of it was).
pub(super) fn refused(status: StatusCode, message_zh: &str) -> Response {
    let content = html! {
        p.error { (message_zh) }
        p { a href="/console/" { "返回事件看板" } }
    };
    page(status, layout("未能办理", None, content), Vec::new())
}
