//! `GridStore`: the store an app opens, with every record kind, queries, conflicts,
//! incident steps, enrolment and sync. A thin wrapper: each method converts, calls
//! gridsync-core, and converts back.
//!
//! Threading: every method may be called from any thread; the app's calls are serialised
//! on one connection. `sync` and `verify` run on a second connection of their own, so
//! the app keeps reading and writing during a long sync on a slow link (SQLite serialises
//! the two connections' short write transactions). Run them on a background thread
//! (WorkManager, BGTaskScheduler).

use std::sync::{Arc, Mutex, MutexGuard};

use gridsync_core::client::{self, ClientConfig, SyncClient};
use gridsync_core::store::{IncidentFilter as CoreFilter, Page, Paged};
use gridsync_core::sync::enrolment_link::EnrolmentLink;
use gridsync_core::{DbKey, Role, Rule, Store, ValidationError, model as core};

use crate::edits::{
    HouseholdField, HouseholdForEdit, IncidentField, IncidentForEdit, PersonField, PersonForEdit, VisitField,
    VisitForEdit,
};
use crate::error::{GridsyncError, Result};
use crate::events::{ChangeEvent, ChangeListener, Listeners, Subscription};
use gridsync_core::client::{Progress, SyncReport, VerifyReport};
use gridsync_core::model::IncidentState;
use gridsync_core::store::SyncStatus;
use gridsync_core::{IncidentStatus, Kind, Step, Supervision};

use crate::types::{
    Conflict, ConflictedPage, HistoryEntry, Household, HouseholdPage, Incident, IncidentPage, Person, PersonPage,
    PersonRow, QuarantinedChange, Visit, VisitPage, VisitRow,
};

/// Which incidents to list.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Enum)]
pub enum IncidentFilter {
    All,
    Status {
        status: IncidentStatus,
    },
    /// Conflicting concurrent steps were merged; a person should look.
    NeedsReview,
    /// Past their deadline at `now` (ms) and not yet done.
    OverdueAt {
        now: i64,
    },
}

/// How to reach the center. Every setting but the first two may be left out
/// (`null`/`nil`): the defaults suit GPRS and 2G (docs/protocol.md).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CenterOptions {
    /// The township CA (PEM) given with the enrolment code; needed to enrol over TLS.
    pub ca_certificate: Option<String>,
    /// Plain HTTP to a loopback address, for tests and demos only.
    pub allow_insecure_loopback: bool,
    /// Connecting may take this long (default 20 s).
    #[uniffi(default = None)]
    pub connect_timeout_ms: Option<u64>,
    /// One request may take this long (default 90 s).
    #[uniffi(default = None)]
    pub request_timeout_ms: Option<u64>,
    /// Attempts after the first for a failure that may pass (default 4).
    #[uniffi(default = None)]
    pub retries: Option<u32>,
    /// The first wait before a retry, doubled each time (default 1 s) …
    #[uniffi(default = None)]
    pub backoff_base_ms: Option<u64>,
    /// … up to this (default 30 s); a center's `Retry-After` is honoured within it.
    #[uniffi(default = None)]
    pub backoff_max_ms: Option<u64>,
    /// Changes per pushed batch (default 500) and bytes per batch (default 128 KiB).
    #[uniffi(default = None)]
    pub push_batch_changes: Option<u32>,
    #[uniffi(default = None)]
    pub push_batch_bytes: Option<u32>,
    /// Items and bytes per pulled page (defaults 500 and 256 KiB).
    #[uniffi(default = None)]
    pub pull_page_items: Option<u32>,
    #[uniffi(default = None)]
    pub pull_page_bytes: Option<u32>,
    /// Bytes of photo per request (default 64 KiB): what a cut link sends again at most.
    #[uniffi(default = None)]
    pub photo_chunk_bytes: Option<u32>,
    /// The longest a sync, verify, enrolment or photo fetch may take in all (default: no
    /// limit): past it the call ends as `Cancelled`, keeping what completed. A
    /// background job sets it below what the platform allows it (WorkManager ~10 min,
    /// a BGAppRefreshTask ~30 s).
    #[uniffi(default = None)]
    pub deadline_ms: Option<u64>,
}

/// What enrolment returned.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Enrolment {
    pub device_id: String,
    pub worker_id: String,
    /// Area-code prefixes this device may see and change.
    pub scope: Vec<String>,
    /// The worker's role (网格员, 网格长); `None` from a center before roles.
    pub role: Option<Role>,
}

