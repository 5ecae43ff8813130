//! Photos on the phone: attached with the record change that names them, kept once per
//! hash, merged like any field, bounded by a quota and a cache (docs/data-model.md,
//! "Photos").

#![allow(clippy::unwrap_used)] // a failure here is a test failure

mod common;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, ROOT};
use common::{Replica, exchange, grid};
use gridsync_core::doc::RecordDoc;
use gridsync_core::sample::Sample;
use gridsync_core::store::{PhotoLimits, blob_hash};
use gridsync_core::sync::wire::RejectCode;
use gridsync_core::{Attachment, Error, Kind, Rule, rules};

fn incident(replica: &mut Replica) -> String {
    replica.store.create(Sample::new(1).incident(&grid(), 1, 1_000)).unwrap()
}

fn photo(seed: u64) -> Vec<u8> {
    Sample::new(seed).photo(2000, 1500)
}

#[test]
fn a_photo_is_kept_with_the_change_that_names_it() {
    let mut phone = Replica::new("w-li");
    let id = incident(&mut phone);
    let attachment = phone.store.attach(&id, &photo(1), " 排水沟堵塞 ", Some(900)).unwrap();
    assert_eq!(attachment.caption, "排水沟堵塞");
    assert_eq!((attachment.width, attachment.height), (1600, 1200));
    assert_eq!(attachment.added_by, "w-li");
    let mut phone = phone.reopen();
    let states = phone.store.attachments(&id).unwrap();
    assert_eq!(states.len(), 1);
    assert!(states[0].photo_here && states[0].thumbnail_here && !states[0].uploaded);
    let bytes = phone.store.blob(&attachment.blob.hash).unwrap().unwrap();
    assert_eq!(blob_hash(&bytes), attachment.blob.hash);
    assert_eq!(bytes.len() as u64, attachment.blob.size);
    let pending = phone.store.pending_blobs(10).unwrap();
    assert_eq!(pending.len(), 2, "the photo and its thumbnail wait for upload");
    assert!(pending.iter().all(|p| p.record_id == id));
    assert_eq!(phone.store.pending_blob_bytes().unwrap(), attachment.blob.size + attachment.thumbnail.size);
    // The same photo again: the same reference, kept once.
    let again = phone.store.attach(&id, &photo(1), "另一个说明", None).unwrap();
    assert_eq!(again, attachment);
    assert_eq!(phone.store.attachments(&id).unwrap().len(), 1);
    assert_eq!(phone.store.pending_blobs(10).unwrap().len(), 2);
}

#[test]
fn photos_from_two_phones_all_survive_and_the_same_photo_is_shown_once() {
    let (mut a, mut b) = (Replica::new("w-a"), Replica::new("w-b"));
    let id = incident(&mut a);
    exchange(&mut a, &mut b);
    a.store.attach(&id, &photo(1), "A 拍的", None).unwrap();
    b.store.attach(&id, &photo(2), "B 拍的", None).unwrap();
    // Both attach the same photo too (forwarded in a chat group, say).
    a.store.attach(&id, &photo(3), "同一张", None).unwrap();
    b.store.attach(&id, &photo(3), "同一张", None).unwrap();
    exchange(&mut a, &mut b);
    let hashes = |r: &Replica| -> Vec<String> {
        r.store.attachments(&id).unwrap().into_iter().map(|s| s.attachment.blob.hash).collect()
    };
    assert_eq!(hashes(&a).len(), 3);
    assert_eq!(hashes(&a), hashes(&b));
    // A photo another phone took is named, not here: it is fetched when opened.
    let theirs = b.store.attachments(&id).unwrap().into_iter().find(|s| s.attachment.caption == "A 拍的").unwrap();
    assert!(!theirs.photo_here && theirs.uploaded, "not this phone's to upload");
}

