//! The phone's sync client: blocking HTTP (reqwest on rustls with ring) to the township
//! center, run by the app on a background thread.
//!
//! A sync pushes pending local changes in bounded batches, then pulls pages until the
//! center has nothing more; every batch answer and every page is stored in one
//! transaction, so a killed app, a dropped connection or a cancel resumes where it
//! stopped. Requests are signed (see [`crate::sync::sign`]) and retried with backoff suited
//! to a 2G link. TLS trusts only the center's CA certificate received at enrolment.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Serialize, de::DeserializeOwned};

use crate::error::{Error, Result};
use crate::store::{PendingBlob, Store, SyncIdentity};
use crate::sync::enrolment_link::EnrolmentLink;
use crate::sync::sign::{DeviceKey, ENROLLING_DEVICE, HEADER_COUNTER, HEADER_DEVICE, HEADER_SIGNATURE};
use crate::sync::wire::{
    self, BlobGetRequest, BlobGetResponse, BlobName, BlobPutRequest, BlobPutResponse, BlobState, BlobStatusRequest,
    BlobStatusResponse, Cursor, DigestResponse, EnrolRequest, EnrolResponse, ErrorBody, ErrorCode, FetchRequest,
    FetchResponse, HeadsRequest, HeadsResponse, MAX_BLOB_CHUNK, MAX_BLOBS_PER_STATUS, PullRequest, PullResponse,
    PushRequest, PushResponse,
};

/// Timeouts, retries and batch sizes. The defaults suit GPRS/2G: long timeouts, a few
/// retries with exponential backoff, batches a dropped connection does not waste much of.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Attempts after the first for a retryable failure.
    pub retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub push_batch_changes: u32,
    pub push_batch_bytes: usize,
    pub pull_page_items: u32,
    pub pull_page_bytes: u32,
    /// Bytes of photo per upload or download request: what a cut link re-sends at most.
    pub blob_chunk_bytes: u32,
    /// Allows plain HTTP to a loopback address (tests, demos). Never to anything else.
    pub allow_insecure_loopback: bool,
    /// The longest a sync, a verify, an enrolment or a photo fetch may take in all
    /// (requests, retries' waits and applying included): past it the call stops as if
    /// cancelled, keeping what completed. `None`: no limit but the app's cancel.
    pub deadline: Option<Duration>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(20),
            request_timeout: Duration::from_secs(90),
            retries: 4,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            push_batch_changes: 500,
            push_batch_bytes: 128 << 10,
            pull_page_items: 500,
            pull_page_bytes: 256 << 10,
            blob_chunk_bytes: 64 << 10,
            allow_insecure_loopback: false,
            deadline: None,
        }
    }
}

/// The stage a sync is in, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Push,
    Pull,
    Verify,
    /// Photos, after every record: `items` count photos (a photo is done with its
    /// thumbnail), `photo_bytes` count the bytes of both.
    Photos,
}

/// Where a sync is: items and bytes done, and the total when known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub phase: Phase,
    pub items_done: u64,
    pub items_total: Option<u64>,
    /// Bytes sent and received so far in this sync.
    pub bytes_done: u64,
    /// Photo bytes sent so far and in all, in the photo phase (0 before it).
    pub photo_bytes_done: u64,
    pub photo_bytes_total: u64,
}

/// Receives progress; the app draws it. Called on the syncing thread.
pub trait ProgressListener: Send + Sync {
    fn on_progress(&self, progress: &Progress);
}

/// A listener that ignores progress.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl ProgressListener for NoProgress {
    fn on_progress(&self, _: &Progress) {}
}

/// Cancels a running sync from another thread, or once its deadline passes. What
/// completed stays; the next sync resumes.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag {
    cancelled: Arc<AtomicBool>,
    deadline: Option<std::time::Instant>,
}

impl CancelFlag {
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst) || self.deadline.is_some_and(|d| std::time::Instant::now() >= d)
    }

    /// This flag, set also once `after` has passed from now (`ClientConfig::deadline`);
    /// an earlier deadline it had stays.
    fn expiring(&self, after: Option<Duration>) -> Self {
        let deadline =
            [self.deadline, after.map(|after| std::time::Instant::now() + after)].into_iter().flatten().min();
        Self { cancelled: self.cancelled.clone(), deadline }
    }

    fn check(&self) -> Result<()> {
        if self.is_cancelled() { Err(Error::Cancelled) } else { Ok(()) }
    }

    /// Sleeps `delay` (a retry's backoff), or less when cancelled.
    fn wait(&self, delay: Duration) -> Result<()> {
        let until = std::time::Instant::now() + delay;
        loop {
            self.check()?;
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(CANCEL_POLL));
        }
    }
}

