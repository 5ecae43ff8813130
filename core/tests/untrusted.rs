//! Untrusted bytes at every door of a phone, as property tests: envelopes, change bytes
//! applied on a phone (a pull), and compacted documents (a bootstrap),
//! each valid and then corrupted, truncated, relabelled or replaced by junk. Nothing
//! panics, an error leaves the store exactly as it was, and inputs that ever crashed a
//! decoder (`fixtures/untrusted/`) keep failing cleanly. The center's door (a push) has
//! its own in center/tests/push_rules.rs; the cargo-fuzz targets in `fuzz/` drive
//! the same functions with coverage guidance.

#![allow(clippy::unwrap_used)] // a failure here is a test failure

mod common;

use std::sync::OnceLock;

use common::spoil::{apply_spoil, spoil};
use common::{Replica, grid};
use gridsync_core::doc::RecordDoc;
use gridsync_core::sample::{Sample, follow_up};
use gridsync_core::store::{ChangeAudit, RemoteChange};
use gridsync_core::sync::wire::{self, Snapshot};
use gridsync_core::{Kind, Step, Store, photo};
use proptest::prelude::*;

/// Real changes and documents of every kind, made once.
fn material() -> &'static (Vec<RemoteChange>, Vec<Snapshot>) {
    static MATERIAL: OnceLock<(Vec<RemoteChange>, Vec<Snapshot>)> = OnceLock::new();
    MATERIAL.get_or_init(|| {
        let mut source = Replica::new("w-source");
        let mut sample = Sample::new(31);
        let household = source.store.create(sample.household(&grid(), 1)).unwrap();
        source.store.create(sample.person(&grid(), Some((&household, "02")))).unwrap();
        let incident = source.store.create(sample.incident(&grid(), 1, 1_760_000_000_000)).unwrap();
        source.store.append_follow_up(&incident, follow_up(Step::Report, "w-source", 1_760_000_000_000)).unwrap();
        let changes: Vec<RemoteChange> =
            source.store.changes_after(0, u32::MAX).unwrap().into_iter().map(|(_, c)| c).collect();
        let mut by_record: std::collections::BTreeMap<&str, (Kind, Vec<&[u8]>)> = Default::default();
        for change in &changes {
            by_record.entry(&change.record_id).or_insert((change.kind, Vec::new())).1.push(&change.bytes);
        }
        let actor = automerge::ActorId::from([7u8; 16]);
        let snapshots = by_record
            .into_iter()
            .map(|(id, (kind, bytes))| {
                let doc = RecordDoc::load(kind, &actor, None, bytes).unwrap();
                Snapshot { record_id: id.to_owned(), kind, document: doc.save() }
            })
            .collect();
        (changes, snapshots)
    })
}

fn snapshot_of(store: &Store) -> (ChangeAudit, Vec<(String, Vec<u8>)>) {
    (store.change_audit().unwrap(), store.heads_in_area("").unwrap())
}

/// Runs `apply` and checks: no panic (the harness catches one), and on an error the
/// store is as it was.
fn unchanged_on_error<T>(store: &mut Store, apply: impl FnOnce(&mut Store) -> gridsync_core::Result<T>) {
    let before = snapshot_of(store);
    if apply(store).is_err() {
        assert_eq!(snapshot_of(store), before, "an error left something behind");
    }
}

