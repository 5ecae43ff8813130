//! The HTTP face of the center (axum): signed protocol endpoints, `/healthz` and
//! `/metrics`. Every request body is bounded; every refusal is a 4xx with a wire-encoded
//! [`ErrorBody`], counted, logged without personal data, and stores nothing.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gridsync_core::sync::sign::{ENROLLING_DEVICE, HEADER_COUNTER, HEADER_DEVICE, HEADER_SIGNATURE};
use gridsync_core::sync::wire::{self, ErrorBody, ErrorCode, FetchRequest, HeadsRequest, WireError};
use serde::de::DeserializeOwned;

use crate::center::{Center, Device, Refusal};

pub type Shared = Arc<Mutex<Center>>;

pub fn router(center: Shared) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/v1/enrol", post(enrol))
        .route("/v1/push", post(push))
        .route("/v1/pull", post(pull))
        .route("/v1/digest", post(digest))
        .route("/v1/heads", post(heads))
        .route("/v1/fetch", post(fetch))
        .layer(DefaultBodyLimit::max(wire::MAX_ENVELOPE))
        .with_state(center)
}

fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
        ErrorCode::UnsupportedVersion => StatusCode::BAD_REQUEST,
        ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::BadSignature | ErrorCode::Replay => StatusCode::UNAUTHORIZED,
        ErrorCode::Revoked | ErrorCode::EnrolmentRefused | ErrorCode::OutOfScope => StatusCode::FORBIDDEN,
        ErrorCode::Wipe => StatusCode::GONE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn reason_of(code: ErrorCode) -> String {
    serde_json::to_value(code).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn refusal_response(center: &Center, path: &str, device: &str, refusal: &Refusal) -> Response {
    let status = status_of(refusal.code);
    // Counted either way: `internal` is the center's own error count.
    center.count_refusal(&reason_of(refusal.code));
    if status.is_client_error() {
        tracing::info!(path, device, code = ?refusal.code, message = %refusal.message, "request refused");
    } else {
        tracing::error!(path, device, message = %refusal.message, "request failed");
    }
    (status, wire::encode(&ErrorBody { code: refusal.code, message: refusal.message.clone() })).into_response()
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    wire::decode(body).map_err(|e| match e {
        WireError::UnsupportedVersion { .. } => Refusal::new(ErrorCode::UnsupportedVersion, e.to_string()),
        WireError::TooLarge => Refusal::new(ErrorCode::TooLarge, e.to_string()),
        other => Refusal::new(ErrorCode::BadRequest, other.to_string()),
    })
}

/// A request body, or why it could not be read (over the size limit, cut off).
type Body = Result<Bytes, BytesRejection>;

fn read_body(body: Body) -> Result<Bytes, Refusal> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Refusal::new(ErrorCode::TooLarge, format!("bodies are limited to {} bytes", wire::MAX_ENVELOPE))
        } else {
            Refusal::new(ErrorCode::BadRequest, "the body could not be read")
        }
    })
}

/// The signed-request headers.
struct Signed {
    device: String,
    counter: u64,
    signature: String,
}

fn signed_headers(headers: &HeaderMap) -> Result<Signed, Refusal> {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let missing = || Refusal::new(ErrorCode::BadSignature, "missing or malformed signature headers");
    let device = text(HEADER_DEVICE).filter(|d| !d.is_empty() && d.len() <= 64).ok_or_else(missing)?;
    let counter = text(HEADER_COUNTER).and_then(|c| c.parse().ok()).ok_or_else(missing)?;
    let signature = text(HEADER_SIGNATURE).filter(|s| s.len() <= 256).ok_or_else(missing)?;
    Ok(Signed { device, counter, signature })
}