/// Who signs a request: the device's key and id (`enrol` while enrolling).
#[derive(Clone, Copy)]
struct Signer<'a> {
    key: &'a DeviceKey,
    device: &'a str,
}

/// How often a wait looks at its cancel flag: a cancel lands within this of being made,
/// in a retry's sleep or a request in flight.
const CANCEL_POLL: Duration = Duration::from_millis(50);

/// A CA certificate is a few hundred bytes; a center's answer beyond this is refused.
const MAX_CA_CERTIFICATE_BYTES: usize = 16 * 1024;

/// What a sync did, in figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub pushed: u64,
    pub quarantined: u64,
    pub pulled_changes: u64,
    pub pulled_snapshots: u64,
    /// Request and answer body bytes (the envelopes): what the client itself sees, for
    /// progress. The socket carries more (HTTP headers, ~0.5 KB a round trip here, and
    /// TLS records); the demo and the benchmark measure those on the socket.
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub round_trips: u64,
    /// Blobs (photos and thumbnails) the center now holds that it lacked, and the photo
    /// bytes sent in answered chunks.
    pub photos_sent: u64,
    pub photo_bytes_sent: u64,
}

impl SyncReport {
    /// Adds another sync's figures to these.
    pub fn add(&mut self, more: &SyncReport) {
        self.pushed += more.pushed;
        self.quarantined += more.quarantined;
        self.pulled_changes += more.pulled_changes;
        self.pulled_snapshots += more.pulled_snapshots;
        self.bytes_up += more.bytes_up;
        self.bytes_down += more.bytes_down;
        self.round_trips += more.round_trips;
        self.photos_sent += more.photos_sent;
        self.photo_bytes_sent += more.photo_bytes_sent;
    }

    fn progress(&self, phase: Phase, items_done: u64, items_total: u64) -> Progress {
        Progress {
            phase,
            items_done,
            items_total: Some(items_total),
            bytes_done: self.bytes_up + self.bytes_down,
            photo_bytes_done: 0,
            photo_bytes_total: 0,
        }
    }
}

/// What a digest comparison found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Whether phone and center held the same documents before repair.
    pub equal_before: bool,
    /// Whether they do after repair (and a push of what the center lacked).
    pub equal_after: bool,
    /// Records fetched from the center.
    pub fetched: u64,
    /// Records whose local changes were sent again.
    pub resent: u64,
    pub sync: SyncReport,
}

/// Enrols the store with the center at `center_url` using a one-time `code`: makes a
/// signing key, sends its public half, and stores what the center returns. Over TLS,
/// `ca_certificate` is the township CA (PEM) the app received with the code (e.g. in
/// the same QR code); the phone pins it from then on.
pub fn enrol(
    store: &mut Store,
    center_url: &str,
    code: &str,
    device_name: &str,
    ca_certificate: Option<&str>,
    config: &ClientConfig,
) -> Result<EnrolResponse> {
    enrol_cancellable(store, center_url, code, device_name, ca_certificate, config, &CancelFlag::default())
}

/// [`enrol`], giving up with [`Error::Cancelled`] once `cancel` is set (a request in
/// flight or a retry's sleep included); nothing is stored then.
pub fn enrol_cancellable(
    store: &mut Store,
    center_url: &str,
    code: &str,
    device_name: &str,
    ca_certificate: Option<&str>,
    config: &ClientConfig,
    cancel: &CancelFlag,
) -> Result<EnrolResponse> {
    let cancel = &cancel.expiring(config.deadline);
    let key = DeviceKey::generate();
    let http = Http::new(center_url, ca_certificate, config)?;
    let request = EnrolRequest {
        code: code.to_owned(),
        public_key: key.public_key().to_vec(),
        actor: store.device_actor(),
        device_name: device_name.to_owned(),
        app_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let mut report = SyncReport::default();
    let mut response: EnrolResponse =
        http.call(store, Signer { key: &key, device: ENROLLING_DEVICE }, "/v1/enrol", &request, &mut report, cancel)?;
    if response.ca_certificate.is_none() {
        response.ca_certificate = ca_certificate.map(str::to_owned);
    }
    store.save_enrolment(center_url, &response, key.pkcs8())?;
    Ok(response)
}

/// Enrols with what a scanned enrolment link carries (the console's QR code). When the
/// link names the township CA by its hash, the CA certificate is `ca_certificate` if
/// the app holds it, else fetched from the center (`GET /v1/ca-certificate`) over a
/// connection that trusts no certificate yet; either way it is used only if it hashes
/// to the link's pin, so whoever answers that fetch cannot put another CA in its place.
pub fn enrol_from_link(
    store: &mut Store,
    link: &EnrolmentLink,
    device_name: &str,
    ca_certificate: Option<&str>,
    config: &ClientConfig,
    cancel: &CancelFlag,
) -> Result<EnrolResponse> {
    let cancel = &cancel.expiring(config.deadline);
    let ca = match (ca_certificate, link.ca_sha256) {
        (Some(given), _) => Some(given.to_owned()),
        (None, Some(_)) => Some(Http::trusting_any_certificate(&link.center_url, config)?.ca_certificate(cancel)?),
        (None, None) => None,
    };
    if link.ca_sha256.is_some() && !ca.as_deref().is_some_and(|pem| holds_only(pem, link)) {
        return Err(Error::Network {
            retryable: false,
            message: "the center's CA certificate is not the one the enrolment link names".into(),
        });
    }
    enrol_cancellable(store, &link.center_url, &link.code, device_name, ca.as_deref(), config, cancel)
}

/// A client for one enrolled store.
pub struct SyncClient {
    http: Http,
    key: DeviceKey,
    device_id: String,
}

impl std::fmt::Debug for SyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncClient").field("device_id", &self.device_id).finish_non_exhaustive()
    }
}

