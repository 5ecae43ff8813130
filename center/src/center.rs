//! The center's rules over its storage: authentication, enrolment, scope, idempotent
//! batches, revocation and the administration of workers and devices. Nothing here
//! holds a lock across requests: every request runs in its own storage transaction, so
//! pushes and pulls from many phones (and several center processes on one PostgreSQL)
//! run side by side.

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use gridsync_core::ids::TownshipKey;
use gridsync_core::sync::sign;
use gridsync_core::sync::wire::{
    Cursor, DigestResponse, EnrolRequest, EnrolResponse, ErrorCode, FetchResponse, HeadsResponse, PullRequest,
    PullResponse, PushRequest, PushResponse,
};
use gridsync_core::{Kind, Policy, Role, Scope};
use ring::rand::{SecureRandom, SystemRandom};

use crate::blobs::{BlobStore, FsBlobStore, NoPhotoFolder};
use crate::pull::{self, PageLimits};
use crate::push::{self, PushError, Pusher};
use crate::storage::{self, AuditRow, LogAudit, NewDevice, Storage, StorageError, StoredRecord, Tx};
use crate::workers::{self, Employment, Worker};

pub use crate::storage::DeviceRow;
pub use crate::storage::sqlite::key_path;

/// A refusal: an error code for the phone and a message without personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
    /// The database is away: answered `503` with `Retry-After` and the code `internal`,
    /// which every client already retries (docs/protocol.md, "Errors").
    pub unavailable: bool,
}

impl Refusal {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), unavailable: false }
    }
}

impl From<StorageError> for Refusal {
    fn from(err: StorageError) -> Self {
        tracing::error!(error = %err, "center storage failed");
        match err {
            StorageError::Unavailable(_) => Refusal {
                unavailable: true,
                ..Refusal::new(ErrorCode::Internal, "the center's database is unavailable; try again later")
            },
            StorageError::Failed(_) => Refusal::new(ErrorCode::Internal, "the center failed; try again later"),
        }
    }
}

/// An authenticated device making a request.
#[derive(Debug, Clone)]
pub struct Device {
    pub id: String,
    pub worker_id: String,
    pub actor: String,
    pub scope: Scope,
    /// The worker's role (网格员, 网格长): which steps their pushes may take.
    pub role: Role,
}

const META_TOWNSHIP_KEY: &str = "township_key";
/// The key of a township moved in from its own embedded center (`admin migrate`):
/// `township_key:<9-digit township code>`. Its persons' ids were derived with it.
pub(crate) const META_TOWNSHIP_KEY_OF: &str = "township_key:";
const META_CA: &str = "ca_certificate";
/// Names the folder of photo blobs when the database says none (PostgreSQL).
pub const BLOB_DIR_VARIABLE: &str = "GRIDSYNC_BLOB_DIR";
/// Enrolment codes avoid look-alike characters (0/O, 1/I/L).
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

pub struct Center {
    storage: Box<dyn Storage>,
    /// Photo blobs (`crate::photos`).
    pub(crate) blobs: Box<dyn BlobStore>,
    /// How long signed requests take, from their last byte to their answer.
    pub requests: crate::latency::Latency,
    /// The township secret for person ids, created with the database and never changed.
    township_key: Vec<u8>,
    pending_refusals: Mutex<PendingRefusals>,
}

/// Refusals counted since the last write to the storage.
#[derive(Debug, Default)]
struct PendingRefusals {
    counts: std::collections::BTreeMap<String, i64>,
}

impl Drop for Center {
    fn drop(&mut self) {
        // A center dropped on an async worker thread cannot block on the database.
        if tokio::runtime::Handle::try_current().is_err() {
            self.flush_refusals();
        }
    }
}

impl std::fmt::Debug for Center {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Center").field("storage", &self.storage).finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    gridsync_core::store::system_clock()
}

/// Runs `f` in a write transaction and commits what it returns `Ok` for.
fn in_write<T, E: From<StorageError>>(
    storage: &dyn Storage,
    f: impl FnOnce(&mut dyn Tx) -> Result<T, E>,
) -> Result<T, E> {
    let mut tx = storage.write()?;
    let value = f(&mut *tx)?;
    tx.commit()?;
    Ok(value)
}

