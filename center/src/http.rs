//! The HTTP face of the center (axum): signed protocol endpoints, `/healthz` and
//! `/metrics` (loopback only). Every request is rate-limited by address and, once
//! authenticated, by device, before any database work; every body is bounded in size
//! and in time; every refusal is a 4xx with a wire-encoded [`ErrorBody`], counted,
//! logged without personal data, and stores nothing.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Router, body};
use gridsync_core::sync::sign::{ENROLLING_DEVICE, HEADER_COUNTER, HEADER_DEVICE, HEADER_SIGNATURE};
use gridsync_core::sync::wire::{self, ErrorBody, ErrorCode, FetchRequest, HeadsRequest, PushRequest, WireError};
use serde::de::DeserializeOwned;

use crate::center::{Center, Device, Refusal};
use crate::limits::{RateLimits, Rates};
use crate::serve::Peer;

pub use crate::app::{AppState, Shared};

/// A whole body must arrive within this.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(60);

pub fn router(state: AppState) -> Router {
    let center = state.center.clone();
    let on_panic = move |_: Box<dyn std::any::Any + Send>| internal_failure(&center, "a request handler panicked");
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/v1/enrol", post(enrol))
        .route("/v1/ca-certificate", get(ca_certificate))
        .route(
            "/v1/push",
            signed("/v1/push", |center, device, request: PushRequest| {
                let (response, refused) = center.push(device, &request)?;
                Ok((response, if refused { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK }))
            }),
        )
        .route(
            "/v1/pull",
            signed("/v1/pull", |center, device, request| Ok((center.pull(device, &request)?, StatusCode::OK))),
        )
        .route("/v1/digest", signed("/v1/digest", |center, device, ()| Ok((center.digest(device)?, StatusCode::OK))))
        .route(
            "/v1/heads",
            signed("/v1/heads", |center, device, request: HeadsRequest| {
                Ok((center.heads(device, &request.buckets)?, StatusCode::OK))
            }),
        )
        .route(
            "/v1/fetch",
            signed("/v1/fetch", |center, device, request: FetchRequest| {
                Ok((center.fetch(device, &request.record_ids)?, StatusCode::OK))
            }),
        )
        .route(
            "/v1/blobs/status",
            signed("/v1/blobs/status", |center, device, request| {
                Ok((center.blob_status(device, &request)?, StatusCode::OK))
            }),
        )
        .route(
            "/v1/blobs/put",
            signed("/v1/blobs/put", |center, device, request| Ok((center.blob_put(device, &request)?, StatusCode::OK))),
        )
        .route(
            "/v1/blobs/get",
            signed("/v1/blobs/get", |center, device, request| Ok((center.blob_get(device, &request)?, StatusCode::OK))),
        )
        .merge(crate::console::web::router(&state))
        .with_state(state)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(on_panic))
}

/// The answer when the center failed itself (a panic, a task that died): a typed 500,
/// counted as `internal` (what tests and /metrics watch), logged without request data.
fn internal_failure(center: &Shared, what: &str) -> Response {
    let refusal = Refusal::new(ErrorCode::Internal, "the center failed; try again later");
    tracing::error!(what, "center failure");
    refusal_response(center, "-", "-", &refusal, true)
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
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::NotHeld => StatusCode::NOT_FOUND,
        ErrorCode::WrongOffset => StatusCode::CONFLICT,
        ErrorCode::Unknown => StatusCode::BAD_REQUEST,
    }
}

fn reason_of(code: ErrorCode) -> String {
    serde_json::to_value(code).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn refusal_response(center: &Center, path: &str, device: &str, refusal: &Refusal, log: bool) -> Response {
    let status = status_of(refusal.code);
    // Counted either way: `internal` is the center's own error count, `unavailable` the
    // database's absences.
    let reason = if refusal.unavailable { "unavailable".to_owned() } else { reason_of(refusal.code) };
    center.count_refusal(&reason);
    if !log && status.is_client_error() {
        // Counted above; not logged line by line (see `refuse_unsigned`).
    } else if status.is_client_error() {
        tracing::info!(path, device, code = ?refusal.code, message = %refusal.message, "request refused");
    } else {
        tracing::error!(path, device, message = %refusal.message, "request failed");
    }
    let body = wire::encode(&ErrorBody { code: refusal.code, message: refusal.message.clone() });
    if refusal.unavailable {
        // The database is away: the phone comes back after a pause, like any 5xx.
        let retry = [(header::RETRY_AFTER, HeaderValue::from_static("5"))];
        return (StatusCode::SERVICE_UNAVAILABLE, retry, body).into_response();
    }
    (status, body).into_response()
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    wire::decode(body).map_err(|e| match e {
        WireError::UnsupportedVersion { .. } => Refusal::new(ErrorCode::UnsupportedVersion, e.to_string()),
        WireError::TooLarge => Refusal::new(ErrorCode::TooLarge, e.to_string()),
        other => Refusal::new(ErrorCode::BadRequest, other.to_string()),
    })
}

/// Reads a request body: a declared length over the limit is refused before a byte is
/// read; the body must stay within the limit and arrive within [`BODY_TIMEOUT`].
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, Refusal> {
    declared_length(headers)?;
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    match tokio::time::timeout(BODY_TIMEOUT, body::to_bytes(body, wire::MAX_ENVELOPE)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) if declared.is_none() => Err(too_large()),
        Ok(Err(_)) => Err(Refusal::new(ErrorCode::BadRequest, "the body could not be read")),
        Err(_) => Err(Refusal::new(ErrorCode::BadRequest, "the body did not arrive in time")),
    }
}