impl SyncClient {
    /// A client for the center `store` enrolled with.
    pub fn for_store(store: &Store, config: ClientConfig) -> Result<Self> {
        let SyncIdentity { device_id, center_url, ca_certificate, signing_key_pkcs8 } =
            store.sync_identity()?.ok_or(Error::NotEnrolled)?;
        let key = DeviceKey::from_pkcs8(&signing_key_pkcs8)
            .ok_or_else(|| Error::Document("stored signing key is unreadable".into()))?;
        Ok(Self { http: Http::new(&center_url, ca_certificate.as_deref(), &config)?, key, device_id })
    }

    /// Pushes what is pending, then pulls until the center has nothing more. The
    /// outcome is recorded for [`Store::sync_status`].
    pub fn sync(&self, store: &mut Store, progress: &dyn ProgressListener, cancel: &CancelFlag) -> Result<SyncReport> {
        let cancel = &cancel.expiring(self.http.config.deadline);
        let mut report = SyncReport::default();
        // Usually push first: what the worker typed reaches the center soonest. A phone
        // that has never pulled bootstraps first, or it would get its own records back.
        let records = if store.sync_cursor()? == Cursor::fresh() {
            self.pull(store, progress, cancel, &mut report)
                .and_then(|()| self.push(store, progress, cancel, &mut report))
        } else {
            self.push(store, progress, cancel, &mut report)
                .and_then(|()| self.pull(store, progress, cancel, &mut report))
        };
        // Photos after every record: a thousand times larger, they never hold one back.
        let result = records.and_then(|()| self.upload_photos(store, progress, cancel, &mut report));
        if !matches!(result, Err(Error::Revoked { wipe: true })) {
            store.record_sync_result(result.as_ref().err())?;
        }
        result.map(|()| report)
    }

    fn push(
        &self,
        store: &mut Store,
        progress: &dyn ProgressListener,
        cancel: &CancelFlag,
        report: &mut SyncReport,
    ) -> Result<()> {
        let total = store.sync_status()?.pending_changes;
        let config = &self.http.config;
        loop {
            cancel.check()?;
            let batch = store.pending_push(config.push_batch_changes, config.push_batch_bytes)?;
            if batch.is_empty() {
                return Ok(());
            }
            let sent: Vec<i64> = batch.iter().map(|(seq, _)| *seq).collect();
            let request = PushRequest {
                batch_id: uuid::Uuid::now_v7().to_string(),
                changes: batch.into_iter().map(|(_, change)| change).collect(),
            };
            fail::fail_point!("push.before_send");
            let response: PushResponse = self.call(store, "/v1/push", &request, report, cancel)?;
            // The center has stored the batch; the phone has not yet recorded that.
            fail::fail_point!("push.answered_before_record");
            if response.batch_id != request.batch_id {
                return Err(Error::Protocol("push answer names another batch".into()));
            }
            let tally = store.record_push(&sent, &response)?;
            if tally.acknowledged + tally.quarantined == 0 {
                return Err(Error::Protocol("the center acknowledged none of a batch".into()));
            }
            report.pushed += tally.acknowledged as u64;
            report.quarantined += tally.quarantined as u64;
            progress.on_progress(&report.progress(Phase::Push, report.pushed + report.quarantined, total));
        }
    }