/// Where a record stands: its kind, whether deleted, its document heads.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RecordInfo {
    pub kind: Kind,
    pub deleted: bool,
    pub heads: Vec<String>,
}

/// Receives sync progress on the syncing thread.
#[uniffi::export(foreign)]
pub trait SyncProgressListener: Send + Sync {
    fn on_progress(&self, progress: Progress);
}

/// Cancels a running sync from another thread.
#[derive(Debug, Default, uniffi::Object)]
pub struct SyncCancel(client::CancelFlag);

#[uniffi::export]
impl SyncCancel {
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn cancel(&self) {
        self.0.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.is_cancelled()
    }
}

/// Sets its flag when dropped: the future of an async call, dropped when the coroutine
/// or task awaiting it is cancelled, cancels the blocking work it started.
struct CancelOnDrop(client::CancelFlag);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Runs `work` on tokio's blocking pool with a cancel flag that the caller's cancellation
/// sets (see [`CancelOnDrop`]).
pub(crate) async fn in_background<T: Send + 'static>(
    work: impl FnOnce(&client::CancelFlag) -> Result<T> + Send + 'static,
) -> Result<T> {
    let cancel = client::CancelFlag::default();
    let _cancel_when_dropped = CancelOnDrop(cancel.clone());
    match tokio::task::spawn_blocking(move || work(&cancel)).await {
        Ok(result) => result,
        Err(failed) if failed.is_panic() => std::panic::resume_unwind(failed.into_panic()),
        Err(_) => Err(GridsyncError::from(gridsync_core::Error::Cancelled)),
    }
}

/// The calls that wait on the network, as the platforms await them: `suspend` functions
/// in Kotlin, `async` in Swift, coroutines in Python. Cancelling the caller (the
/// coroutine's job, the Swift task, the asyncio task) cancels the work within a fraction
/// of a second wherever it is: a request in flight, a retry's wait, between pages.
#[uniffi::export(async_runtime = "tokio")]
impl GridStore {
    /// `enrol`, awaited.
    pub async fn enrol_async(
        self: Arc<Self>,
        center_url: String,
        code: String,
        device_name: String,
        options: CenterOptions,
    ) -> Result<Enrolment> {
        let link = EnrolmentLink { center_url, code, ca_sha256: None };
        in_background(move |cancel| self.enrol_with(link, device_name, options, cancel)).await
    }

    /// `enrolFromLink`, awaited.
    pub async fn enrol_from_link_async(
        self: Arc<Self>,
        link: String,
        device_name: String,
        options: CenterOptions,
    ) -> Result<Enrolment> {
        let link = EnrolmentLink::parse(&link).map_err(gridsync_core::Error::from)?;
        in_background(move |cancel| self.enrol_with(link, device_name, options, cancel)).await
    }

    /// `sync`, awaited; cancel the caller to cancel it.
    pub async fn sync_async(
        self: Arc<Self>,
        options: CenterOptions,
        progress: Option<Arc<dyn SyncProgressListener>>,
    ) -> Result<SyncReport> {
        in_background(move |cancel| self.sync_with(options, progress, cancel)).await
    }

    /// `verify`, awaited; cancel the caller to cancel it.
    pub async fn verify_async(self: Arc<Self>, options: CenterOptions) -> Result<VerifyReport> {
        in_background(move |cancel| self.verify_with(options, cancel)).await
    }
}

struct ProgressAdapter(Option<Arc<dyn SyncProgressListener>>);

impl client::ProgressListener for ProgressAdapter {
    fn on_progress(&self, progress: &Progress) {
        if let Some(listener) = &self.0 {
            listener.on_progress(progress.clone());
        }
    }
}

/// The gridsync store on the phone: an encrypted database of households, persons,
/// visits and incidents that syncs with the township center.
#[derive(uniffi::Object)]
pub struct GridStore {
    store: Mutex<Store>,
    /// The sync's own connection, opened at the first sync; its lock also keeps syncs
    /// from overlapping.
    sync_store: Mutex<Option<Store>>,
    path: String,
    key: [u8; 32],
    pub(crate) listeners: Arc<Listeners>,
}

impl std::fmt::Debug for GridStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GridStore").finish_non_exhaustive()
    }
}

fn page(after: Option<String>, limit: u32) -> Page {
    Page { after, limit }
}