#[test]
fn only_incidents_and_visits_hold_photos_and_a_refusal_stores_nothing() {
    let mut phone = Replica::new("w-li");
    let person = phone.store.create(common::wang_fang()).unwrap();
    let err = phone.store.attach(&person, &photo(1), "", None).unwrap_err();
    assert!(matches!(&err, Error::Invalid(v) if v.kind == Rule::PhotoKind), "{err:?}");
    // Refused for its kind before any decoding, whatever the bytes.
    let err = phone.store.attach(&person, b"not a photo", "", None).unwrap_err();
    assert!(matches!(&err, Error::Invalid(v) if v.kind == Rule::PhotoKind), "{err:?}");
    let id = incident(&mut phone);
    let heads = phone.store.record_meta(&id).unwrap().heads;
    let err = phone.store.attach(&id, b"not a photo", "", None).unwrap_err();
    assert!(matches!(&err, Error::Invalid(v) if v.kind == Rule::PhotoFormat), "{err:?}");
    assert_eq!(phone.store.record_meta(&id).unwrap().heads, heads);
    assert!(phone.store.pending_blobs(10).unwrap().is_empty());
}

#[test]
fn the_quota_refuses_a_photo_and_keeps_the_record_as_it_was() {
    let mut phone = Replica::new("w-li");
    let id = incident(&mut phone);
    phone.store.attach(&id, &photo(1), "", None).unwrap();
    // Room for one photo and a half.
    let quota = phone.store.pending_blob_bytes().unwrap() * 3 / 2;
    phone.store.set_photo_limits(PhotoLimits { pending_quota: quota, ..PhotoLimits::default() });
    let heads = phone.store.record_meta(&id).unwrap().heads;
    let err = phone.store.attach(&id, &photo(2), "", None).unwrap_err();
    assert!(matches!(err, Error::PhotoQuotaFull { quota: q, .. } if q == quota), "{err:?}");
    assert_eq!(err.code(), "attachment.quota_full");
    assert_eq!(phone.store.record_meta(&id).unwrap().heads, heads, "no change was written");
    assert_eq!(phone.store.attachments(&id).unwrap().len(), 1);
    // Once the center holds the first, there is room again.
    for blob in phone.store.pending_blobs(10).unwrap() {
        phone.store.blob_uploaded(&blob.hash).unwrap();
    }
    phone.store.attach(&id, &photo(2), "", None).unwrap();
}

#[test]
fn the_cache_drops_the_longest_unread_and_never_what_waits_for_upload() {
    let mut phone = Replica::new("w-li");
    let id = incident(&mut phone);
    phone.store.set_photo_limits(PhotoLimits { cache: 450_000, ..PhotoLimits::default() });
    let first = phone.store.attach(&id, &photo(1), "", None).unwrap();
    let second = phone.store.attach(&id, &photo(2), "", None).unwrap();
    let third = phone.store.attach(&id, &photo(3), "", None).unwrap();
    assert!(first.blob.size + second.blob.size + third.blob.size > 450_000, "the test needs a full cache");
    // Nothing is evicted while it waits for upload, whatever the cache's bound.
    for attachment in [&first, &second, &third] {
        assert!(phone.store.blob(&attachment.blob.hash).unwrap().is_some());
    }
    for blob in phone.store.pending_blobs(10).unwrap() {
        phone.store.blob_uploaded(&blob.hash).unwrap();
    }
    let here = |phone: &mut Replica, hash: &str| phone.store.blob(hash).unwrap().is_some();
    assert!(!here(&mut phone, &first.blob.hash), "the longest unread went first");
    assert!(here(&mut phone, &third.blob.hash));
    assert!(here(&mut phone, &third.thumbnail.hash), "small and read last: kept");
}

#[test]
fn a_download_resumes_by_offset_and_keeps_only_bytes_that_match_their_hash() {
    let mut phone = Replica::new("w-li");
    let bytes = photo(5);
    let hash = blob_hash(&bytes);
    let total = bytes.len() as u64;
    assert!(phone.store.save_download(&hash, 0, &bytes[..1000], total).unwrap().is_none());
    assert_eq!(phone.store.download_offset(&hash).unwrap(), 1000);
    // A chunk that does not follow is refused, and what was received stays.
    assert!(matches!(phone.store.save_download(&hash, 500, &bytes[500..900], total), Err(Error::Protocol(_))));
    let phone = phone.reopen();
    let mut phone = phone;
    assert_eq!(phone.store.download_offset(&hash).unwrap(), 1000, "a download survives a restart");
    let done = phone.store.save_download(&hash, 1000, &bytes[1000..], total).unwrap().unwrap();
    assert_eq!(done, bytes);
    assert_eq!(phone.store.blob(&hash).unwrap().unwrap(), bytes);
    assert_eq!(phone.store.download_offset(&hash).unwrap(), 0);
    // Bytes that are not the blob they claim to be are dropped.
    let other = blob_hash(b"something else");
    assert!(matches!(phone.store.save_download(&other, 0, &bytes[..100], 100), Err(Error::Protocol(_))));
    assert!(phone.store.blob(&other).unwrap().is_none());
    assert_eq!(phone.store.download_offset(&other).unwrap(), 0);
}