    fn pull(
        &self,
        store: &mut Store,
        progress: &dyn ProgressListener,
        cancel: &CancelFlag,
        report: &mut SyncReport,
    ) -> Result<()> {
        let mut restarted = false;
        loop {
            cancel.check()?;
            let request = PullRequest {
                cursor: store.sync_cursor()?,
                max_items: self.http.config.pull_page_items,
                max_bytes: self.http.config.pull_page_bytes,
            };
            let page: PullResponse = match self.call(store, "/v1/pull", &request, report, cancel) {
                // The scope narrowed during a bootstrap of some areas: bootstrap the
                // scope as it is now instead.
                Err(Error::OutOfScope { .. }) if !restarted => {
                    restarted = true;
                    store.restart_bootstrap()?;
                    continue;
                }
                other => other?,
            };
            store.apply_pull(&page.snapshots, &page.changes, &page.cursor, &page.scope)?;
            report.pulled_changes += page.changes.len() as u64;
            report.pulled_snapshots += page.snapshots.len() as u64;
            let done = report.pulled_changes + report.pulled_snapshots;
            progress.on_progress(&report.progress(Phase::Pull, done, done + page.remaining));
            // A widened scope turns the stored cursor into a bootstrap of the new areas.
            if !page.more && !matches!(store.sync_cursor()?, Cursor::Bootstrap { .. }) {
                return Ok(());
            }
        }
    }

    /// Sends the photo blobs the center lacks, oldest attached first, each from what the
    /// center says it holds: a cut link or a killed app re-sends at most one chunk.
    fn upload_photos(
        &self,
        store: &mut Store,
        progress: &dyn ProgressListener,
        cancel: &CancelFlag,
        report: &mut SyncReport,
    ) -> Result<()> {
        let pending = store.pending_blobs(MAX_BLOBS_PER_STATUS as u32)?;
        if pending.is_empty() {
            return Ok(());
        }
        // Progress counts photos, as a worker does: a photo is done once it and its
        // thumbnail are.
        let photos = store.photos_of(&pending)?;
        let mut blobs_left: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for photo in &photos {
            *blobs_left.entry(photo).or_default() += 1;
        }
        let mut at = Progress {
            phase: Phase::Photos,
            items_done: 0,
            items_total: Some(blobs_left.len() as u64),
            bytes_done: report.bytes_up + report.bytes_down,
            photo_bytes_done: 0,
            photo_bytes_total: pending.iter().map(|b| b.size).sum(),
        };
        // The records are done: the photo phase begins.
        progress.on_progress(&at);
        let names: Vec<BlobName> =
            pending.iter().map(|b| BlobName { record_id: b.record_id.clone(), hash: b.hash.clone() }).collect();
        let status: BlobStatusResponse =
            self.call(store, "/v1/blobs/status", &BlobStatusRequest { blobs: names }, report, cancel)?;
        let states: std::collections::HashMap<String, BlobState> =
            status.blobs.into_iter().map(|s| (s.hash, s.state)).collect();
        for (blob, photo) in pending.iter().zip(&photos) {
            cancel.check()?;
            let done_before = at.photo_bytes_done;
            match states.get(&blob.hash) {
                Some(BlobState::Stored) => store.blob_uploaded(&blob.hash)?,
                Some(BlobState::Partial { received }) => {
                    let on_sent = &mut |sent: u64, report: &SyncReport| {
                        at.photo_bytes_done = done_before + sent;
                        at.bytes_done = report.bytes_up + report.bytes_down;
                        progress.on_progress(&at);
                    };
                    if self.upload_blob(store, blob, *received, cancel, report, on_sent)? {
                        report.photos_sent += 1;
                    }
                }
                // The record that names it has not reached the center (or was
                // quarantined): the blob waits.
                Some(BlobState::Unreferenced) | None => {}
            }
            let left = blobs_left.entry(photo).or_default();
            *left = left.saturating_sub(1);
            at.items_done += u64::from(*left == 0);
            at.photo_bytes_done = done_before + blob.size;
            at.bytes_done = report.bytes_up + report.bytes_down;
            progress.on_progress(&at);
        }
        Ok(())
    }