/// Each row converted to its core record, a refused one naming its index.
fn convert_rows<B, R>(list: &str, rows: Vec<B>) -> Result<Vec<R>>
where
    B: TryInto<R, Error = GridsyncError>,
{
    rows.into_iter()
        .enumerate()
        .map(|(index, row)| row.try_into().map_err(|err| at_row(list, Some(index), err)))
        .collect()
}

/// An error about row `index` of `list`: an invalid field becomes `list[index].field`.
fn at_row(list: &str, index: Option<usize>, err: GridsyncError) -> GridsyncError {
    match (index, err) {
        (Some(index), GridsyncError::InvalidInput { field, rule, code, message_zh }) => {
            GridsyncError::InvalidInput { field: format!("{list}[{index}].{field}"), rule, code, message_zh }
        }
        (_, other) => other,
    }
}

fn split<T, U: From<T>>(paged: Paged<T>) -> (Vec<U>, Option<String>) {
    (paged.items.into_iter().map(U::from).collect(), paged.next)
}

impl GridStore {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs a write and tells subscribers which record changed.
    fn write<R>(&self, id: Option<&str>, f: impl FnOnce(&mut Store) -> gridsync_core::Result<R>) -> Result<R>
    where
        R: AsRef<str>,
    {
        let result = f(&mut self.lock())?;
        let changed = id.unwrap_or(result.as_ref()).to_owned();
        self.listeners.notify(ChangeEvent::Written { record_ids: vec![changed] });
        Ok(result)
    }

    /// Creates `rows` in one batch; see [`GridStore::import_households`].
    fn import<B, R>(&self, rows: Vec<B>) -> Result<Vec<String>>
    where
        R: gridsync_core::Record,
        B: TryInto<R, Error = GridsyncError>,
    {
        let records = convert_rows::<B, R>("rows", rows)?;
        let mut failed_at = None;
        let ids = self.lock().batch(|batch| {
            let mut ids = Vec::with_capacity(records.len());
            for (index, record) in records.into_iter().enumerate() {
                failed_at = Some(index);
                ids.push(batch.create(record)?);
            }
            Ok(ids)
        });
        let ids = ids.map_err(|err| at_row("rows", failed_at, err.into()))?;
        self.listeners.notify(ChangeEvent::Written { record_ids: ids.clone() });
        Ok(ids)
    }

    /// Runs a sync (or a verify) with the sync's own connection (fresh settings), then
    /// lets the app's connection see what it changed (scope, or a wipe) and tells the
    /// listeners how it went.
    fn enrol_with(
        &self,
        link: EnrolmentLink,
        device_name: String,
        options: CenterOptions,
        cancel: &client::CancelFlag,
    ) -> Result<Enrolment> {
        let response = self.on_sync_connection(|store| {
            let config = Self::config(&options);
            client::enrol_from_link(store, &link, &device_name, options.ca_certificate.as_deref(), &config, cancel)
        })??;
        Ok(Enrolment {
            device_id: response.device_id,
            worker_id: response.worker_id,
            scope: response.scope,
            role: response.duties.map(|d| d.role),
        })
    }

    fn sync_with(
        &self,
        options: CenterOptions,
        progress: Option<Arc<dyn SyncProgressListener>>,
        cancel: &client::CancelFlag,
    ) -> Result<SyncReport> {
        self.with_sync_store(
            |store| {
                SyncClient::for_store(store, Self::config(&options))?.sync(store, &ProgressAdapter(progress), cancel)
            },
            |report| report,
        )
    }

    fn verify_with(&self, options: CenterOptions, cancel: &client::CancelFlag) -> Result<VerifyReport> {
        self.with_sync_store(
            |store| SyncClient::for_store(store, Self::config(&options))?.verify(store, &ProgressAdapter(None), cancel),
            |report| &report.sync,
        )
    }

    /// Runs `f` on the sync's own connection (opened on first use), so that the app's
    /// connection stays free while the network is waited on; then the app's connection
    /// re-reads the settings `f` may have changed (enrolment, scope, worker).
    fn on_sync_connection<R>(
        &self,
        f: impl FnOnce(&mut Store) -> gridsync_core::Result<R>,
    ) -> Result<gridsync_core::Result<R>> {
        let mut slot = self.sync_store.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let store = match slot.as_mut() {
            Some(store) => {
                store.reload_settings()?;
                store
            }
            None => slot.insert(Store::open(&self.path, DbKey::Raw(&self.key))?),
        };
        let result = f(store);
        self.lock().reload_settings()?;
        Ok(result)
    }

