//! 设备: the phones of the workers in scope, with when each was last seen and its app
//! version; for a 管理员, enrolling a worker's phone (a one-time code, shown as a QR code
//! the app scans: the center's address, the code and the CA's fingerprint) and revoking
//! a phone, with a wipe for a lost or stolen one. Every action is audited.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use gridsync_core::StaffAction;
use gridsync_core::sync::enrolment_link::{self, EnrolmentLink};
use gridsync_core::zh::{Zh, china_time};
use maud::{PreEscaped, html};

use super::accounts::{self, Staff};
use super::web::{Posted, SignedIn, blocking, csrf_form, layout, now, page, refused};
use crate::app::AppState;
use crate::center::Center;
use crate::storage::DeviceRow;
use crate::workers::Worker;

/// How long a code shown on the console stays valid.
const CODE_VALID_MS: i64 = 24 * 3_600_000;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/devices", get(devices_page))
        .route("/console/devices/enrol", post(enrol))
        .route("/console/devices/{id}/revoke", post(revoke))
}

/// The workers in `staff`'s scope and their devices.
fn in_scope(center: &Center, staff: &Staff) -> Result<(Vec<Worker>, Vec<DeviceRow>), String> {
    let workers: Vec<Worker> = center
        .workers()
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter_map(Worker::from_row)
        .filter(|worker| worker.within(&staff.scope))
        .collect();
    let devices = center
        .devices()
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|d| workers.iter().any(|w| w.id == d.worker_id))
        .collect();
    Ok((workers, devices))
}