    /// Uploads `blob` from `offset`; true once the center holds it whole. A chunk the
    /// center refuses for its offset (another attempt moved it) resumes from what the
    /// center holds; a blob it refuses otherwise is left waiting.
    fn upload_blob(
        &self,
        store: &mut Store,
        blob: &PendingBlob,
        mut offset: u64,
        cancel: &CancelFlag,
        report: &mut SyncReport,
        on_sent: &mut dyn FnMut(u64, &SyncReport),
    ) -> Result<bool> {
        let chunk = u64::from(self.http.config.blob_chunk_bytes.clamp(1 << 10, MAX_BLOB_CHUNK));
        let mut resumed = false;
        loop {
            cancel.check()?;
            if offset >= blob.size {
                // The center counts every byte but has not kept the blob: it finishes it
                // when asked next time (status); nothing is left to send.
                return Ok(false);
            }
            let bytes = store.blob_chunk(&blob.hash, offset, chunk)?;
            let sent = bytes.len() as u64;
            let request = BlobPutRequest {
                record_id: blob.record_id.clone(),
                hash: blob.hash.clone(),
                offset,
                total: blob.size,
                bytes,
            };
            let answer: Result<BlobPutResponse> = self.call(store, "/v1/blobs/put", &request, report, cancel);
            let answer = match answer {
                Err(Error::Protocol(reason)) if !resumed => {
                    resumed = true;
                    tracing::debug!(%reason, "photo chunk refused; asking where the upload stands");
                    let names = vec![BlobName { record_id: blob.record_id.clone(), hash: blob.hash.clone() }];
                    let status: BlobStatusResponse =
                        self.call(store, "/v1/blobs/status", &BlobStatusRequest { blobs: names }, report, cancel)?;
                    match status.blobs.first().map(|s| &s.state) {
                        Some(BlobState::Partial { received }) if *received != offset => {
                            offset = *received;
                            continue;
                        }
                        Some(BlobState::Stored) => BlobPutResponse { received: blob.size, stored: true },
                        _ => return Ok(false),
                    }
                }
                Err(Error::Protocol(_) | Error::OutOfScope { .. }) => return Ok(false),
                other => other?,
            };
            report.photo_bytes_sent += sent;
            on_sent(answer.received, report);
            if answer.stored {
                store.blob_uploaded(&blob.hash)?;
                return Ok(true);
            }
            if answer.received <= offset {
                return Err(Error::Protocol("the center did not take a photo chunk".into()));
            }
            offset = answer.received;
        }
    }

    /// The bytes of blob `hash`, which record `record_id` references: from this phone
    /// when it holds them, else downloaded from the center chunk by chunk (a cut
    /// download resumes where it stopped) and kept in the photo cache. Fetch the
    /// thumbnail for a list, the photo when it is opened.
    pub fn fetch_blob(&self, store: &mut Store, record_id: &str, hash: &str, cancel: &CancelFlag) -> Result<Vec<u8>> {
        if let Some(bytes) = store.blob(hash)? {
            return Ok(bytes);
        }
        let cancel = &cancel.expiring(self.http.config.deadline);
        let mut report = SyncReport::default();
        let max_bytes = self.http.config.blob_chunk_bytes.clamp(1 << 10, MAX_BLOB_CHUNK);
        loop {
            cancel.check()?;
            let offset = store.download_offset(hash)?;
            let request = BlobGetRequest { record_id: record_id.to_owned(), hash: hash.to_owned(), offset, max_bytes };
            let answer: BlobGetResponse = self.call(store, "/v1/blobs/get", &request, &mut report, cancel)?;
            if answer.bytes.is_empty() {
                return Err(Error::Protocol("the center sent an empty photo chunk".into()));
            }
            if let Some(bytes) = store.save_download(hash, offset, &answer.bytes, answer.total)? {
                return Ok(bytes);
            }
        }
    }

    /// Compares the (record id, heads) digest of the scope with the center's and
    /// repairs what differs: fetches the center's documents of differing records, sends
    /// again the local changes the center lacks, and compares once more.
    pub fn verify(
        &self,
        store: &mut Store,
        progress: &dyn ProgressListener,
        cancel: &CancelFlag,
    ) -> Result<VerifyReport> {
        let cancel = &cancel.expiring(self.http.config.deadline);
        let mut report = VerifyReport::default();
        let center: DigestResponse = self.call(store, "/v1/digest", &(), &mut report.sync, cancel)?;
        let prefixes = store.scope().map(|s| s.prefixes().to_vec()).unwrap_or_default();
        let local = store.digest(&prefixes)?;
        report.equal_before = local.total == center.total;
        if !report.equal_before {
            cancel.check()?;
            let buckets: Vec<u8> = (0..center.buckets.len().min(local.buckets.len()))
                .filter(|&b| center.buckets[b] != local.buckets[b])
                .map(|b| b as u8)
                .collect();
            let theirs: HeadsResponse =
                self.call(store, "/v1/heads", &HeadsRequest { buckets: buckets.clone() }, &mut report.sync, cancel)?;
            let ours = store.heads_in_buckets(&prefixes, &buckets)?;
            let ours: std::collections::HashMap<_, _> = ours.into_iter().map(|r| (r.record_id, r.heads)).collect();
            let to_fetch: Vec<String> = theirs
                .records
                .iter()
                .filter(|r| ours.get(&r.record_id) != Some(&r.heads))
                .map(|r| r.record_id.clone())
                .collect();
            for chunk in to_fetch.chunks(200) {
                cancel.check()?;
                let fetched: FetchResponse = self.call(
                    store,
                    "/v1/fetch",
                    &FetchRequest { record_ids: chunk.to_vec() },
                    &mut report.sync,
                    cancel,
                )?;
                report.fetched += fetched.snapshots.len() as u64;
                store.apply_snapshots(&fetched.snapshots)?;
            }
            // What the center lacks: records it does not have, or whose heads still
            // differ after the fetch.
            let center_heads: std::collections::HashMap<_, _> =
                theirs.records.into_iter().map(|r| (r.record_id, r.heads)).collect();
            let after = store.heads_in_buckets(&prefixes, &buckets)?;
            let resend: Vec<String> = after
                .into_iter()
                .filter(|r| center_heads.get(&r.record_id) != Some(&r.heads))
                .map(|r| r.record_id)
                .collect();
            report.resent = store.resend_local_changes(&resend)? as u64;
            let sync = self.sync(store, progress, cancel)?;
            report.sync.add(&sync);
        }
        progress.on_progress(&report.sync.progress(Phase::Verify, 1, 1));
        let center: DigestResponse = self.call(store, "/v1/digest", &(), &mut report.sync, cancel)?;
        report.equal_after = store.digest(&prefixes)?.total == center.total;
        Ok(report)
    }

    fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        store: &mut Store,
        path: &str,
        request: &Req,
        report: &mut SyncReport,
        cancel: &CancelFlag,
    ) -> Result<Resp> {
        let signer = Signer { key: &self.key, device: &self.device_id };
        match self.http.call(store, signer, path, request, report, cancel) {
            Err(Error::Revoked { wipe: true }) => {
                // Ordered by the center for a lost or stolen phone: push nothing more.
                store.wipe()?;
                Err(Error::Revoked { wipe: true })
            }
            other => other,
        }
    }
}

/// Signed requests with retries to one center.
struct Http {
    client: reqwest::blocking::Client,
    base: String,
    config: ClientConfig,
}

impl Http {
    fn new(center_url: &str, ca_certificate: Option<&str>, config: &ClientConfig) -> Result<Self> {
        Self::with_tls(center_url, tls_config(ca_certificate)?, config)
    }

    /// For fetching a CA certificate that is then checked against a pin, and for
    /// nothing else.
    fn trusting_any_certificate(center_url: &str, config: &ClientConfig) -> Result<Self> {
        Self::with_tls(center_url, pin_checked_later_tls_config()?, config)
    }

    fn with_tls(center_url: &str, tls: rustls::ClientConfig, config: &ClientConfig) -> Result<Self> {
        let url = reqwest::Url::parse(center_url)
            .map_err(|_| Error::Network { retryable: false, message: "the center address is not a URL".into() })?;
        match url.scheme() {
            "https" => {}
            "http" if config.allow_insecure_loopback && is_loopback(&url) => {}
            "http" => {
                return Err(Error::Network {
                    retryable: false,
                    message: "plain HTTP is allowed only to loopback, and only when enabled".into(),
                });
            }
            _ => return Err(Error::Network { retryable: false, message: "the center address must be https".into() }),
        }
        let client = reqwest::blocking::Client::builder()
            // A center never redirects: following one could carry a request elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|e| Error::Network { retryable: false, message: format!("HTTP client: {e}") })?;
        Ok(Self { client, base: center_url.trim_end_matches('/').to_owned(), config: config.clone() })
    }

