//! Any bytes as changes pushed to the center: a clean refusal or an accepted change,
//! never a panic, and a refused batch stores nothing.
#![no_main]

use std::sync::{Mutex, OnceLock};

use gridsync_core::ids::TownshipKey;
use gridsync_core::store::{Pusher, RemoteChange};
use gridsync_core::{DbKey, Kind, Scope, Store};
use libfuzzer_sys::fuzz_target;

const KINDS: [Kind; 4] = [Kind::Household, Kind::Person, Kind::Visit, Kind::Incident];

fn center() -> &'static Mutex<Store> {
    static CENTER: OnceLock<Mutex<Store>> = OnceLock::new();
    CENTER.get_or_init(|| {
        // libfuzzer-sys aborts in its panic hook, before gridsync's guard around
        // automerge can catch a panic; a panic that escapes the guard still aborts,
        // from libfuzzer-sys's own catch_unwind.
        std::panic::set_hook(Box::new(|_| {}));
        let dir = tempfile::TempDir::new().expect("a temporary folder").keep();
        Mutex::new(Store::open(dir.join("center.db"), DbKey::Raw(&[2; 32])).expect("a store"))
    })
}

fuzz_target!(|data: &[u8]| {
    // Up to four changes, each `kind byte, length byte, bytes`.
    let mut changes = Vec::new();
    let mut rest = data;
    while let [selector, length, tail @ ..] = rest {
        let take = usize::from(*length).min(tail.len());
        let kind = KINDS[usize::from(*selector) % KINDS.len()];
        let record_id = format!("0190f0f0-0000-7000-8000-00000000000{}", selector % 4);
        changes.push(RemoteChange { record_id, kind, bytes: tail[..take].to_vec() });
        rest = &tail[take..];
        if changes.len() == 4 {
            break;
        }
    }
    let scope = Scope::new(["440106012"]).expect("a scope");
    let mut center = center().lock().expect("the center");
    let before = center.max_seq().expect("max seq");
    // Claim the first parsable change's author, so pushes get past the author check to
    // the checks behind it.
    let first = changes.iter().find_map(|c| automerge::Change::from_bytes(c.bytes.clone()).ok());
    let author = first.as_ref().map_or_else(|| "00".to_owned(), |c| c.actor_id().to_hex_string());
    let worker = first.as_ref().and_then(|c| c.message().map(str::to_owned)).unwrap_or_default();
    let key = TownshipKey::new(b"fuzz-township-key-0123456789");
    let pusher = Pusher { device: "fuzz", actor: &author, worker: &worker, scope: &scope, township_key: &key, area_registered: &|_| true };
    let refused = match center.accept_push(&pusher, &changes) {
        Ok(outcome) => !outcome.rejected.is_empty(),
        Err(_) => true,
    };
    if refused {
        assert_eq!(center.max_seq().expect("max seq"), before, "a refused push stored something");
    }
});