async fn devices_page(State(state): State<AppState>, SignedIn { staff, csrf, .. }: SignedIn) -> Response {
    let (center, reader) = (state.center.clone(), staff.clone());
    let (workers, devices) = match blocking(move || in_scope(&center, &reader)).await {
        Ok(listed) => listed,
        Err(response) => return response,
    };
    let admin = staff.role.may(StaffAction::RevokeDevice);
    let content = html! {
        table {
            thead { tr {
                th { "设备" } th { "网格员" } th { "应用版本" } th { "注册时间" } th { "最近同步" } th { "状态" }
                @if admin { th { "操作" } }
            } }
            tbody {
                @for device in &devices {
                    tr {
                        td { (device.name) br; span.muted { (device.id) } }
                        td { (device.worker_id) }
                        td { (device.app_version) }
                        td { (china_time(device.enrolled_at)) }
                        td { (device.last_seen.map(china_time).unwrap_or_else(|| "从未同步".into())) }
                        td {
                            @if device.wipe { span.tag.overdue { "已停用，已要求清除数据" } }
                            @else if device.revoked { span.tag.overdue { "已停用" } }
                            @else { "正常" }
                        }
                        @if admin && !device.revoked {
                            td {
                                form method="post" action={ "/console/devices/" (device.id) "/revoke" } {
                                    input type="hidden" name="csrf" value=(csrf);
                                    label { input type="checkbox" name="wipe" value="1"; " 同时清除手机数据（丢失或被盗）" }
                                    " " button type="submit" { "停用" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if devices.is_empty() { p.muted { "还没有注册的设备" } }
        @if admin {
            h3 { "注册新设备" }
            form method="post" action="/console/devices/enrol" {
                input type="hidden" name="csrf" value=(csrf);
                label { "网格员 " select name="worker" {
                    @for worker in &workers { option value=(worker.id) { (worker.name) "（" (worker.role.zh()) "）" } }
                } }
                " " button type="submit" { "生成注册码" }
            }
        }
    };
    page(StatusCode::OK, layout("设备", Some((&staff, &csrf)), content), Vec::new())
}

#[derive(Debug, serde::Deserialize)]
struct EnrolForm {
    #[serde(default)] // a form without its token is refused as one with a wrong token
    csrf: String,
    worker: String,
}

/// What the enrolment QR code holds (docs/console.md, "Enrolling a phone").
pub fn enrolment_link(center_url: &str, code: &str, ca_pem: Option<&str>) -> String {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let der = ca_pem.and_then(|pem| CertificateDer::from_pem_slice(pem.as_bytes()).ok());
    EnrolmentLink::new(center_url, code, der.as_deref()).to_string()
}

/// The center's address as the browser reached it (phones on the same network reach it
/// the same way).
fn center_url(state: &AppState, headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let scheme = if state.secure_cookies { "https" } else { "http" };
    format!("{scheme}://{host}")
}

async fn enrol(
    State(state): State<AppState>,
    headers: HeaderMap,
    Posted { signed: SignedIn { staff, csrf, .. }, form }: Posted<EnrolForm>,
) -> Response {
    if !staff.role.may(StaffAction::EnrolDevice) {
        return refused(StatusCode::FORBIDDEN, "只有管理员可以注册设备");
    }
    // The address comes from the browser's Host header: a phone must be able to read it.
    let Some(address) = enrolment_link::center_origin(&center_url(&state, &headers)) else {
        return refused(
            StatusCode::BAD_REQUEST,
            "请用手机能访问的中心地址（域名或IP，可带端口）打开控制台，再生成注册码",
        );
    };
    let (center, reader, worker) = (state.center.clone(), staff.clone(), form.worker.clone());
    let issued = blocking(move || {
        let (workers, _) = in_scope(&center, &reader)?;
        if !workers.iter().any(|w| w.id == worker) {
            return Ok(None);
        }
        let code = center.issue_enrolment_code(&worker, CODE_VALID_MS)?;
        accounts::record(&center, &reader.id, "device.enrol_code", &worker, "", now())?;
        Ok(Some((code, center.ca_certificate().map_err(|e| e.to_string())?)))
    })
    .await;
    let (code, ca) = match issued {
        Ok(Some(issued)) => issued,
        Ok(None) => return refused(StatusCode::NOT_FOUND, "您负责的区域内没有这名网格员"),
        Err(response) => return response,
    };
    let link = enrolment_link(&address, &code, ca.as_deref());
    let qr = match qrcode::QrCode::new(link.as_bytes()) {
        Ok(qr) => qr.render::<qrcode::render::svg::Color<'_>>().min_dimensions(240, 240).build(),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let content = html! {
        p { a href="/console/devices" { "← 设备" } }
        h2 { "网格员 " (form.worker) " 的注册码" }
        p { "请网格员在手机上打开应用，扫描下面的二维码；或输入注册码：" }
        p.code { (code) }
        div.qr { (PreEscaped(qr)) }
        p.muted { "注册码24小时内有效，只能使用一次。" }
        p.muted { "无法扫码时（如模拟器），把这段二维码内容复制到应用里：" }
        p { code.link { (link) } }
    };
    page(StatusCode::OK, layout("设备", Some((&staff, &csrf)), content), Vec::new())
}

#[derive(Debug, serde::Deserialize)]
struct RevokeForm {
    #[serde(default)] // a form without its token is refused as one with a wrong token
    csrf: String,
    #[serde(default)]
    wipe: Option<String>,
}

async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { signed: SignedIn { staff, .. }, form }: Posted<RevokeForm>,
) -> Response {
    if !staff.role.may(StaffAction::RevokeDevice) {
        return refused(StatusCode::FORBIDDEN, "只有管理员可以停用设备");
    }
    let wipe = form.wipe.is_some();
    let (center, reader, device) = (state.center.clone(), staff.clone(), id.clone());
    let done = blocking(move || {
        let (_, devices) = in_scope(&center, &reader)?;
        if !devices.iter().any(|d| d.id == device) {
            return Ok(false);
        }
        center.revoke(&device, wipe, &reader.id).map_err(|e| e.to_string())
    })
    .await;
    match done {
        Ok(true) => Redirect::to("/console/devices").into_response(),
        Ok(false) => refused(StatusCode::NOT_FOUND, "您负责的区域内没有这台设备"),
        Err(response) => response,
    }
}

csrf_form!(EnrolForm, RevokeForm);