impl Center {
    /// Runs `f` in a write transaction of the center's storage, committed when it
    /// returns `Ok` (for the console's modules).
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T, StorageError>) -> Result<T, StorageError> {
        in_write(self.storage(), f)
    }

    /// Runs `f` in a read transaction of the center's storage.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T, StorageError>) -> Result<T, StorageError> {
        in_read(self.storage(), f)
    }
}

/// Runs `f` in a read transaction.
fn in_read<T, E: From<StorageError>>(
    storage: &dyn Storage,
    f: impl FnOnce(&mut dyn Tx) -> Result<T, E>,
) -> Result<T, E> {
    f(&mut *storage.read()?)
}

impl Center {
    /// Opens the center database `db` names (a file path or a `postgres://` URL).
    pub fn open_url(db: &str) -> Result<Self, String> {
        Self::new(storage::open(db)?)
    }

    /// Opens (creating) the embedded center database at `db` with its key file.
    pub fn open(db: &Path) -> Result<Self, String> {
        Self::new(Box::new(storage::sqlite::SqliteStorage::open(db)?))
    }

    /// The center over `storage`, creating the township key on first use.
    pub fn new(storage: Box<dyn Storage>) -> Result<Self, String> {
        let township_key = in_write(&*storage, |tx| {
            if let Some(key) = tx.meta(META_TOWNSHIP_KEY)? {
                return Ok(key);
            }
            let mut secret = [0u8; 32];
            SystemRandom::new().fill(&mut secret).map_err(|_| StorageError::Failed("no system randomness".into()))?;
            tx.set_meta(META_TOWNSHIP_KEY, &secret)?;
            Ok::<_, StorageError>(secret.to_vec())
        })
        .map_err(|e| format!("cannot open the center: {e}"))?;
        let blobs: Box<dyn BlobStore> =
            match std::env::var_os(BLOB_DIR_VARIABLE).map(std::path::PathBuf::from).or_else(|| storage.blob_dir()) {
                Some(dir) => Box::new(
                    FsBlobStore::open(&dir)
                        .map_err(|e| format!("cannot open the photo folder {}: {e}", dir.display()))?,
                ),
                None => Box::new(NoPhotoFolder),
            };
        Ok(Self { storage, blobs, requests: Default::default(), township_key, pending_refusals: Mutex::default() })
    }

    /// The center keeping its photo blobs in `blobs` instead (`--blobs`, tests).
    pub fn with_blobs(mut self, blobs: Box<dyn BlobStore>) -> Self {
        self.blobs = blobs;
        self
    }

    pub fn storage(&self) -> &dyn Storage {
        &*self.storage
    }

    /// The township secret for person ids (HMAC key), handed to phones at enrolment:
    /// the center's own key (a township that started here).
    pub fn township_key(&self) -> Vec<u8> {
        self.township_key.clone()
    }

    /// The key of the township a worker with `scope` works in: the key it brought when
    /// it moved in (`admin migrate`), else the center's own.
    /// The township key that ids of records under `scope` derive from.
    pub(crate) fn township_key_for(&self, tx: &mut dyn Tx, scope: &[String]) -> Result<TownshipKey, StorageError> {
        Ok(TownshipKey::new(&self.key_for(tx, scope)?))
    }

    fn key_for(&self, tx: &mut dyn Tx, scope: &[String]) -> Result<Vec<u8>, StorageError> {
        let township = scope.first().filter(|p| p.len() >= 9).map(|p| &p[..9]);
        match township {
            Some(code) => Ok(tx.meta(&format!("{META_TOWNSHIP_KEY_OF}{code}"))?.unwrap_or_else(|| self.township_key())),
            None => Ok(self.township_key()),
        }
    }

