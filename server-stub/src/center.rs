//! The center's state: the gridsync-core store holding every record, and the center's
//! own tables (workers, scopes, enrolment codes, devices, batches, refusals) in the same
//! encrypted file. One `Center` is the single writer; the HTTP layer serialises access.

use std::path::{Path, PathBuf};

use gridsync_core::store::{PageLimits, Pusher};
use gridsync_core::sync::sign;
use gridsync_core::sync::wire::{
    Cursor, DigestResponse, EnrolRequest, EnrolResponse, ErrorCode, FetchResponse, HeadsResponse, PullRequest,
    PullResponse, PushRequest, PushResponse,
};
use gridsync_core::{DbKey, Scope, Store};
use ring::rand::{SecureRandom, SystemRandom};
use rusqlite::{Connection, OptionalExtension, params};

/// A refusal: an error code for the phone and a message without personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl From<gridsync_core::Error> for Refusal {
    fn from(err: gridsync_core::Error) -> Self {
        match err {
            gridsync_core::Error::Protocol(message) => Refusal::new(ErrorCode::BadRequest, message),
            gridsync_core::Error::Invalid(v) => Refusal::new(ErrorCode::BadRequest, v.to_string()),
            gridsync_core::Error::TooLarge(message) => Refusal::new(ErrorCode::TooLarge, message),
            other => {
                tracing::error!(error = %other, "center storage failed");
                Refusal::new(ErrorCode::Internal, "the center failed; try again later")
            }
        }
    }
}

impl From<rusqlite::Error> for Refusal {
    fn from(err: rusqlite::Error) -> Self {
        gridsync_core::Error::from(err).into()
    }
}

/// An authenticated device making a request.
#[derive(Debug, Clone)]
pub struct Device {
    pub id: String,
    pub worker_id: String,
    pub actor: String,
    pub scope: Scope,
}

/// An enrolled device as `admin devices` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceRow {
    pub id: String,
    pub worker_id: String,
    pub name: String,
    pub app_version: String,
    pub enrolled_at: i64,
    pub last_seen: Option<i64>,
    pub revoked: bool,
    pub wipe: bool,
}

const CENTER_MIGRATIONS: &[&str] = &[include_str!("../migrations/001_center.sql")];
const META_SCHEMA: &str = "schema";
const META_TOWNSHIP_KEY: &str = "township_key";
const META_CA: &str = "ca_certificate";
/// Enrolment codes avoid look-alike characters (0/O, 1/I/L).
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

pub struct Center {
    store: Store,
    admin: Connection,
    pending_refusals: std::sync::Mutex<PendingRefusals>,
}

/// Refusals counted since the last write to the `refusals` table.
#[derive(Debug)]
struct PendingRefusals {
    counts: std::collections::BTreeMap<String, i64>,
    flushed: std::time::Instant,
}

impl Drop for Center {
    fn drop(&mut self) {
        self.flush_refusals(&mut self.pending_refusals.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    }
}

impl std::fmt::Debug for Center {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Center").finish_non_exhaustive()
    }
}

/// The key file beside a center database: 32 random bytes, hex, readable by the owner
/// only. Created with the database; a database without its key cannot be opened.
pub fn key_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

fn load_or_create_key(db: &Path) -> Result<[u8; 32], String> {
    let path = key_path(db);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let bytes = hex::decode(text.trim()).map_err(|_| format!("{} is not a hex key", path.display()))?;
        return bytes.try_into().map_err(|_| format!("{} must hold 32 bytes", path.display()));
    }
    if db.exists() {
        return Err(format!("{} exists but its key file {} is missing", db.display(), path.display()));
    }
    let mut key = [0u8; 32];
    SystemRandom::new().fill(&mut key).map_err(|_| "no system randomness".to_owned())?;
    write_private(&path, hex::encode(key).as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(key)
}

pub(crate) fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents)
}

fn now_ms() -> i64 {
    gridsync_core::store::system_clock()
}