    /// The township CA certificate the center serves, unverified: the caller checks it.
    fn ca_certificate(&self, cancel: &CancelFlag) -> Result<String> {
        let request = self.client.get(format!("{}/v1/ca-certificate", self.base));
        let (status, _, bytes) = exchange(request, MAX_CA_CERTIFICATE_BYTES, cancel)?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(Error::Protocol("the center holds no CA certificate, yet the enrolment link names one".into()));
        }
        if !status.is_success() {
            return Err(Error::Network {
                retryable: status.is_server_error(),
                message: format!("center answered {status}"),
            });
        }
        String::from_utf8(bytes).map_err(|_| Error::Protocol("the center's CA certificate is not PEM".into()))
    }

    /// Sends one signed request, retrying retryable failures with exponential backoff.
    /// Each attempt takes a fresh counter (and so a fresh signature).
    fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        store: &mut Store,
        signer: Signer<'_>,
        path: &str,
        request: &Req,
        report: &mut SyncReport,
        cancel: &CancelFlag,
    ) -> Result<Resp> {
        let body = wire::encode(request);
        let mut attempt = 0;
        loop {
            cancel.check()?;
            let counter = store.next_request_counter()?;
            match self.send(signer, path, &body, counter, report, cancel) {
                Err(Error::RateLimited { retry_after }) if attempt < self.config.retries => {
                    attempt += 1;
                    // The center said when: wait that long (within the backoff cap).
                    let delay = retry_after.min(self.config.backoff_max);
                    tracing::debug!(path, attempt, ?delay, "rate limited by the center; waiting");
                    cancel.wait(delay)?;
                }
                Err(Error::Network { retryable: true, message }) if attempt < self.config.retries => {
                    attempt += 1;
                    let delay =
                        self.config.backoff_base.saturating_mul(1 << attempt.min(16)).min(self.config.backoff_max);
                    tracing::debug!(path, attempt, ?delay, %message, "retrying");
                    cancel.wait(delay)?;
                }
                other => return other,
            }
        }
    }

    fn send<Resp: DeserializeOwned>(
        &self,
        signer: Signer<'_>,
        path: &str,
        body: &[u8],
        counter: u64,
        report: &mut SyncReport,
        cancel: &CancelFlag,
    ) -> Result<Resp> {
        let (key, device) = (signer.key, signer.device);
        let signature = key.sign("POST", path, device, counter, body);
        report.round_trips += 1;
        report.bytes_up += body.len() as u64;
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header(HEADER_DEVICE, device)
            .header(HEADER_COUNTER, counter.to_string())
            .header(HEADER_SIGNATURE, signature)
            .header(reqwest::header::CONTENT_TYPE, "application/x-gridsync")
            .body(body.to_vec());
        let (status, retry_after, bytes) = exchange(request, wire::MAX_ENVELOPE, cancel)?;
        report.bytes_down += bytes.len() as u64;
        // 422 is a push the center refused part of: its body is the ordinary answer,
        // listing what to quarantine (nothing of the batch was stored).
        if status.is_success() || status == reqwest::StatusCode::UNPROCESSABLE_ENTITY {
            return wire::decode(&bytes).map_err(|e| Error::Protocol(e.to_string()));
        }
        let error: Option<ErrorBody> = wire::decode(&bytes).ok();
        Err(match (status.as_u16(), error) {
            (_, Some(ErrorBody { code: ErrorCode::Wipe, .. })) => Error::Revoked { wipe: true },
            (_, Some(ErrorBody { code: ErrorCode::Revoked, .. })) => Error::Revoked { wipe: false },
            (
                _,
                Some(ErrorBody {
                    code: code @ (ErrorCode::BadSignature | ErrorCode::Replay | ErrorCode::EnrolmentRefused),
                    message,
                }),
            ) => Error::Unauthorized(format!("{code:?}: {message}")),
            (_, Some(ErrorBody { code: ErrorCode::Internal, message })) => Error::Network { retryable: true, message },
            (429, _) => Error::RateLimited { retry_after: retry_after.unwrap_or(self.config.backoff_base) },
            (_, Some(ErrorBody { code: ErrorCode::NotHeld, .. })) => {
                Error::NotFound { kind: "attachment", id: String::new() }
            }
            (_, Some(ErrorBody { code: ErrorCode::OutOfScope, .. })) => {
                Error::OutOfScope { field: "area", area: String::new() }
            }
            (_, Some(ErrorBody { message, .. })) => Error::Protocol(message),
            (500..=599 | 408, None) => Error::Network { retryable: true, message: format!("center answered {status}") },
            (_, None) => Error::Protocol(format!("center answered {status}")),
        })
    }
}

/// Sends `request` and reads its answer (status, `Retry-After`, at most `max_bytes` of
/// body) on a thread of its own, so that the caller can give up the moment `cancel` is
/// set, whatever the request's timeouts: an app's background job has seconds to stop, a
/// request on 2G may take a minute. A request given up finishes or times out on its
/// thread, unseen; what it did at the center is answered again on the next sync
/// (batches are idempotent).
fn exchange(
    request: reqwest::blocking::RequestBuilder,
    max_bytes: usize,
    cancel: &CancelFlag,
) -> Result<(reqwest::StatusCode, Option<Duration>, Vec<u8>)> {
    let (answer, answered) = std::sync::mpsc::sync_channel(1);
    std::thread::spawn(move || {
        let _ = answer.send(receive(request, max_bytes));
    });
    loop {
        match answered.recv_timeout(CANCEL_POLL) {
            Ok(result) => return result,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => cancel.check()?,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Error::Network { retryable: true, message: "the request's thread stopped".into() });
            }
        }
    }
}

