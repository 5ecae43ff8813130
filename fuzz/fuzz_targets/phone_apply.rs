//! Any bytes as a pulled change and as a pulled document, applied on a phone's store: a
//! clean error or an applied change, never a panic.
#![no_main]

use std::sync::{Mutex, OnceLock};

use gridsync_core::store::RemoteChange;
use gridsync_core::sync::wire::Snapshot;
use gridsync_core::{DbKey, Kind, Store};
use libfuzzer_sys::fuzz_target;

const KINDS: [Kind; 4] = [Kind::Household, Kind::Person, Kind::Visit, Kind::Incident];

fn store() -> &'static Mutex<Store> {
    static STORE: OnceLock<Mutex<Store>> = OnceLock::new();
    STORE.get_or_init(|| {
        // libfuzzer-sys aborts in its panic hook, before gridsync's guard around
        // automerge can catch a panic; a panic that escapes the guard still aborts,
        // from libfuzzer-sys's own catch_unwind.
        std::panic::set_hook(Box::new(|_| {}));
        let dir = tempfile::TempDir::new().expect("a temporary folder").keep();
        Mutex::new(Store::open(dir.join("phone.db"), DbKey::Raw(&[1; 32])).expect("a store"))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else { return };
    let kind = KINDS[usize::from(selector) % KINDS.len()];
    let record_id = "0190f0f0-0000-7000-8000-000000000001".to_owned();
    let mut store = store().lock().expect("the store");
    let change = RemoteChange { record_id: record_id.clone(), kind, bytes: bytes.to_vec() };
    let _ = store.apply_remote(&[change]);
    let _ = store.apply_snapshots(&[Snapshot { record_id, kind, document: bytes.to_vec() }]);
});