fn too_large() -> Refusal {
    Refusal::new(ErrorCode::TooLarge, format!("bodies are limited to {} bytes", wire::MAX_ENVELOPE))
}

/// Refuses a declared body length over the limit, before anything else is looked at.
fn declared_length(headers: &HeaderMap) -> Result<(), Refusal> {
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > wire::MAX_ENVELOPE as u64) { Err(too_large()) } else { Ok(()) }
}

/// A `429 rate_limited` answer telling the client when to come back.
fn rate_limited(center: &Shared, wait: Duration) -> Response {
    let seconds = wait.as_secs() + 1;
    center.count_refusal("rate_limited");
    let body = ErrorBody { code: ErrorCode::RateLimited, message: format!("too many requests: retry in {seconds} s") };
    let mut response = (StatusCode::TOO_MANY_REQUESTS, wire::encode(&body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Refuses a request that did not authenticate. It costs no database write (refusals
/// are counted in memory) and, once its address has been refused often, no log line:
/// a flood of junk is counted, not logged line by line. It is not blocked by address:
/// many honest phones share a carrier's address.
fn refuse_unsigned(state: &AppState, ip: std::net::IpAddr, path: &str, device: &str, refusal: &Refusal) -> Response {
    let log = state.limits.failures.take(&ip).is_ok();
    refusal_response(&state.center, path, device, refusal, log)
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

/// Runs a signed request: rate limits, body, then on the blocking pool authenticate,
/// decode, serve.
async fn serve_signed<Req, Resp>(
    state: AppState,
    peer: Peer,
    path: &'static str,
    headers: HeaderMap,
    body: Body,
    serve: impl FnOnce(&Center, &Device, Req) -> Result<(Resp, StatusCode), Refusal> + Send + 'static,
) -> Response
where
    Req: DeserializeOwned + Send + 'static,
    Resp: serde::Serialize + Send + 'static,
{
    let ip = peer.0.ip();
    if let Err(wait) = state.limits.address.take(&ip) {
        return rate_limited(&state.center, wait);
    }
    let read = match declared_length(&headers).and_then(|()| signed_headers(&headers)) {
        Ok(signed) => read_body(&headers, body).await.map(|body| (signed, body)),
        Err(refusal) => Err(refusal),
    };
    let (signed, body) = match read {
        Ok(read) => read,
        Err(refusal) => return refuse_unsigned(&state, ip, path, "-", &refusal),
    };
    let limits = state.limits.clone();
    let center = state.center.clone();
    let received = std::time::Instant::now();
    blocking(center, move || {
        let center = &state.center;
        let _timer = RequestTimer { center, received };
        let device = match center.authenticate(&signed.device, signed.counter, &signed.signature, path, &body) {
            Ok(device) => device,
            Err(refusal) => return refuse_unsigned(&state, ip, path, &signed.device, &refusal),
        };
        if let Err(wait) = limits.device.take(&device.id) {
            return rate_limited(&state.center, wait);
        }
        let result = decode::<Req>(&body).and_then(|request| serve(center, &device, request));
        match result {
            Ok((response, status)) => (status, wire::encode(&response)).into_response(),
            Err(refusal) => refusal_response(center, path, &signed.device, &refusal, true),
        }
    })
    .await
}

/// Answers one signed endpoint's decoded request for the authenticated device: the
/// answer and its status, or a refusal.
type Serve<Req, Resp> = fn(&Center, &Device, Req) -> Result<(Resp, StatusCode), Refusal>;

/// The route of a signed endpoint at `path` (see [`serve_signed`]).
fn signed<Req, Resp>(path: &'static str, serve: Serve<Req, Resp>) -> axum::routing::MethodRouter<AppState>
where
    Req: DeserializeOwned + Send + 'static,
    Resp: serde::Serialize + Send + 'static,
{
    post(move |State(state): State<AppState>, Extension(peer): Extension<Peer>, headers: HeaderMap, body: Body| {
        serve_signed(state, peer, path, headers, body, serve)
    })
}

/// Records a signed request's time at the center when its answer is ready.
struct RequestTimer<'a> {
    center: &'a Center,
    received: std::time::Instant,
}

impl Drop for RequestTimer<'_> {
    fn drop(&mut self) {
        self.center.requests.record(self.received.elapsed());
    }
}

/// Runs database work on the blocking pool; a task that dies answers a typed 500.
async fn blocking(center: Shared, work: impl FnOnce() -> Response + Send + 'static) -> Response {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|_| internal_failure(&center, "a request task failed"))
}

/// The township CA certificate (PEM), for a phone enrolling from a link that names it
/// by hash (docs/protocol.md, "Enrolling from a link"): public, and trusted by the phone only if it
/// hashes to the link's pin. 404 from a center without one.
async fn ca_certificate(State(state): State<AppState>, Extension(peer): Extension<Peer>) -> Response {
    if let Err(wait) = state.limits.address.take(&peer.0.ip()) {
        return rate_limited(&state.center, wait);
    }
    let center = state.center.clone();
    blocking(center, move || match state.center.ca_certificate() {
        Ok(Some(pem)) => ([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, "this center has no CA certificate\n").into_response(),
        Err(_) => internal_failure(&state.center, "the CA certificate could not be read"),
    })
    .await
}

async fn enrol(
    State(state): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let ip = peer.0.ip();
    // Guessing codes is slow: an address whose enrolments keep failing waits.
    if let Err(wait) = state.limits.address.take(&ip).and_then(|()| state.limits.failures.check(&ip)) {
        return rate_limited(&state.center, wait);
    }
    let read = match declared_length(&headers).and_then(|()| signed_headers(&headers)) {
        Ok(signed) => read_body(&headers, body).await.map(|body| (signed, body)),
        Err(refusal) => Err(refusal),
    };
    let limits = state.limits.clone();
    let center = state.center.clone();
    blocking(center, move || {
        let center = &state.center;
        let result = read.and_then(|(signed, body)| {
            if signed.device != ENROLLING_DEVICE {
                return Err(Refusal::new(ErrorCode::BadRequest, "enrolment is signed as device `enrol`"));
            }
            let request = decode(&body)?;
            center.enrol(&request, signed.counter, &signed.signature, &body)
        });
        match result {
            Ok(response) => (StatusCode::OK, wire::encode(&response)).into_response(),
            Err(refusal) => {
                // Every failed enrolment spends the address's budget (docs/security.md).
                let _ = limits.failures.take(&ip);
                refusal_response(center, "/v1/enrol", ENROLLING_DEVICE, &refusal, true)
            }
        }
    })
    .await
}

/// Counters for the township's monitoring, on loopback only (a reverse proxy or an
/// agent on the center's machine reads them; phones and the internet do not).
async fn metrics(State(state): State<AppState>, Extension(peer): Extension<Peer>) -> Response {
    if !peer.0.ip().is_loopback() {
        return (StatusCode::FORBIDDEN, "metrics are served on loopback only\n").into_response();
    }
    let center = state.center.clone();
    blocking(center, move || {
        let center = &state.center;
        let mut out = String::from("# TYPE gridsync_refusals_total counter\n");
        for (reason, count) in center.refusals().unwrap_or_default() {
            out.push_str(&format!("gridsync_refusals_total{{reason=\"{reason}\"}} {count}\n"));
        }
        out.push_str(&format!("gridsync_changes_total {}\n", center.max_seq().unwrap_or(0)));
        out.push_str(&center.requests.prometheus("gridsync_request_duration_seconds"));
        out.into_response()
    })
    .await
}

/// Serves `center` on `listener` (plain HTTP on loopback, or TLS with `tls` anywhere)
/// until `shutdown` resolves.
pub async fn serve_on(
    center: Shared,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    rates: Rates,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Refusals counted in memory reach the database once a second, off the async threads.
    let weak = Arc::downgrade(&center);
    let flusher = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let Some(center) = weak.upgrade() else { return };
            let _ = tokio::task::spawn_blocking(move || center.flush_refusals()).await;
        }
    });
    let state = AppState {
        center,
        limits: Arc::new(RateLimits::new(rates)),
        secure_cookies: tls.is_some(),
        read_model: Arc::default(),
    };
    let served = crate::serve::serve(router(state), listener, tls, shutdown).await;
    flusher.abort();
    served
}