    /// Runs `f` on the sync's connection without a sync's events (a photo download).
    pub(crate) fn on_sync_store<R>(&self, f: impl FnOnce(&mut Store) -> gridsync_core::Result<R>) -> Result<R> {
        Ok(self.on_sync_connection(f)??)
    }

    fn with_sync_store<R>(
        &self,
        f: impl FnOnce(&mut Store) -> gridsync_core::Result<R>,
        report_of: fn(&R) -> &SyncReport,
    ) -> Result<R> {
        let result = self.on_sync_connection(f)?;
        let app = self.lock();
        let event = match result.as_ref().map(report_of) {
            Ok(report) => ChangeEvent::SyncFinished {
                pushed: report.pushed,
                pulled: report.pulled_changes + report.pulled_snapshots,
                quarantined: report.quarantined,
                conflicted: app.list_conflicted("", &Page::first(500))?.items.len() as u64,
            },
            Err(gridsync_core::Error::Revoked { wipe: true }) => ChangeEvent::Wiped,
            Err(error) => ChangeEvent::SyncFailed { code: error.code(), message_zh: error.zh() },
        };
        drop(app);
        self.listeners.notify(event);
        Ok(result?)
    }

    /// Applies `changes` (with `apply`) to the record as read at `read_at` and writes
    /// the result as an edit from that screen.
    fn edit_fields<R, B, F>(&self, id: &str, read_at: &[String], changes: Vec<F>, apply: fn(F, &mut B)) -> Result<()>
    where
        R: gridsync_core::Record,
        B: From<R> + TryInto<R, Error = GridsyncError>,
    {
        let mut store = self.lock();
        let mut record = B::from(store.get_at::<R>(id, read_at)?);
        for change in changes {
            apply(change, &mut record);
        }
        store.edit(id, read_at, record.try_into()?)?;
        drop(store);
        self.listeners.notify(ChangeEvent::Written { record_ids: vec![id.to_owned()] });
        Ok(())
    }

    pub(crate) fn config(options: &CenterOptions) -> ClientConfig {
        let default = ClientConfig::default();
        let ms = |value: Option<u64>, fallback: std::time::Duration| {
            value.map_or(fallback, std::time::Duration::from_millis)
        };
        ClientConfig {
            allow_insecure_loopback: options.allow_insecure_loopback,
            connect_timeout: ms(options.connect_timeout_ms, default.connect_timeout),
            request_timeout: ms(options.request_timeout_ms, default.request_timeout),
            retries: options.retries.unwrap_or(default.retries),
            backoff_base: ms(options.backoff_base_ms, default.backoff_base),
            backoff_max: ms(options.backoff_max_ms, default.backoff_max),
            push_batch_changes: options.push_batch_changes.unwrap_or(default.push_batch_changes),
            push_batch_bytes: options.push_batch_bytes.map_or(default.push_batch_bytes, |b| b as usize),
            pull_page_items: options.pull_page_items.unwrap_or(default.pull_page_items),
            pull_page_bytes: options.pull_page_bytes.unwrap_or(default.pull_page_bytes),
            blob_chunk_bytes: options.photo_chunk_bytes.unwrap_or(default.blob_chunk_bytes),
            deadline: options.deadline_ms.map(std::time::Duration::from_millis),
        }
    }
}

