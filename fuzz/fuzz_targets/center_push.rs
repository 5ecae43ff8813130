//! Any bytes as changes pushed to the center (its rules over the embedded storage): a
//! clean refusal or an accepted change, never a panic, and a refused batch stores
//! nothing.
#![no_main]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use gridsync_center::Center;
use gridsync_center::center::Device;
use gridsync_core::store::RemoteChange;
use gridsync_core::sync::wire::PushRequest;
use gridsync_core::{Kind, Scope};
use libfuzzer_sys::fuzz_target;

const KINDS: [Kind; 4] = [Kind::Household, Kind::Person, Kind::Visit, Kind::Incident];

fn center() -> &'static Center {
    static CENTER: OnceLock<Center> = OnceLock::new();
    CENTER.get_or_init(|| {
        // libfuzzer-sys aborts in its panic hook, before gridsync's guard around
        // automerge can catch a panic; a panic that escapes the guard still aborts,
        // from libfuzzer-sys's own catch_unwind.
        std::panic::set_hook(Box::new(|_| {}));
        let dir = tempfile::TempDir::new().expect("a temporary folder").keep();
        Center::open(&dir.join("center.db")).expect("a center")
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
    let center = center();
    let before = center.max_seq().expect("max seq");
    // Claim the first parsable change's author, so pushes get past the author check to
    // the checks behind it.
    let first = changes.iter().find_map(|c| automerge::Change::from_bytes(c.bytes.clone()).ok());
    let actor = first.as_ref().map_or_else(|| "00".to_owned(), |c| c.actor_id().to_hex_string());
    let worker_id = first.as_ref().and_then(|c| c.message().map(str::to_owned)).unwrap_or_default();
    let device = Device {
        id: "fuzz".into(),
        worker_id,
        actor,
        scope: Scope::new(["440106012"]).expect("a scope"),
        role: gridsync_core::Role::GridWorker,
    };
    // A new batch id each time: a repeated one would be answered from the record.
    static BATCH: AtomicU64 = AtomicU64::new(0);
    let request = PushRequest { batch_id: BATCH.fetch_add(1, Ordering::Relaxed).to_string(), changes };
    let refused = !matches!(center.push(&device, &request), Ok((_, false)));
    if refused {
        assert_eq!(center.max_seq().expect("max seq"), before, "a refused push stored something");
    }
});