    /// The CA certificate phones pin, when the center serves TLS.
    /// The township CA's certificate (PEM) phones pin, when the center serves TLS.
    pub fn ca_certificate(&self) -> Result<Option<String>, StorageError> {
        Ok(in_read(self.storage(), |tx| tx.meta(META_CA))?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    pub fn set_ca_certificate(&self, pem: &str) -> Result<(), StorageError> {
        in_write(self.storage(), |tx| tx.set_meta(META_CA, pem.as_bytes()))
    }

    // ---- administration ---------------------------------------------------------

    pub fn import_area(&self, code: &str, name: &str) -> Result<(), String> {
        gridsync_core::AreaCode::parse("code", code).map_err(|e| e.to_string())?;
        in_write(self.storage(), |tx| tx.put_area(code, name)).map_err(|e| e.to_string())
    }

    /// The name of the area `code` lies in, from the register: its own, or its nearest
    /// registered village's or grid's. `None` when the register does not know it.
    pub fn area_name(&self, code: &str) -> Option<String> {
        in_read(self.storage(), |tx| {
            for len in [17, 15, 12].into_iter().filter(|len| *len <= code.len()) {
                if let Some(name) = tx.area_name(&code[..len])? {
                    return Ok(Some(name));
                }
            }
            Ok::<_, StorageError>(None)
        })
        .ok()
        .flatten()
    }

    /// Adds a 专职网格员 (or replaces a worker with one) covering the given area-code
    /// prefixes.
    pub fn set_worker(&self, id: &str, name: &str, prefixes: &[String]) -> Result<(), String> {
        let scope = Scope::new(prefixes.iter().cloned()).map_err(|e| e.to_string())?;
        self.put_worker(&Worker {
            id: id.to_owned(),
            name: name.to_owned(),
            role: Role::GridWorker,
            employment: Employment::FullTime,
            scope,
        })
    }

    /// Adds a worker, or replaces their name, role, employment and scope. A new role
    /// holds for their next push; their phone offers its steps from its next enrolment.
    pub fn put_worker(&self, worker: &Worker) -> Result<(), String> {
        if worker.id.is_empty() || worker.id.len() > 64 || worker.id.chars().any(char::is_control) {
            return Err("worker id must be 1 to 64 characters, without control characters".into());
        }
        if !Role::WORKERS.contains(&worker.role) {
            return Err("a worker's role is grid_worker or grid_chief".into());
        }
        in_write(self.storage(), |tx| tx.put_worker(&worker.row(), now_ms())).map_err(|e| e.to_string())
    }

    /// Every registered worker.
    pub fn workers(&self) -> Result<Vec<storage::WorkerRow>, StorageError> {
        in_read(self.storage(), |tx| tx.workers())
    }

    /// Sets the township's policy for its grid workers.
    pub fn set_policy(&self, policy: Policy) -> Result<(), String> {
        in_write(self.storage(), |tx| workers::set_policy(tx, policy)).map_err(|e| e.to_string())
    }

    /// Issues a one-time enrolment code for `worker`, valid for `valid_ms`.
    pub fn issue_enrolment_code(&self, worker: &str, valid_ms: i64) -> Result<String, String> {
        let mut random = [0u8; 12];
        SystemRandom::new().fill(&mut random).map_err(|_| "no system randomness")?;
        let chars: String = random.iter().map(|b| CODE_ALPHABET[*b as usize % CODE_ALPHABET.len()] as char).collect();
        let code = format!("{}-{}-{}", &chars[..4], &chars[4..8], &chars[8..]);
        in_write(self.storage(), |tx| {
            if tx.worker(worker)?.is_none() {
                return Ok(Err(format!("no worker {worker}")));
            }
            tx.put_enrol_code(&code_hash(&code), worker, now_ms() + valid_ms)?;
            Ok::<_, StorageError>(Ok(()))
        })
        .map_err(|e| e.to_string())??;
        Ok(code)
    }

    pub fn devices(&self) -> Result<Vec<DeviceRow>, StorageError> {
        in_read(self.storage(), |tx| tx.devices())
    }

    /// What `device` wrote today (China date): new records and changes, against its
    /// daily budget (`push::MAX_NEW_RECORDS_PER_DAY`, `push::MAX_CHANGES_PER_DAY`).
    pub fn device_writes_today(&self, device: &str) -> Result<(i64, i64), StorageError> {
        in_read(self.storage(), |tx| tx.device_writes(device, gridsync_core::time::china_day(now_ms())))
    }

    /// Revokes a device; with `wipe`, its next request orders it to erase its data.
    /// Revokes a device (with `wipe`, its next request orders it to erase its data), and
    /// audits who did it (a staff member, or `admin-cli`), in one transaction: the one
    /// revoke path of the console and the command line. `false`: no such device.
    pub fn revoke(&self, device: &str, wipe: bool, by: &str) -> Result<bool, StorageError> {
        let at = now_ms();
        in_write(self.storage(), |tx| {
            let known = tx.revoke(device, wipe, at)?;
            if known {
                tx.add_audit(&AuditRow {
                    at,
                    staff_id: by.to_owned(),
                    action: if wipe { "device.revoke_wipe" } else { "device.revoke" }.to_owned(),
                    target: device.to_owned(),
                    detail: String::new(),
                })?;
            }
            Ok(known)
        })
    }

    /// The highest global sequence given to a change.
    pub fn max_seq(&self) -> Result<u64, StorageError> {
        in_read(self.storage(), |tx| tx.max_seq())
    }

    /// Counts of the change log (rows and distinct changes), for the reliability suites.
    pub fn log_audit(&self) -> Result<LogAudit, StorageError> {
        in_read(self.storage(), |tx| tx.log_audit())
    }

    /// Record `id`'s document as the center holds it.
    pub fn record_doc(&self, id: &str) -> Result<Option<gridsync_core::doc::RecordDoc>, String> {
        let stored = in_read(self.storage(), |tx| tx.record(id)).map_err(|e| e.to_string())?;
        stored.map(|record| push::load(&record).map_err(|e| format!("record {id}: {e}"))).transpose()
    }

    /// Every change after sequence `after`, in sequence order, at most `limit`.
    pub fn changes_after(&self, after: u64, limit: u32) -> Result<Vec<storage::LoggedChange>, StorageError> {
        in_read(self.storage(), |tx| tx.changes_after(&[String::new()], "", after, limit))
    }

    /// Calls `each` with every record of `kind` under `prefix`, a page at a time (memory
    /// stays bounded whatever the number of records).
    pub fn for_each_record(
        &self,
        kind: Kind,
        prefix: &str,
        mut each: impl FnMut(&str, &StoredRecord) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut after = String::new();
        loop {
            let page = in_read(self.storage(), |tx| {
                let ids = tx.record_ids_of_kind(kind, prefix, &after, 200)?;
                let mut page = Vec::with_capacity(ids.len());
                for id in ids {
                    if let Some(record) = tx.record(&id)? {
                        page.push((id, record));
                    }
                }
                Ok::<_, StorageError>(page)
            })
            .map_err(|e| e.to_string())?;
            let Some((last, _)) = page.last() else { return Ok(()) };
            after.clone_from(last);
            for (id, record) in &page {
                each(id, record)?;
            }
        }
    }

    /// Counts a refusal by reason, for `admin stats` and /metrics. Counted in memory
    /// only (a flood of refused requests costs no database write each, and an async
    /// handler never waits on the database); [`Center::flush_refusals`] writes them, once
    /// a second while serving.
    pub fn count_refusal(&self, reason: &str) {
        let mut pending = self.pending_refusals.lock().unwrap_or_else(PoisonError::into_inner);
        *pending.counts.entry(reason.to_owned()).or_default() += 1;
    }

    /// Writes the refusals counted since the last flush. Blocks on the database: call it
    /// off the async runtime's threads.
    pub fn flush_refusals(&self) {
        let counts: Vec<(String, i64)> = {
            let mut pending = self.pending_refusals.lock().unwrap_or_else(PoisonError::into_inner);
            std::mem::take(&mut pending.counts).into_iter().collect()
        };
        if counts.is_empty() {
            return;
        }
        if let Err(err) = in_write(self.storage(), |tx| tx.add_refusals(&counts)) {
            tracing::warn!(%err, "could not count refusals");
            // Kept for the next flush: a database that was away loses no count.
            let mut pending = self.pending_refusals.lock().unwrap_or_else(PoisonError::into_inner);
            for (reason, count) in counts {
                *pending.counts.entry(reason).or_default() += count;
            }
        }
    }

    pub fn refusals(&self) -> Result<Vec<(String, i64)>, StorageError> {
        self.flush_refusals();
        in_read(self.storage(), |tx| tx.refusals())
    }

    // ---- requests -----------------------------------------------------------------

    /// Checks a signed request: known device, valid signature, fresh counter, not
    /// revoked. The counter is stored before the request is served, so a replay fails;
    /// of two requests racing with one counter, exactly one is served.
    pub fn authenticate(
        &self,
        device: &str,
        counter: u64,
        signature: &str,
        path: &str,
        body: &[u8],
    ) -> Result<Device, Refusal> {
        in_write(self.storage(), |tx| {
            let Some(auth) = tx.device(device)? else {
                return Err(Refusal::new(ErrorCode::BadSignature, "unknown device"));
            };
            if !sign::verify(&auth.public_key, signature, "POST", path, device, counter, body) {
                return Err(Refusal::new(ErrorCode::BadSignature, "the signature does not match the request"));
            }
            if auth.revoked {
                return Err(if auth.wipe {
                    Refusal::new(ErrorCode::Wipe, "this device was revoked and must erase its data")
                } else {
                    Refusal::new(ErrorCode::Revoked, "this device was revoked")
                });
            }
            if counter > i64::MAX as u64 || !tx.advance_counter(device, counter, now_ms())? {
                return Err(Refusal::new(ErrorCode::Replay, "the request counter was used before"));
            }
            // A worker this version cannot read sees nothing and takes no step.
            let worker = tx.worker(&auth.worker_id)?.and_then(Worker::from_row);
            let (scope, role) = worker.map_or((Scope::default(), Role::Admin), |w| (w.scope, w.role));
            Ok(Device { id: device.to_owned(), scope, worker_id: auth.worker_id, actor: auth.actor, role })
        })
    }

    /// Enrols a device with a one-time code. The request must be signed with the key it
    /// presents.
    pub fn enrol(
        &self,
        request: &EnrolRequest,
        counter: u64,
        signature: &str,
        body: &[u8],
    ) -> Result<EnrolResponse, Refusal> {
        if request.public_key.len() != 32
            || !sign::verify(&request.public_key, signature, "POST", "/v1/enrol", sign::ENROLLING_DEVICE, counter, body)
        {
            return Err(Refusal::new(ErrorCode::BadSignature, "the enrolment must be signed with the presented key"));
        }
        if request.actor.len() != 32 || hex::decode(&request.actor).is_err() {
            return Err(Refusal::new(ErrorCode::BadRequest, "actor must be 16 bytes in hex"));
        }
        if request.device_name.chars().count() > 100 || request.app_version.chars().count() > 40 {
            return Err(Refusal::new(ErrorCode::BadRequest, "device name or app version too long"));
        }
        // What a phone names itself reaches terminals (`admin devices`), logs and the
        // console: nothing that could forge a row (newlines, ANSI escapes, U+2028) or
        // turn the text around (U+202E).
        let reshapes = |text: &String| text.chars().any(gridsync_core::validate::reshapes_display);
        if [&request.device_name, &request.app_version].into_iter().any(reshapes) {
            return Err(Refusal::new(ErrorCode::BadRequest, "device name or app version holds control characters"));
        }
        if counter > i64::MAX as u64 {
            return Err(Refusal::new(ErrorCode::BadRequest, "the request counter is out of range"));
        }
        let hash = code_hash(&request.code);
        let (worker_id, device_id, scope, ca, township_key, duties) = in_write(self.storage(), |tx| {
            let code = tx.enrol_code(&hash)?;
            // An actor belongs to one device: a second device claiming it could write in
            // the first one's name and break its change sequence.
            if tx.actor_key(&request.actor)?.is_some_and(|key| key != request.public_key) {
                return Err(Refusal::new(ErrorCode::EnrolmentRefused, "this actor belongs to another device"));
            }
            let now = now_ms();
            let (worker, device_id) = match code {
                Some(code) if code.expires_at <= now => {
                    return Err(Refusal::new(ErrorCode::EnrolmentRefused, "the code has expired"));
                }
                None => return Err(Refusal::new(ErrorCode::EnrolmentRefused, "unknown enrolment code")),
                Some(code) if code.used_at.is_none() => {
                    let device_id = uuid::Uuid::now_v7().to_string();
                    tx.insert_device(&NewDevice {
                        id: &device_id,
                        worker_id: &code.worker_id,
                        public_key: &request.public_key,
                        actor: &request.actor,
                        name: &request.device_name,
                        app_version: &request.app_version,
                        enrolled_at: now,
                        counter,
                    })?;
                    tx.use_enrol_code(&hash, &device_id, now)?;
                    (code.worker_id, device_id)
                }
                // The answer to this very phone's enrolment was lost on the way (a
                // dropped connection on 2G): the same key and actor asking again, with a
                // fresh counter, get the same answer. Anyone else is refused. The code's
                // expiry holds on this path too: an old code re-enrols nobody.
                Some(code) => {
                    let device_id = code.device_id.unwrap_or_default();
                    let same = tx
                        .device(&device_id)?
                        .filter(|d| d.public_key == request.public_key && d.actor == request.actor && !d.revoked);
                    if same.is_none() {
                        return Err(Refusal::new(ErrorCode::EnrolmentRefused, "the code was used before"));
                    }
                    if !tx.advance_counter(&device_id, counter, now)? {
                        return Err(Refusal::new(ErrorCode::Replay, "the enrolment request was used before"));
                    }
                    (code.worker_id, device_id)
                }
            };
            let Some(registered) = tx.worker(&worker)?.and_then(Worker::from_row) else {
                return Err(Refusal::new(ErrorCode::EnrolmentRefused, "the code's worker is no longer registered"));
            };
            let scope = registered.scope.prefixes().to_vec();
            let duties = workers::duties(tx, registered.role)?;
            let ca = tx.meta(META_CA)?.map(|b| String::from_utf8_lossy(&b).into_owned());
            let key = self.key_for(tx, &scope)?;
            Ok((worker, device_id, scope, ca, key, duties))
        })?;
        tracing::info!(device = %device_id, worker = %worker_id, "device enrolled");
        Ok(EnrolResponse { device_id, worker_id, scope, township_key, ca_certificate: ca, duties: Some(duties) })
    }

    /// Applies a pushed batch (or answers a repeated one from its record). Returns the
    /// answer and whether anything was refused (then nothing was stored).
    pub fn push(&self, device: &Device, request: &PushRequest) -> Result<(PushResponse, bool), Refusal> {
        if request.batch_id.is_empty() || request.batch_id.len() > 64 {
            return Err(Refusal::new(ErrorCode::BadRequest, "batch_id must be 1 to 64 characters"));
        }
        // Bounds read from the bytes, before the write lock: refused without waiting.
        if let Err(breach) = push::check_batch(&request.changes) {
            return Err(batch_refusal(breach));
        }
        let mut tx = self.storage.write()?;
        let township_key = self.township_key_for(&mut *tx, device.scope.prefixes())?;
        let pusher = Pusher {
            device: &device.id,
            actor: &device.actor,
            worker: &device.worker_id,
            scope: &device.scope,
            duties: workers::duties(&mut *tx, device.role)?,
            township_key: &township_key,
        };
        // One device's batches one at a time: a batch repeated on two connections at
        // once waits here and then finds the first one's answer.
        tx.lock_device(&device.id)?;
        if let Some(bytes) = tx.batch_answer(&device.id, &request.batch_id)? {
            let response: PushResponse = gridsync_core::sync::wire::decode(&bytes)
                .map_err(|_| Refusal::new(ErrorCode::Internal, "stored batch answer unreadable"))?;
            let refused = !response.rejected.is_empty();
            return Ok((response, refused));
        }
        let outcome = match push::accept(&mut *tx, &pusher, &request.changes, now_ms()) {
            Ok(outcome) => outcome,
            Err(PushError::Storage(err)) => return Err(err.into()),
            Err(PushError::Budget(message)) => {
                self.count_refusal("write_budget");
                return Err(Refusal::new(ErrorCode::RateLimited, message));
            }
            Err(PushError::Batch(breach)) => return Err(batch_refusal(breach)),
        };
        for rejected in &outcome.rejected {
            self.count_refusal(&format!(
                "change_{}",
                serde_json::to_value(rejected.code)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ));
        }
        let refused = !outcome.rejected.is_empty();
        let response =
            PushResponse { batch_id: request.batch_id.clone(), accepted: outcome.accepted, rejected: outcome.rejected };
        if refused {
            // Nothing of a refused batch is stored: the transaction rolls back.
            return Ok((response, true));
        }
        tx.save_batch(&device.id, &request.batch_id, &gridsync_core::sync::wire::encode(&response), now_ms())?;
        fail::fail_point!("center.apply.before_commit");
        tx.commit()?;
        fail::fail_point!("center.apply.after_commit");
        fail::fail_point!("center.push.before_answer");
        Ok((response, false))
    }

    pub fn pull(&self, device: &Device, request: &PullRequest) -> Result<PullResponse, Refusal> {
        if let Cursor::Bootstrap { prefixes: Some(prefixes), .. } = &request.cursor
            && (prefixes.len() > 100 || prefixes.iter().any(|p| p.len() > 17 || !p.bytes().all(|b| b.is_ascii_digit())))
        {
            return Err(Refusal::new(ErrorCode::BadRequest, "cursor prefixes must be area-code digits"));
        }
        if let Cursor::Changes { after } = request.cursor
            && after > i64::MAX as u64
        {
            return Err(Refusal::new(ErrorCode::BadRequest, "the cursor is out of range"));
        }
        let limits = PageLimits { max_items: request.max_items, max_bytes: request.max_bytes };
        // Only a scope narrowed during a bootstrap makes an honest phone ask this; it then
        // starts its bootstrap again over its scope.
        if let Cursor::Bootstrap { prefixes: Some(prefixes), .. } = &request.cursor
            && let Some(outside) = prefixes.iter().find(|p| !device.scope.covers(p))
        {
            return Err(Refusal::new(ErrorCode::OutOfScope, format!("area {outside} is outside the device's scope")));
        }
        in_read(self.storage(), |tx| Ok(pull::serve_pull(tx, &device.id, &device.scope, &request.cursor, limits)?))
    }

    pub fn digest(&self, device: &Device) -> Result<DigestResponse, Refusal> {
        Ok(self.digest_of(device.scope.prefixes())?)
    }

    /// The digest of (record id, heads) under `prefixes` (`[""]`: every record).
    pub fn digest_of(&self, prefixes: &[String]) -> Result<DigestResponse, StorageError> {
        in_read(self.storage(), |tx| pull::digest(tx, prefixes))
    }

    pub fn heads(&self, device: &Device, buckets: &[u8]) -> Result<HeadsResponse, Refusal> {
        // Each record is tested against the list: a list of every bucket once at most.
        let buckets_max = usize::from(gridsync_core::store::DIGEST_BUCKETS);
        if buckets.len() > buckets_max || buckets.iter().any(|b| usize::from(*b) >= buckets_max) {
            return Err(Refusal::new(
                ErrorCode::BadRequest,
                format!("buckets: at most {buckets_max} buckets, each below {buckets_max}"),
            ));
        }
        in_read(self.storage(), |tx| {
            Ok(HeadsResponse { records: pull::heads_in_buckets(tx, device.scope.prefixes(), buckets)? })
        })
    }

    pub fn fetch(&self, device: &Device, ids: &[String]) -> Result<FetchResponse, Refusal> {
        in_read(self.storage(), |tx| match pull::fetch(tx, &device.scope, ids)? {
            Some(snapshots) => Ok(FetchResponse { snapshots }),
            None => Err(Refusal::new(
                ErrorCode::TooLarge,
                format!("a fetch names at most {} records", pull::MAX_FETCH_RECORDS),
            )),
        })
    }
}

/// A batch refused whole: `413` over a bound, `400` for bytes that are no change.
fn batch_refusal(breach: gridsync_core::rules::Breach) -> Refusal {
    let code = match breach.code {
        gridsync_core::sync::wire::RejectCode::TooLarge => ErrorCode::TooLarge,
        _ => ErrorCode::BadRequest,
    };
    Refusal::new(code, breach.reason)
}

fn code_hash(code: &str) -> Vec<u8> {
    let normalized: String =
        code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect();
    ring::digest::digest(&ring::digest::SHA256, normalized.as_bytes()).as_ref().to_vec()
}