/// [`exchange`]'s request, on its thread. A body over `max_bytes` is refused before more
/// of it is read: whoever answers could stream for the whole timeout.
fn receive(
    request: reqwest::blocking::RequestBuilder,
    max_bytes: usize,
) -> Result<(reqwest::StatusCode, Option<Duration>, Vec<u8>)> {
    use std::io::Read;
    let mut response = request.send().map_err(|e| Error::Network { retryable: true, message: transport_error(&e) })?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let too_large = || Error::Protocol(format!("the center's answer is over {max_bytes} bytes"));
    if response.content_length().is_some_and(|length| length > max_bytes as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    (&mut response).take(max_bytes as u64 + 1).read_to_end(&mut body).map_err(|e| {
        let message =
            if e.kind() == std::io::ErrorKind::TimedOut { "timed out" } else { "connection dropped mid-body" };
        Error::Network { retryable: true, message: message.into() }
    })?;
    if body.len() > max_bytes {
        return Err(too_large());
    }
    Ok((status, retry_after, body))
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// A transport error without URLs (they carry no personal data, but keep logs short).
fn transport_error(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_body() || err.is_decode() {
        "connection dropped mid-body"
    } else {
        "transport failed"
    };
    kind.to_owned()
}

/// rustls on ring, trusting only the center's CA (pinned at enrolment). Before
/// enrolment, with no CA yet, no certificate is trusted: enrol over TLS needs the CA
/// handed over out of band (`ClientConfig` of the app), loopback needs none.
fn tls_config(ca_certificate: Option<&str>) -> Result<rustls::ClientConfig> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    if let Some(pem) = ca_certificate {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|_| Error::Protocol("the center's CA certificate is not PEM".into()))?;
            roots.add(cert).map_err(|_| Error::Protocol("the center's CA certificate is invalid".into()))?;
        }
        if roots.is_empty() {
            return Err(Error::Protocol("the center's CA certificate holds no certificate".into()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| Error::Protocol("TLS set-up failed".into()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Whether `pem` holds the one certificate `link` pins, and nothing else: every
/// certificate of it becomes a trust root, so one more would trust whoever added it.
fn holds_only(pem: &str, link: &EnrolmentLink) -> bool {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let certificates: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
    matches!(certificates.as_slice(), [Ok(only)] if link.pins(only))
}

/// TLS that accepts any server certificate (the handshake's signatures still checked):
/// only for the one fetch whose answer is trusted by its hash, not by the connection.
fn pin_checked_later_tls_config() -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|_| Error::Protocol("TLS set-up failed".into()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth())
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_over_its_limit_is_refused_without_reading_it_all() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        // One answer declares a gigabyte; the next sends 32 KiB with no length. Both then
        // hold the connection open for 10 s: a client that reads to the end waits that long.
        let server = std::thread::spawn(move || {
            for (head, body) in [("Content-Length: 1000000000\r\n", 0), ("Connection: close\r\n", 32 << 10)] {
                let (mut socket, _) = listener.accept().unwrap();
                let _ = socket.read(&mut [0u8; 4096]);
                let _ = socket.write_all(format!("HTTP/1.1 200 OK\r\n{head}\r\n").as_bytes());
                let _ = socket.write_all(&vec![b'A'; body]);
                socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let _ = socket.read(&mut [0u8; 16]); // until the client lets go
            }
        });
        let config = ClientConfig { allow_insecure_loopback: true, ..ClientConfig::default() };
        let http = Http::trusting_any_certificate(&format!("http://{address}"), &config).unwrap();
        for _ in 0..2 {
            let started = std::time::Instant::now();
            let err = http.ca_certificate(&CancelFlag::default()).unwrap_err();
            assert!(matches!(&err, Error::Protocol(m) if m.contains("over 16384 bytes")), "{err}");
            assert!(started.elapsed() < Duration::from_secs(3), "read on after the limit: {:?}", started.elapsed());
        }
        server.join().unwrap();
    }

    #[test]
    fn a_deadline_cancels_a_wait_when_it_passes() {
        let flag = CancelFlag::default();
        let started = std::time::Instant::now();
        let expiring = flag.expiring(Some(Duration::from_millis(150)));
        assert!(matches!(expiring.wait(Duration::from_secs(30)), Err(Error::Cancelled)));
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(150) && waited < Duration::from_secs(2), "{waited:?}");
        assert!(!flag.is_cancelled(), "the deadline is the call's, not the app's flag");
        assert!(flag.expiring(None).wait(Duration::from_millis(10)).is_ok());
        let later = expiring.expiring(Some(Duration::from_secs(60)));
        assert!(later.is_cancelled(), "an earlier deadline stays");
        flag.cancel();
        assert!(flag.expiring(None).is_cancelled() && expiring.is_cancelled(), "one flag for all");
    }

    #[test]
    fn plain_http_is_only_for_loopback_and_only_when_allowed() {
        let allowed = ClientConfig { allow_insecure_loopback: true, ..ClientConfig::default() };
        for url in ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9"] {
            assert!(Http::new(url, None, &allowed).is_ok(), "{url}");
            assert!(Http::new(url, None, &ClientConfig::default()).is_err(), "{url}");
        }
        for url in ["http://10.0.0.1:8080", "http://center.example:80", "ftp://127.0.0.1", "not a url"] {
            assert!(matches!(Http::new(url, None, &allowed), Err(Error::Network { retryable: false, .. })), "{url}");
        }
        assert!(Http::new("https://center.example", None, &ClientConfig::default()).is_ok());
        assert!(matches!(
            Http::new("https://center.example", Some("not pem"), &ClientConfig::default()),
            Err(Error::Protocol(_))
        ));
    }
}