proptest! {
    // PROPTEST_CASES (the README's long run) overrides the default of 64.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    #[test]
    fn spoiled_changes_and_documents_fail_cleanly_on_a_phone(
        which in any::<prop::sample::Index>(),
        spoils in prop::collection::vec(spoil(), 1..3),
        keep_valid in any::<bool>(),
    ) {
        let (changes, snapshots) = material();
        let mut spoiled = changes.clone();
        let target = which.index(spoiled.len());
        let mut documents = snapshots.clone();
        let doc_target = which.index(documents.len());
        for spoil in &spoils {
            let change = &mut spoiled[target];
            apply_spoil(&mut change.bytes, &mut change.kind, spoil);
            let document = &mut documents[doc_target];
            apply_spoil(&mut document.document, &mut document.kind, spoil);
        }
        if !keep_valid {
            spoiled = vec![spoiled[target].clone()];
        }

        // A phone pulling them.
        let mut phone = Replica::new("w-phone");
        unchanged_on_error(&mut phone.store, |s| s.apply_remote(&spoiled));
        let mut fresh = Replica::new("w-fresh");
        unchanged_on_error(&mut fresh.store, |s| s.apply_snapshots(&documents));
        // The same bytes as envelopes of every message.
        decode_everything(&spoiled[0].bytes);
    }

    /// A photo corrupted anywhere (a flipped byte, a cut, junk spliced in) is refused
    /// with a typed error or read whole; the center decodes every upload this way.
    #[test]
    fn spoiled_photos_fail_cleanly(
        at in any::<prop::sample::Index>(),
        junk in prop::collection::vec(any::<u8>(), 0..64),
        cut in any::<bool>(),
    ) {
        let mut bytes = small_photo().to_vec();
        let index = at.index(bytes.len());
        if cut {
            bytes.truncate(index);
        }
        bytes.splice(index.min(bytes.len())..index.min(bytes.len()), junk);
        if let Ok((width, height)) = photo::check_stored(&bytes) {
            prop_assert!(width <= 8_192 && height <= 8_192);
        }
        let _ = photo::prepare(&bytes, &photo::PhotoOptions::default());
    }
}

/// A small photo as a phone stores it.
fn small_photo() -> &'static [u8] {
    static PHOTO: OnceLock<Vec<u8>> = OnceLock::new();
    PHOTO.get_or_init(|| {
        photo::prepare(&Sample::new(3).photo(64, 48), &photo::PhotoOptions::default()).unwrap().photo.bytes
    })
}

/// Every message type decoded from `bytes`, raw and behind a valid header.
fn decode_everything(bytes: &[u8]) {
    let mut framed = b"GSY\x01\x00\x00".to_vec();
    framed.extend_from_slice(bytes);
    let mut compressed = b"GSY\x01\x00\x01".to_vec();
    compressed.extend_from_slice(bytes);
    for input in [bytes, &framed, &compressed] {
        let _ = wire::decode::<wire::PushRequest>(input);
        let _ = wire::decode::<wire::PushResponse>(input);
        let _ = wire::decode::<wire::PullRequest>(input);
        let _ = wire::decode::<wire::PullResponse>(input);
        let _ = wire::decode::<wire::EnrolRequest>(input);
        let _ = wire::decode::<wire::ErrorBody>(input);
        let _ = wire::decode::<wire::FetchResponse>(input);
        let _ = wire::decode::<wire::BlobStatusResponse>(input);
        let _ = wire::decode::<wire::BlobPutRequest>(input);
        let _ = wire::decode::<wire::BlobGetResponse>(input);
        // The same bytes as a photo: refused or read, never a panic.
        let _ = photo::check_stored(input);
        let _ = photo::prepare(input, &photo::PhotoOptions::default());
    }
}

#[test]
fn inputs_that_once_crashed_keep_failing_cleanly() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/untrusted");
    let mut count = 0;
    let mut phone = Replica::new("w-phone");
    let record_id = material().0[0].record_id.clone();
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        decode_everything(&bytes);
        for kind in [Kind::Household, Kind::Person, Kind::Visit, Kind::Incident] {
            let change = RemoteChange { record_id: record_id.clone(), kind, bytes: bytes.clone() };
            unchanged_on_error(&mut phone.store, |s| s.apply_remote(&[change]));
            let document = Snapshot { record_id: record_id.clone(), kind, document: bytes.clone() };
            unchanged_on_error(&mut phone.store, |s| s.apply_snapshots(&[document]));
        }
        count += 1;
    }
    assert!(count >= 3, "the fixtures are there");
}