impl Center {
    /// Opens (creating) the center database at `db` with its key file.
    pub fn open(db: &Path) -> Result<Self, String> {
        let key = load_or_create_key(db)?;
        let store = Store::open(db, DbKey::Raw(&key)).map_err(|e| format!("cannot open {}: {e}", db.display()))?;
        let admin = Connection::open(db).map_err(|e| e.to_string())?;
        admin.pragma_update(None, "key", format!("x'{}'", hex::encode(key))).map_err(|e| e.to_string())?;
        admin.busy_timeout(std::time::Duration::from_secs(10)).map_err(|e| e.to_string())?;
        admin.pragma_update(None, "foreign_keys", true).map_err(|e| e.to_string())?;
        let pending_refusals =
            std::sync::Mutex::new(PendingRefusals { counts: Default::default(), flushed: std::time::Instant::now() });
        let mut center = Self { store, admin, pending_refusals };
        center.migrate().map_err(|e| format!("cannot migrate the center tables: {e}"))?;
        Ok(center)
    }

    fn migrate(&mut self) -> rusqlite::Result<()> {
        let tx = self.admin.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch("CREATE TABLE IF NOT EXISTS center_meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT")?;
        let version: i64 = tx
            .query_row("SELECT value FROM center_meta WHERE key = ?1", [META_SCHEMA], |r| r.get::<_, Vec<u8>>(0))
            .optional()?
            .and_then(|b| String::from_utf8(b).ok()?.parse().ok())
            .unwrap_or(0);
        for (index, sql) in CENTER_MIGRATIONS.iter().enumerate().skip(version as usize) {
            // The first migration's CREATE of center_meta already ran above.
            tx.execute_batch(&sql.replacen("CREATE TABLE center_meta", "CREATE TABLE IF NOT EXISTS center_meta", 1))?;
            tx.execute(
                "INSERT OR REPLACE INTO center_meta (key, value) VALUES (?1, ?2)",
                params![META_SCHEMA, (index + 1).to_string().into_bytes()],
            )?;
        }
        if tx
            .query_row("SELECT 1 FROM center_meta WHERE key = ?1", [META_TOWNSHIP_KEY], |_| Ok(()))
            .optional()?
            .is_none()
        {
            let mut secret = [0u8; 32];
            SystemRandom::new().fill(&mut secret).map_err(|_| rusqlite::Error::InvalidQuery)?;
            tx.execute(
                "INSERT INTO center_meta (key, value) VALUES (?1, ?2)",
                params![META_TOWNSHIP_KEY, &secret[..]],
            )?;
        }
        tx.commit()
    }

    fn meta(&self, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
        self.admin.query_row("SELECT value FROM center_meta WHERE key = ?1", [key], |r| r.get(0)).optional()
    }

    /// The township secret for person ids (HMAC key), handed to phones at enrolment.
    pub fn township_key(&self) -> rusqlite::Result<Vec<u8>> {
        Ok(self.meta(META_TOWNSHIP_KEY)?.unwrap_or_default())
    }