/// The record rules: a reference is never removed, sits under its own hash, and only on
/// incidents and visits.
#[test]
fn the_rules_refuse_a_removed_or_misplaced_reference() {
    let mut phone = Replica::new("w-li");
    let id = incident(&mut phone);
    let attachment = phone.store.attach(&id, &photo(1), "", None).unwrap();
    let document = phone.store.export_document(&id).unwrap();
    let change_with = |edit: &dyn Fn(&mut automerge::transaction::Transaction<'_>)| {
        let mut doc = Automerge::load(&document).unwrap();
        let mut tx = doc.transaction();
        edit(&mut tx);
        tx.commit();
        doc.get_last_local_change().unwrap().clone()
    };
    let key = attachment.key();
    let removed = change_with(&|tx| tx.delete(ROOT, key.as_str()).unwrap());
    assert_eq!(rules::check_change(Kind::Incident, &removed).unwrap_err().code, RejectCode::Immutable);
    let json = serde_json::to_string(&attachment).unwrap();
    let elsewhere = change_with(&|tx| tx.put(ROOT, format!("attachment.{}", "0".repeat(64)), json.as_str()).unwrap());
    assert_eq!(rules::check_change(Kind::Incident, &elsewhere).unwrap_err().code, RejectCode::Invalid);
    let object = change_with(&|tx| {
        tx.put_object(ROOT, key.as_str(), automerge::ObjType::Map).unwrap();
    });
    assert_eq!(rules::check_change(Kind::Incident, &object).unwrap_err().code, RejectCode::BadShape);
    let honest =
        change_with(&|tx| tx.put(ROOT, key.as_str(), json.replace("\"caption\":\"\"", "\"caption\":\"新\"")).unwrap());
    assert!(rules::check_change(Kind::Incident, &honest).is_ok(), "a caption may be corrected");
    assert_eq!(rules::check_change(Kind::Person, &honest).unwrap_err().code, RejectCode::BadShape);
}

/// Once applied: a reference names its change's worker, and written again keeps the
/// photo it names (size, dimensions, thumbnail); only the caption and time change.
#[test]
fn a_reference_written_again_keeps_its_photo_and_its_worker() {
    let mut phone = Replica::new("w-li");
    let id = incident(&mut phone);
    let attachment = phone.store.attach(&id, &photo(1), "", None).unwrap();
    let document = phone.store.export_document(&id).unwrap();
    let judged = |worker: &str, edit: &dyn Fn(&mut Attachment)| {
        let mut doc = Automerge::load(&document).unwrap();
        let mut changed = attachment.clone();
        edit(&mut changed);
        let mut tx = doc.transaction();
        tx.put(ROOT, changed.key(), serde_json::to_string(&changed).unwrap()).unwrap();
        tx.commit_with(CommitOptions::default().with_message(worker));
        let change = doc.get_last_local_change().unwrap().clone();
        rules::check_change(Kind::Incident, &change)?;
        let mut record = RecordDoc::load(Kind::Incident, &ActorId::random(), Some(&document), []).unwrap();
        record.apply_changes(vec![change.clone()]).unwrap();
        rules::check_photos(&record, &change)
    };
    assert!(judged("w-li", &|a| a.caption = "灯杆底座".into()).is_ok(), "a caption corrected");
    assert_eq!(judged("w-li", &|a| a.width += 1).unwrap_err().code, RejectCode::Immutable);
    assert_eq!(judged("w-li", &|a| a.thumbnail.size += 1).unwrap_err().code, RejectCode::Immutable);
    assert_eq!(judged("w-wang", &|a| a.caption = "x".into()).unwrap_err().code, RejectCode::WrongWorker);
}