/// Runs a signed request on the blocking pool: authenticate, decode, serve.
async fn serve_signed<Req, Resp>(
    center: Shared,
    path: &'static str,
    headers: HeaderMap,
    body: Body,
    serve: impl FnOnce(&mut Center, &Device, Req) -> Result<(Resp, StatusCode), Refusal> + Send + 'static,
) -> Response
where
    Req: DeserializeOwned + Send + 'static,
    Resp: serde::Serialize + Send + 'static,
{
    let task = tokio::task::spawn_blocking(move || {
        let mut center = center.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (signed, body) = match signed_headers(&headers).and_then(|s| Ok((s, read_body(body)?))) {
            Ok(read) => read,
            Err(refusal) => return refusal_response(&center, path, "-", &refusal),
        };
        let result =
            center.authenticate(&signed.device, signed.counter, &signed.signature, path, &body).and_then(|device| {
                let request = decode::<Req>(&body)?;
                serve(&mut center, &device, request)
            });
        match result {
            Ok((response, status)) => (status, wire::encode(&response)).into_response(),
            Err(refusal) => refusal_response(&center, path, &signed.device, &refusal),
        }
    });
    task.await.unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn enrol(State(center): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let task = tokio::task::spawn_blocking(move || {
        let mut center = center.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let result = signed_headers(&headers).and_then(|signed| {
            let body = read_body(body)?;
            if signed.device != ENROLLING_DEVICE {
                return Err(Refusal::new(ErrorCode::BadRequest, "enrolment is signed as device `enrol`"));
            }
            let request = decode(&body)?;
            center.enrol(&request, signed.counter, &signed.signature, &body)
        });
        match result {
            Ok(response) => (StatusCode::OK, wire::encode(&response)).into_response(),
            Err(refusal) => refusal_response(&center, "/v1/enrol", ENROLLING_DEVICE, &refusal),
        }
    });
    task.await.unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn push(State(center): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    serve_signed(center, "/v1/push", headers, body, |center, device, request| {
        let (response, refused) = center.push(device, &request)?;
        Ok((response, if refused { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK }))
    })
    .await
}

async fn pull(State(center): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    serve_signed(center, "/v1/pull", headers, body, |center, device, request| {
        Ok((center.pull(device, &request)?, StatusCode::OK))
    })
    .await
}

async fn digest(State(center): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    serve_signed(center, "/v1/digest", headers, body, |center, device, ()| Ok((center.digest(device)?, StatusCode::OK)))
        .await
}

async fn heads(State(center): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    serve_signed(center, "/v1/heads", headers, body, |center, device, request: HeadsRequest| {
        Ok((center.heads(device, &request.buckets)?, StatusCode::OK))
    })
    .await
}

async fn fetch(State(center): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    serve_signed(center, "/v1/fetch", headers, body, |center, device, request: FetchRequest| {
        Ok((center.fetch(device, &request.record_ids)?, StatusCode::OK))
    })
    .await
}

async fn metrics(State(center): State<Shared>) -> Response {
    let task = tokio::task::spawn_blocking(move || {
        let center = center.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = String::from("# TYPE gridsync_refusals_total counter\n");
        for (reason, count) in center.refusals().unwrap_or_default() {
            out.push_str(&format!("gridsync_refusals_total{{reason=\"{reason}\"}} {count}\n"));
        }
        out.push_str(&format!("gridsync_changes_total {}\n", center.store().max_seq().unwrap_or(0)));
        out
    });
    task.await.map(IntoResponse::into_response).unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Serves `center` on `listener` (plain TCP, or [`crate::tls::TlsListener`]) until
/// `shutdown` resolves.
pub async fn serve<L>(
    center: Shared,
    listener: L,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    axum::serve(listener, router(center)).with_graceful_shutdown(shutdown).await
}

/// Serves plain HTTP on loopback, or TLS with `tls` anywhere.
pub async fn serve_on(
    center: Shared,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match tls {
        Some(config) => serve(center, crate::tls::TlsListener::new(listener, config), shutdown).await,
        None => serve(center, listener, shutdown).await,
    }
}