#[uniffi::export]
impl GridStore {
    /// Opens (or creates) the store at `path` with a raw 32-byte key from the Android
    /// Keystore or iOS Keychain. A wrong key is `WrongKey` and leaves the file untouched.
    #[uniffi::constructor]
    pub fn open(path: String, key: Vec<u8>) -> Result<Arc<Self>> {
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| GridsyncError::from(ValidationError::new("key", Rule::KeyLength { bytes: 32 })))?;
        let store = Store::open(&path, DbKey::Raw(&key))?;
        Ok(Arc::new(Self {
            store: Mutex::new(store),
            sync_store: Mutex::new(None),
            path,
            key,
            listeners: Arc::new(Listeners::default()),
        }))
    }

    /// This device's id in record histories.
    pub fn device_actor(&self) -> String {
        self.lock().device_actor()
    }

    pub fn create_household(&self, household: Household) -> Result<String> {
        let record = core::Household::try_from(household)?;
        self.write(None, |s| s.create(record))
    }

    /// Replaces every field of the household with `household`'s: a field left empty is
    /// cleared, and values that arrived by sync since it was read are overwritten.
    /// Only for replacing a whole record on purpose; a screen edits with `edit_household`.
    pub fn replace_household(&self, id: String, household: Household) -> Result<()> {
        let record = core::Household::try_from(household)?;
        self.write(Some(&id), |s| s.replace(&id, record).map(|()| id.clone())).map(drop)
    }

    /// The household with its heads, for an edit screen.
    pub fn get_household_for_edit(&self, id: String) -> Result<HouseholdForEdit> {
        let stored = self.lock().get::<core::Household>(&id)?;
        Ok(HouseholdForEdit { household: stored.record.into(), read_at: stored.heads })
    }

    /// Writes the fields the user changed on a screen that read the household at
    /// `read_at`; every field `changes` does not name stays as it is.
    pub fn edit_household(&self, id: String, read_at: Vec<String>, changes: Vec<HouseholdField>) -> Result<()> {
        self.edit_fields::<core::Household, _, _>(&id, &read_at, changes, HouseholdField::apply)
    }

    pub fn get_household(&self, id: String) -> Result<Household> {
        Ok(self.lock().get::<core::Household>(&id)?.record.into())
    }

    /// Registers a person. With an ID number the id derives from it, so the same person
    /// registered on two phones becomes one record; registering again here is
    /// `AlreadyExists`.
    pub fn create_person(&self, person: Person) -> Result<String> {
        let record = core::Person::try_from(person)?;
        self.write(None, |s| s.create(record))
    }

    /// Registers a household and its members together: all of them or, when one is
    /// refused, none. Each member's `household_id` is set to the new household. Returns
    /// the household's id, then each member's in order. A refused member names itself:
    /// the error's field is `members[<index>].<field>`.
    pub fn create_household_with_members(&self, household: Household, members: Vec<Person>) -> Result<Vec<String>> {
        let household = core::Household::try_from(household)?;
        let members = convert_rows::<_, core::Person>("members", members)?;
        let mut failed_at = None;
        let ids = self.lock().batch(|batch| {
            let id = batch.create(household)?;
            let mut ids = vec![id.clone()];
            for (index, mut member) in members.into_iter().enumerate() {
                member.household_id = Some(id.clone());
                failed_at = Some(index);
                ids.push(batch.create(member)?);
            }
            Ok(ids)
        });
        let ids = ids.map_err(|err| at_row("members", failed_at, err.into()))?;
        self.listeners.notify(ChangeEvent::Written { record_ids: ids.clone() });
        Ok(ids)
    }

    /// Imports households (a village's register from a spreadsheet) in one transaction:
    /// every row or, when one is refused, none. Returns their ids in order; a refused
    /// row names itself: the error's field is `rows[<index>].<field>`.
    pub fn import_households(&self, households: Vec<Household>) -> Result<Vec<String>> {
        self.import::<_, core::Household>(households)
    }

    /// Imports persons like [`GridStore::import_households`].
    pub fn import_persons(&self, persons: Vec<Person>) -> Result<Vec<String>> {
        self.import::<_, core::Person>(persons)
    }

    /// Replaces every field of the person with `person`'s: a field left empty is
    /// cleared, and values that arrived by sync since it was read are overwritten.
    /// Only for replacing a whole record on purpose; a screen edits with `edit_person`.
    pub fn replace_person(&self, id: String, person: Person) -> Result<()> {
        let record = core::Person::try_from(person)?;
        self.write(Some(&id), |s| s.replace(&id, record).map(|()| id.clone())).map(drop)
    }

    /// The person with its heads, for an edit screen.
    pub fn get_person_for_edit(&self, id: String) -> Result<PersonForEdit> {
        let stored = self.lock().get::<core::Person>(&id)?;
        Ok(PersonForEdit { person: stored.record.into(), read_at: stored.heads })
    }

    /// Writes the fields the user changed on a screen that read the person at
    /// `read_at`; every field `changes` does not name stays as it is.
    pub fn edit_person(&self, id: String, read_at: Vec<String>, changes: Vec<PersonField>) -> Result<()> {
        self.edit_fields::<core::Person, _, _>(&id, &read_at, changes, PersonField::apply)
    }

    pub fn get_person(&self, id: String) -> Result<Person> {
        Ok(self.lock().get::<core::Person>(&id)?.record.into())
    }

    pub fn create_visit(&self, visit: Visit) -> Result<String> {
        let record = core::Visit::try_from(visit)?;
        self.write(None, |s| s.create(record))
    }

    /// Replaces every field of the visit with `visit`'s: a field left empty is
    /// cleared, and values that arrived by sync since it was read are overwritten.
    /// Only for replacing a whole record on purpose; a screen edits with `edit_visit`.
    pub fn replace_visit(&self, id: String, visit: Visit) -> Result<()> {
        let record = core::Visit::try_from(visit)?;
        self.write(Some(&id), |s| s.replace(&id, record).map(|()| id.clone())).map(drop)
    }

    /// The visit with its heads, for an edit screen.
    pub fn get_visit_for_edit(&self, id: String) -> Result<VisitForEdit> {
        let stored = self.lock().get::<core::Visit>(&id)?;
        Ok(VisitForEdit { visit: stored.record.into(), read_at: stored.heads })
    }

    /// Writes the fields the user changed on a screen that read the visit at
    /// `read_at`; every field `changes` does not name stays as it is.
    pub fn edit_visit(&self, id: String, read_at: Vec<String>, changes: Vec<VisitField>) -> Result<()> {
        self.edit_fields::<core::Visit, _, _>(&id, &read_at, changes, VisitField::apply)
    }

    pub fn get_visit(&self, id: String) -> Result<Visit> {
        Ok(self.lock().get::<core::Visit>(&id)?.record.into())
    }

    /// Adds a finding to a visit, by the signed-in worker, now.
    pub fn append_finding(&self, visit_id: String, text: String) -> Result<()> {
        self.write(Some(&visit_id), |s| {
            let finding = core::Finding { at: gridsync_core::store::system_clock(), by: s.worker().to_owned(), text };
            s.append_finding(&visit_id, finding).map(|()| visit_id.clone())
        })
        .map(drop)
    }

    pub fn create_incident(&self, incident: Incident) -> Result<String> {
        let record = core::Incident::try_from(incident)?;
        self.write(None, |s| s.create(record))
    }

    /// Replaces every field of the incident with `incident`'s: a field left empty is
    /// cleared, and values that arrived by sync since it was read are overwritten.
    /// Only for replacing a whole record on purpose; a screen edits with `edit_incident`.
    pub fn replace_incident(&self, id: String, incident: Incident) -> Result<()> {
        let record = core::Incident::try_from(incident)?;
        self.write(Some(&id), |s| s.replace(&id, record).map(|()| id.clone())).map(drop)
    }

    /// The incident with its heads, for an edit screen.
    pub fn get_incident_for_edit(&self, id: String) -> Result<IncidentForEdit> {
        let stored = self.lock().get::<core::Incident>(&id)?;
        Ok(IncidentForEdit { incident: stored.record.into(), read_at: stored.heads })
    }

    /// Writes the fields the user changed on a screen that read the incident at
    /// `read_at`; every field `changes` does not name stays as it is.
    pub fn edit_incident(&self, id: String, read_at: Vec<String>, changes: Vec<IncidentField>) -> Result<()> {
        self.edit_fields::<core::Incident, _, _>(&id, &read_at, changes, IncidentField::apply)
    }

    pub fn get_incident(&self, id: String) -> Result<Incident> {
        Ok(self.lock().get::<core::Incident>(&id)?.record.into())
    }

    /// Takes a step of the incident's closed loop, by the signed-in worker, now. A step
    /// that does not fit the current status is `IllegalStep`. Returns the entry's id.
    pub fn append_follow_up(
        &self,
        incident_id: String,
        step: Step,
        note: String,
        deadline: Option<i64>,
        supervision: Option<Supervision>,
    ) -> Result<String> {
        let mut entry_id = String::new();
        self.write(Some(&incident_id), |s| {
            let entry = core::FollowUp {
                id: String::new(),
                at: gridsync_core::store::system_clock(),
                by: s.worker().to_owned(),
                step,
                note,
                deadline,
                supervision,
            };
            entry_id = s.append_follow_up(&incident_id, entry)?;
            Ok(incident_id.clone())
        })?;
        Ok(entry_id)
    }

    /// The incident's status, flags and any steps flagged for review.
    pub fn incident_state(&self, incident_id: String) -> Result<IncidentState> {
        Ok(self.lock().get::<core::Incident>(&incident_id)?.record.state())
    }

    /// The steps the app may offer: legal from the incident's current status, and the
    /// worker's role's to take (the center refuses the others).
    pub fn next_steps(&self, incident_id: String) -> Result<Vec<Step>> {
        let store = self.lock();
        let steps = store.get::<core::Incident>(&incident_id)?.record.status().next_steps();
        let duties = store.duties();
        Ok(steps.into_iter().filter(|step| duties.is_none_or(|d| d.may_take(*step))).collect())
    }

    /// Deletes a record (a tombstone: restorable, synced).
    pub fn delete(&self, id: String) -> Result<()> {
        self.write(Some(&id), |s| s.delete(&id).map(|()| id.clone())).map(drop)
    }

    pub fn restore(&self, id: String) -> Result<()> {
        self.write(Some(&id), |s| s.restore(&id).map(|()| id.clone())).map(drop)
    }

    /// A record's kind, whether it is deleted, and its document heads.
    pub fn record_info(&self, id: String) -> Result<RecordInfo> {
        let meta = self.lock().record_meta(&id)?;
        Ok(RecordInfo { kind: meta.kind, deleted: meta.deleted, heads: meta.heads })
    }

    pub fn list_households(&self, area_prefix: String, after: Option<String>, limit: u32) -> Result<HouseholdPage> {
        let (items, next) = split(self.lock().list_households(&area_prefix, &page(after, limit))?);
        Ok(HouseholdPage { items, next })
    }

    pub fn list_persons(&self, area_prefix: String, after: Option<String>, limit: u32) -> Result<PersonPage> {
        let (items, next) = split(self.lock().list_persons(&area_prefix, &page(after, limit))?);
        Ok(PersonPage { items, next })
    }

    pub fn list_visits(&self, area_prefix: String, after: Option<String>, limit: u32) -> Result<VisitPage> {
        let (items, next) = split(self.lock().list_visits(&area_prefix, &page(after, limit))?);
        Ok(VisitPage { items, next })
    }

    pub fn list_incidents(
        &self,
        area_prefix: String,
        filter: IncidentFilter,
        after: Option<String>,
        limit: u32,
    ) -> Result<IncidentPage> {
        let filter = match filter {
            IncidentFilter::All => CoreFilter::All,
            IncidentFilter::Status { status } => CoreFilter::Status(status),
            IncidentFilter::NeedsReview => CoreFilter::NeedsReview,
            IncidentFilter::OverdueAt { now } => CoreFilter::OverdueAt(now),
        };
        let (items, next) = split(self.lock().list_incidents(&area_prefix, filter, &page(after, limit))?);
        Ok(IncidentPage { items, next })
    }

    /// Records under `area_prefix` holding conflicting concurrent values.
    pub fn list_conflicted(&self, area_prefix: String, after: Option<String>, limit: u32) -> Result<ConflictedPage> {
        let (items, next) = split(self.lock().list_conflicted(&area_prefix, &page(after, limit))?);
        Ok(ConflictedPage { items, next })
    }

    pub fn household_members(&self, household_id: String) -> Result<Vec<PersonRow>> {
        Ok(self.lock().household_members(&household_id)?.into_iter().map(PersonRow::from).collect())
    }

    pub fn visits_of(&self, target_id: String) -> Result<Vec<VisitRow>> {
        Ok(self.lock().visits_of(&target_id)?.into_iter().map(VisitRow::from).collect())
    }

    /// Finds persons by 汉字 substring, full pinyin, pinyin initials (`wf` → 王芳), or the
    /// tail of an ID or phone number.
    pub fn search_persons(&self, query: String, area_prefix: String, limit: u32) -> Result<Vec<PersonRow>> {
        Ok(self.lock().search_persons(&query, &area_prefix, limit)?.into_iter().map(PersonRow::from).collect())
    }

    /// Who changed which field when.
    pub fn history(&self, id: String) -> Result<Vec<HistoryEntry>> {
        Ok(self.lock().history(&id)?.into_iter().map(HistoryEntry::from).collect())
    }

    /// The record's automerge document in automerge's own binary format (its whole
    /// history): what `@automerge/automerge` or any other implementation loads as it is,
    /// for a township's own tools or an archive.
    pub fn export_record(&self, id: String) -> Result<Vec<u8>> {
        Ok(self.lock().export_document(&id)?)
    }

    /// The record's fields holding conflicting concurrent values.
    pub fn conflicts(&self, id: String) -> Result<Vec<Conflict>> {
        Ok(self.lock().conflicts(&id)?.into_iter().map(Conflict::from).collect())
    }

    /// Settles a conflict by writing `value_json` (one of the listed values, as JSON) over
    /// every concurrent value.
    pub fn resolve(&self, id: String, field: String, value_json: String) -> Result<()> {
        let value: serde_json::Value = serde_json::from_str(&value_json)
            .map_err(|_| GridsyncError::from(ValidationError::new("value_json", Rule::Json)))?;
        self.write(Some(&id), |s| s.resolve(&id, &field, &value).map(|()| id.clone())).map(drop)
    }

    /// Enrols this phone with the center using a one-time code from the center staff.
    /// Blocking: call it on a background thread, or use `enrol_async`.
    pub fn enrol(
        &self,
        center_url: String,
        code: String,
        device_name: String,
        options: CenterOptions,
    ) -> Result<Enrolment> {
        let link = EnrolmentLink { center_url, code, ca_sha256: None };
        self.enrol_with(link, device_name, options, &client::CancelFlag::default())
    }

    /// Enrols this phone with what the console's enrolment QR code holds
    /// (`gridsync-enrol:v1?…`; read it first with `parseEnrolmentLink` to show the worker
    /// what it names). A link naming the township CA by its hash fetches the CA from the
    /// center and trusts it only if it matches (`options.caCertificate` is used instead
    /// when given). Blocking: call it on a background thread, or use
    /// `enrolFromLinkAsync`.
    pub fn enrol_from_link(&self, link: String, device_name: String, options: CenterOptions) -> Result<Enrolment> {
        let link = EnrolmentLink::parse(&link).map_err(gridsync_core::Error::from)?;
        self.enrol_with(link, device_name, options, &client::CancelFlag::default())
    }

    /// Pushes local changes and pulls the center's. Blocking: call it on a background
    /// thread, or use `sync_async`. Cancel with `cancel`: it lands within a fraction of a
    /// second, a request in flight or a retry's wait included; what completed is kept and
    /// the next sync resumes.
    pub fn sync(
        &self,
        options: CenterOptions,
        progress: Option<Arc<dyn SyncProgressListener>>,
        cancel: Arc<SyncCancel>,
    ) -> Result<SyncReport> {
        self.sync_with(options, progress, &cancel.0)
    }

    /// Compares this phone's records with the center's by digest and repairs what differs.
    pub fn verify(&self, options: CenterOptions, cancel: Arc<SyncCancel>) -> Result<VerifyReport> {
        self.verify_with(options, &cancel.0)
    }

    pub fn sync_status(&self) -> Result<SyncStatus> {
        Ok(self.lock().sync_status()?)
    }

    /// Local changes the center refused, with the reason.
    pub fn quarantined(&self) -> Result<Vec<QuarantinedChange>> {
        Ok(self.lock().quarantined()?.into_iter().map(QuarantinedChange::from).collect())
    }

    /// The enrolment this phone holds: device id, worker and scope; `None` before
    /// enrolment (or after a wipe). Read it here instead of caching it in the app.
    pub fn enrolment(&self) -> Result<Option<Enrolment>> {
        let store = self.lock();
        let Some(identity) = store.sync_identity()? else { return Ok(None) };
        Ok(Some(Enrolment {
            device_id: identity.device_id,
            worker_id: store.worker().to_owned(),
            scope: store.scope().map(|s| s.prefixes().to_vec()).unwrap_or_default(),
            role: store.duties().map(|d| d.role),
        }))
    }

    /// Erases every record, change and setting of this phone (a revoked, lost phone, or
    /// a worker leaving for good after everything reached the center). The app then
    /// deletes the database file and its key and returns to enrolment.
    pub fn wipe(&self) -> Result<()> {
        self.lock().wipe()?;
        self.listeners.notify(ChangeEvent::Wiped);
        Ok(())
    }

    /// Calls `listener` with every change event (`ChangeEvent`). The subscription stops
    /// when cancelled or dropped.
    pub fn subscribe(&self, listener: Arc<dyn ChangeListener>) -> Arc<Subscription> {
        Subscription::new(&self.listeners, listener)
    }
}
