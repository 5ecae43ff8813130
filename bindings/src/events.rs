//! Change notifications: the app subscribes a listener and holds the returned
//! subscription; closing or dropping it stops the calls.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// What changed, for a screen to refresh only what it shows.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum ChangeEvent {
    /// Records written on this phone.
    Written { record_ids: Vec<String> },
    /// A sync finished: what it brought and what now needs a person.
    SyncFinished {
        /// Local changes the center now holds.
        pushed: u64,
        /// Changes and documents that arrived.
        pulled: u64,
        /// Local changes the center refused (see `quarantined`).
        quarantined: u64,
        /// Records with conflicting values to resolve, after the sync.
        conflicted: u64,
    },
    /// A sync failed; nothing it had completed is lost. Show `message_zh`.
    SyncFailed { code: String, message_zh: String },
    /// The center ordered this phone's data erased; return to enrolment.
    Wiped,
}

/// Told about changes so screens can refresh.
#[uniffi::export(foreign)]
pub trait ChangeListener: Send + Sync {
    fn on_change(&self, event: ChangeEvent);
}

#[derive(Default)]
pub(crate) struct Listeners {
    next_id: AtomicU64,
    active: Mutex<Vec<(u64, Arc<dyn ChangeListener>)>>,
}

impl Listeners {
    pub(crate) fn notify(&self, event: ChangeEvent) {
        // Call outside the lock: a listener may subscribe or close from its callback.
        let listeners: Vec<_> = self.lock().iter().map(|(_, l)| l.clone()).collect();
        for listener in listeners {
            listener.on_change(event.clone());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Arc<dyn ChangeListener>)>> {
        self.active.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A live subscription; `cancel()`, or dropping it (Kotlin `close()`, Python `del`,
/// Swift releasing it), stops notifications.
#[derive(uniffi::Object)]
pub struct Subscription {
    id: u64,
    listeners: Weak<Listeners>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").field("id", &self.id).finish()
    }
}

impl Subscription {
    pub(crate) fn new(listeners: &Arc<Listeners>, listener: Arc<dyn ChangeListener>) -> Arc<Self> {
        let id = listeners.next_id.fetch_add(1, Ordering::Relaxed);
        listeners.lock().push((id, listener));
        Arc::new(Self { id, listeners: Arc::downgrade(listeners) })
    }
}

#[uniffi::export]
impl Subscription {
    /// Stops notifications now.
    pub fn cancel(&self) {
        if let Some(listeners) = self.listeners.upgrade() {
            listeners.lock().retain(|(id, _)| *id != self.id);
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.cancel();
    }
}
