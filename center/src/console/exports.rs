//! 导出: the CLI's exports (households, persons, incidents with Chinese headers; Excel
//! with every cell text, or CSV with a byte-order mark) for the area in the staff
//! member's scope. A download holds full ID numbers and phones: only dispatchers and
//! leaders may take one, by a form with its CSRF token, and each is audited.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::html;

use super::accounts;
use super::web::{Posted, SignedIn, blocking, csrf_form, layout, now, page, prefixes_for, refused};
use crate::app::AppState;
use crate::export::{self, Format, Kind, Table};
use gridsync_core::StaffAction;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/console/exports", get(exports_page).post(download))
}

const KINDS: [(Kind, &str, &str); 3] = [
    (Kind::Households, "households", "户"),
    (Kind::Persons, "persons", "人口"),
    (Kind::Incidents, "incidents", "事件"),
];

async fn exports_page(State(_state): State<AppState>, SignedIn { staff, csrf, .. }: SignedIn) -> Response {
    let content = html! {
        @if staff.role.may(StaffAction::ExportPersonalData) {
            p { "导出本人负责区域（" (staff.scope.prefixes().join("、")) "）的数据。导出文件含完整证件号码和手机号，每次导出都记入审计。" }
            form method="post" action="/console/exports" {
                input type="hidden" name="csrf" value=(csrf);
                label { "内容 " select name="kind" {
                    @for (_, code, name) in KINDS { option value=(code) { (name) } }
                } }
                label { " 区域 " input name="area" placeholder="留空为全部"; }
                label { " 格式 " select name="format" {
                    option value="xlsx" { "Excel（.xlsx）" }
                    option value="csv" { "CSV" }
                } }
                " " button type="submit" { "导出" }
            }
        } @else {
            p.error { "本角色不能导出个人数据" }
        }
    };
    page(StatusCode::OK, layout("导出", Some((&staff, &csrf)), content), Vec::new())
}

#[derive(Debug, serde::Deserialize)]
struct ExportForm {
    #[serde(default)] // a form without its token is refused as one with a wrong token
    csrf: String,
    kind: String,
    #[serde(default)]
    area: String,
    format: String,
}

async fn download(
    State(state): State<AppState>,
    Posted { signed: SignedIn { staff, .. }, form }: Posted<ExportForm>,
) -> Response {
    if !staff.role.may(StaffAction::ExportPersonalData) {
        return refused(StatusCode::FORBIDDEN, "本角色不能导出个人数据");
    }
    let Some((kind, code, _)) = KINDS.into_iter().find(|(_, code, _)| *code == form.kind) else {
        return refused(StatusCode::BAD_REQUEST, "没有这种导出内容");
    };
    let format = if form.format == "csv" { Format::Csv } else { Format::Xlsx };
    let prefixes = prefixes_for(&staff, form.area.trim());
    if prefixes.is_empty() {
        return refused(StatusCode::NOT_FOUND, "区域须填您负责范围内的区域编码（如 440106012003001），或留空导出全部");
    }
    let (center, staff_id) = (state.center.clone(), staff.id.clone());
    let written = blocking(move || {
        let mut table: Option<Table> = None;
        for prefix in &prefixes {
            let part = export::table(&center, kind, prefix)?;
            match &mut table {
                Some(table) => table.rows.extend(part.rows),
                None => table = Some(part),
            }
        }
        let table = table.ok_or("nothing to export")?;
        let mut bytes = Vec::new();
        export::write(&table, format, &mut bytes)?;
        let detail = format!("{} rows under {}", table.rows.len(), prefixes.join(","));
        accounts::record(&center, &staff_id, &format!("export.{code}"), &prefixes.join(","), &detail, now())?;
        Ok(bytes)
    })
    .await;
    let bytes = match written {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    let (content_type, extension) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        _ => ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    };
    let disposition = format!("attachment; filename=\"gridsync-{code}.{extension}\"");
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

csrf_form!(ExportForm);