    /// The CA certificate phones pin, when the center serves TLS.
    pub fn set_ca_certificate(&mut self, pem: &str) -> rusqlite::Result<()> {
        self.admin.execute(
            "INSERT OR REPLACE INTO center_meta (key, value) VALUES (?1, ?2)",
            params![META_CA, pem.as_bytes()],
        )?;
        Ok(())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    // ---- administration ---------------------------------------------------------

    pub fn import_area(&mut self, code: &str, name: &str) -> Result<(), String> {
        gridsync_core::AreaCode::parse("code", code).map_err(|e| e.to_string())?;
        self.admin
            .execute("INSERT OR REPLACE INTO areas (code, name) VALUES (?1, ?2)", params![code, name])
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// The name of the area `code` lies in, from the register: its own, or its nearest
    /// registered village's or grid's. `None` when the register does not know it.
    pub fn area_name(&self, code: &str) -> Option<String> {
        [17, 15, 12].into_iter().filter(|len| *len <= code.len()).find_map(|len| {
            self.admin
                .query_row("SELECT name FROM areas WHERE code = ?1", [&code[..len]], |r| r.get(0))
                .optional()
                .ok()?
        })
    }

    /// Adds a worker (or replaces their scope) with the given area-code prefixes.
    pub fn set_worker(&mut self, id: &str, name: &str, prefixes: &[String]) -> Result<(), String> {
        let scope = Scope::new(prefixes.iter().cloned()).map_err(|e| e.to_string())?;
        if id.is_empty() || id.len() > 64 {
            return Err("worker id must be 1 to 64 characters".into());
        }
        let tx = self.admin.transaction().map_err(|e| e.to_string())?;
        tx.execute(
            "INSERT INTO workers (id, name, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (id) DO UPDATE SET name = ?2",
            params![id, name, now_ms()],
        )
        .map_err(|e| e.to_string())?;
        tx.execute("DELETE FROM worker_scopes WHERE worker_id = ?1", [id]).map_err(|e| e.to_string())?;
        for prefix in scope.prefixes() {
            tx.execute("INSERT INTO worker_scopes (worker_id, prefix) VALUES (?1, ?2)", params![id, prefix])
                .map_err(|e| e.to_string())?;
        }
        tx.commit().map_err(|e| e.to_string())
    }

    fn worker_scope(&self, worker: &str) -> rusqlite::Result<Scope> {
        let mut stmt = self.admin.prepare_cached("SELECT prefix FROM worker_scopes WHERE worker_id = ?1")?;
        let prefixes: Vec<String> = stmt.query_map([worker], |r| r.get(0))?.collect::<Result<_, _>>()?;
        Ok(Scope::new(prefixes).unwrap_or_default())
    }

    /// Issues a one-time enrolment code for `worker`, valid for `valid_ms`.
    pub fn issue_enrolment_code(&mut self, worker: &str, valid_ms: i64) -> Result<String, String> {
        let known: Option<i64> = self
            .admin
            .query_row("SELECT 1 FROM workers WHERE id = ?1", [worker], |r| r.get(0))
            .optional()
            .map_err(|e| e.to_string())?;
        if known.is_none() {
            return Err(format!("no worker {worker}"));
        }
        let mut random = [0u8; 12];
        SystemRandom::new().fill(&mut random).map_err(|_| "no system randomness")?;
        let chars: String = random.iter().map(|b| CODE_ALPHABET[*b as usize % CODE_ALPHABET.len()] as char).collect();
        let code = format!("{}-{}-{}", &chars[..4], &chars[4..8], &chars[8..]);
        self.admin
            .execute(
                "INSERT INTO enrol_codes (code_hash, worker_id, expires_at) VALUES (?1, ?2, ?3)",
                params![code_hash(&code), worker, now_ms() + valid_ms],
            )
            .map_err(|e| e.to_string())?;
        Ok(code)
    }

    pub fn devices(&self) -> rusqlite::Result<Vec<DeviceRow>> {
        let mut stmt = self.admin.prepare(
            "SELECT id, worker_id, name, app_version, enrolled_at, last_seen, revoked_at IS NOT NULL, wipe
             FROM devices ORDER BY enrolled_at, id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(DeviceRow {
                id: r.get(0)?,
                worker_id: r.get(1)?,
                name: r.get(2)?,
                app_version: r.get(3)?,
                enrolled_at: r.get(4)?,
                last_seen: r.get(5)?,
                revoked: r.get(6)?,
                wipe: r.get(7)?,
            })
        })?;
        rows.collect()
    }

    /// Revokes a device; with `wipe`, its next request orders it to erase its data.
    pub fn revoke(&mut self, device: &str, wipe: bool) -> Result<(), String> {
        let changed = self
            .admin
            .execute(
                "UPDATE devices SET revoked_at = ifnull(revoked_at, ?2), wipe = wipe OR ?3 WHERE id = ?1",
                params![device, now_ms(), wipe],
            )
            .map_err(|e| e.to_string())?;
        if changed == 0 { Err(format!("no device {device}")) } else { Ok(()) }
    }

    /// Counts a refusal by reason, for `admin stats` and /metrics. Counted in memory and
    /// written at most once a second, so a flood of refused requests costs no database
    /// write each.
    pub fn count_refusal(&self, reason: &str) {
        let mut pending = self.pending_refusals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *pending.counts.entry(reason.to_owned()).or_default() += 1;
        if pending.flushed.elapsed() >= std::time::Duration::from_secs(1) {
            self.flush_refusals(&mut pending);
        }
    }

    fn flush_refusals(&self, pending: &mut PendingRefusals) {
        pending.flushed = std::time::Instant::now();
        for (reason, count) in std::mem::take(&mut pending.counts) {
            let result = self.admin.execute(
                "INSERT INTO refusals (reason, count) VALUES (?1, ?2)
                 ON CONFLICT (reason) DO UPDATE SET count = count + ?2",
                params![reason, count],
            );
            if let Err(err) = result {
                tracing::warn!(%err, "could not count a refusal");
            }
        }
    }

    pub fn refusals(&self) -> rusqlite::Result<Vec<(String, i64)>> {
        self.flush_refusals(&mut self.pending_refusals.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let mut stmt = self.admin.prepare("SELECT reason, count FROM refusals ORDER BY reason")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    }

    // ---- requests -----------------------------------------------------------------

    /// Checks a signed request: known device, valid signature, fresh counter, not
    /// revoked. The counter is stored before the request is served, so a replay fails.
    pub fn authenticate(
        &mut self,
        device: &str,
        counter: u64,
        signature: &str,
        path: &str,
        body: &[u8],
    ) -> Result<Device, Refusal> {
        let row: Option<(String, Vec<u8>, String, i64, bool, bool)> = self
            .admin
            .query_row(
                "SELECT worker_id, public_key, actor, last_counter, revoked_at IS NOT NULL, wipe FROM devices WHERE id = ?1",
                [device],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
            )
            .optional()?;
        let Some((worker_id, public_key, actor, last_counter, revoked, wipe)) = row else {
            return Err(Refusal::new(ErrorCode::BadSignature, "unknown device"));
        };
        if !sign::verify(&public_key, signature, "POST", path, device, counter, body) {
            return Err(Refusal::new(ErrorCode::BadSignature, "the signature does not match the request"));
        }
        if revoked {
            return Err(if wipe {
                Refusal::new(ErrorCode::Wipe, "this device was revoked and must erase its data")
            } else {
                Refusal::new(ErrorCode::Revoked, "this device was revoked")
            });
        }
        if counter <= last_counter as u64 {
            return Err(Refusal::new(ErrorCode::Replay, "the request counter was used before"));
        }
        self.admin.execute(
            "UPDATE devices SET last_counter = ?2, last_seen = ?3 WHERE id = ?1",
            params![device, counter as i64, now_ms()],
        )?;
        Ok(Device { id: device.to_owned(), scope: self.worker_scope(&worker_id)?, worker_id, actor })
    }

    /// Enrols a device with a one-time code. The request must be signed with the key it
    /// presents.
    pub fn enrol(
        &mut self,
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
        // What a phone names itself reaches terminals (`admin devices`) and logs: no
        // control characters (newlines, ANSI escapes) that could forge a row.
        if [&request.device_name, &request.app_version].iter().any(|text| text.chars().any(char::is_control)) {
            return Err(Refusal::new(ErrorCode::BadRequest, "device name or app version holds control characters"));
        }
        let tx = self.admin.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let code: Option<(String, i64, Option<i64>)> = tx
            .query_row(
                "SELECT worker_id, expires_at, used_at FROM enrol_codes WHERE code_hash = ?1",
                [code_hash(&request.code)],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        // An actor belongs to one device: a second device claiming it could write in the
        // first one's name and break its change sequence.
        let actor_taken = tx
            .query_row(
                "SELECT 1 FROM devices WHERE actor = ?1 AND public_key != ?2",
                params![request.actor, request.public_key],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if actor_taken {
            return Err(Refusal::new(ErrorCode::EnrolmentRefused, "this actor belongs to another device"));
        }
        let (worker_id, device_id) = match code {
            Some((worker, expires, None)) if expires > now_ms() => {
                let device_id = uuid::Uuid::now_v7().to_string();
                tx.execute(
                    "INSERT INTO devices (id, worker_id, public_key, actor, name, app_version, enrolled_at, last_counter)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        device_id,
                        worker,
                        request.public_key,
                        request.actor,
                        request.device_name,
                        request.app_version,
                        now_ms(),
                        counter as i64
                    ],
                )?;
                tx.execute(
                    "UPDATE enrol_codes SET used_at = ?2, device_id = ?3 WHERE code_hash = ?1",
                    params![code_hash(&request.code), now_ms(), device_id],
                )?;
                (worker, device_id)
            }
            // The answer to this very phone's enrolment was lost on the way (a dropped
            // connection on 2G): the same key and actor asking again, with a fresh
            // counter, get the same answer. Anyone else is refused.
            // The code's expiry holds on this path too: an old code re-enrols nobody.
            Some((worker, expires, Some(_))) if expires > now_ms() => {
                let enrolled: Option<(String, i64)> = tx
                    .query_row(
                        "SELECT d.id, d.last_counter FROM enrol_codes c JOIN devices d ON d.id = c.device_id
                         WHERE c.code_hash = ?1 AND d.public_key = ?2 AND d.actor = ?3 AND d.revoked_at IS NULL",
                        params![code_hash(&request.code), request.public_key, request.actor],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                match enrolled {
                    Some((device_id, last)) if counter as i64 > last => {
                        tx.execute(
                            "UPDATE devices SET last_counter = ?2 WHERE id = ?1",
                            params![device_id, counter as i64],
                        )?;
                        (worker, device_id)
                    }
                    Some(_) => return Err(Refusal::new(ErrorCode::Replay, "the enrolment request was used before")),
                    None => return Err(Refusal::new(ErrorCode::EnrolmentRefused, "the code was used before")),
                }
            }
            Some(_) => return Err(Refusal::new(ErrorCode::EnrolmentRefused, "the code has expired")),
            None => return Err(Refusal::new(ErrorCode::EnrolmentRefused, "unknown enrolment code")),
        };
        tx.commit()?;
        let scope = self.worker_scope(&worker_id)?;
        tracing::info!(device = %device_id, worker = %worker_id, "device enrolled");
        Ok(EnrolResponse {
            device_id,
            worker_id,
            scope: scope.prefixes().to_vec(),
            township_key: self.township_key()?,
            ca_certificate: self.meta(META_CA)?.map(|b| String::from_utf8_lossy(&b).into_owned()),
        })
    }

    /// Applies a pushed batch (or answers a repeated one from its record). Returns the
    /// answer and whether anything was refused (then nothing was stored).
    pub fn push(&mut self, device: &Device, request: &PushRequest) -> Result<(PushResponse, bool), Refusal> {
        if request.batch_id.is_empty() || request.batch_id.len() > 64 {
            return Err(Refusal::new(ErrorCode::BadRequest, "batch_id must be 1 to 64 characters"));
        }
        let known: Option<Vec<u8>> = self
            .admin
            .query_row(
                "SELECT response FROM batches WHERE device_id = ?1 AND batch_id = ?2",
                params![device.id, request.batch_id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(bytes) = known {
            let response: PushResponse = gridsync_core::sync::wire::decode(&bytes)
                .map_err(|_| Refusal::new(ErrorCode::Internal, "stored batch answer unreadable"))?;
            let refused = !response.rejected.is_empty();
            return Ok((response, refused));
        }
        let township_key = gridsync_core::ids::TownshipKey::new(&self.township_key()?);
        let admin = &self.admin;
        let registered = |code: &str| area_registered(admin, code);
        let pusher = Pusher {
            device: &device.id,
            actor: &device.actor,
            worker: &device.worker_id,
            scope: &device.scope,
            township_key: &township_key,
            area_registered: &registered,
        };
        let outcome = self.store.accept_push(&pusher, &request.changes)?;
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
        if !refused {
            self.admin.execute(
                "INSERT OR IGNORE INTO batches (device_id, batch_id, response, at) VALUES (?1, ?2, ?3, ?4)",
                params![device.id, request.batch_id, gridsync_core::sync::wire::encode(&response), now_ms()],
            )?;
        }
        fail::fail_point!("center.push.before_answer");
        Ok((response, refused))
    }

    pub fn pull(&self, device: &Device, request: &PullRequest) -> Result<PullResponse, Refusal> {
        if let Cursor::Bootstrap { prefixes: Some(prefixes), .. } = &request.cursor
            && (prefixes.len() > 100 || prefixes.iter().any(|p| p.len() > 17 || !p.bytes().all(|b| b.is_ascii_digit())))
        {
            return Err(Refusal::new(ErrorCode::BadRequest, "cursor prefixes must be area-code digits"));
        }
        let limits = PageLimits { max_items: request.max_items, max_bytes: request.max_bytes };
        // Only a scope narrowed during a bootstrap makes an honest phone ask this; it then
        // starts its bootstrap again over its scope.
        if let Cursor::Bootstrap { prefixes: Some(prefixes), .. } = &request.cursor
            && let Some(outside) = prefixes.iter().find(|p| !device.scope.covers(p))
        {
            return Err(Refusal::new(ErrorCode::OutOfScope, format!("area {outside} is outside the device's scope")));
        }
        Ok(self.store.serve_pull(&device.id, &device.scope, &request.cursor, limits)?)
    }

    pub fn digest(&self, device: &Device) -> Result<DigestResponse, Refusal> {
        Ok(self.store.digest(device.scope.prefixes())?)
    }

    pub fn heads(&self, device: &Device, buckets: &[u8]) -> Result<HeadsResponse, Refusal> {
        Ok(HeadsResponse { records: self.store.heads_in_buckets(device.scope.prefixes(), buckets)? })
    }

    pub fn fetch(&self, device: &Device, ids: &[String]) -> Result<FetchResponse, Refusal> {
        Ok(FetchResponse { snapshots: self.store.fetch_in_scope(&device.scope, ids)? })
    }
}

/// Whether `code` is an area of the township's register (`admin import-areas`), as far
/// down as the register goes: a code is accepted when it is registered, or when its
/// nearest registered ancestor (village, grid) has nothing registered below it. Any
/// code is accepted while the register is empty. A failed read counts as unknown.
fn area_registered(admin: &Connection, code: &str) -> bool {
    let check = || -> rusqlite::Result<bool> {
        let empty: bool = admin.query_row("SELECT NOT EXISTS (SELECT 1 FROM areas)", [], |r| r.get(0))?;
        if empty {
            return Ok(true);
        }
        let mut nearest = String::new();
        for len in [12, 15, 17].into_iter().filter(|len| *len <= code.len()) {
            let prefix = &code[..len];
            if admin.query_row("SELECT EXISTS (SELECT 1 FROM areas WHERE code = ?1)", [prefix], |r| r.get(0))? {
                nearest = prefix.to_owned();
            }
        }
        if nearest == code {
            return Ok(true);
        }
        let deeper: bool = admin.query_row(
            "SELECT EXISTS (SELECT 1 FROM areas WHERE code > ?1 AND code < ?1 || ':' AND length(code) > length(?1))",
            [&nearest],
            |r| r.get(0),
        )?;
        Ok(!nearest.is_empty() && !deeper)
    };
    check().unwrap_or(false)
}

fn code_hash(code: &str) -> Vec<u8> {
    let normalized: String =
        code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect();
    ring::digest::digest(&ring::digest::SHA256, normalized.as_bytes()).as_ref().to_vec()
}
