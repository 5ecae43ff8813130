//! Photos between phones and a real center: uploaded after the records, resumed after
//! a cut link, fetched by a colleague, reachable only through a record in scope, and
//! every hostile upload refused with a 4xx and nothing kept (docs/protocol.md,
//! "Photos").

use automerge::ROOT;
use automerge::transaction::Transactable;
use gridsync_center::blobs::Held;
use gridsync_core::sample::Sample;
use gridsync_core::store::blob_hash;
use std::sync::atomic::Ordering::SeqCst;

use gridsync_core::client::{CancelFlag, ClientConfig, Phase, Progress, ProgressListener};
use gridsync_core::sync::wire::{
    self, BlobGetRequest, BlobName, BlobPutRequest, BlobState, BlobStatusRequest, BlobStatusResponse, ErrorBody,
    ErrorCode, MAX_BLOB_CHUNK, PushRequest,
};
use gridsync_core::{AreaCode, Attachment, BlobRef, Error, Kind, PHOTO_MEDIA_TYPE};
use gridsync_tests::proxy::{FaultProxy, Schedule};
use gridsync_tests::raw::{RawDevice, forged_change};
use gridsync_tests::{Figures, GRID_ONE, GRID_TWO, Phone, TestCenter, config};

fn micro(grid: &str) -> AreaCode {
    AreaCode::parse("area_code", &format!("{grid}01")).unwrap()
}

/// An incident in grid one with `photos` photos attached, not yet synced.
fn incident_with_photos(phone: &mut Phone, photos: u64) -> (String, Vec<Attachment>) {
    let id = phone.store.create(Sample::new(3).incident(&micro(GRID_ONE), 1, 1_000)).unwrap();
    let attached = (0..photos)
        .map(|n| phone.store.attach(&id, &Sample::new(n).photo(2400, 1800), &format!("现场照片{n}"), None).unwrap())
        .collect();
    (id, attached)
}

/// What the center holds of `hash`: stored, or what `phone` uploaded of it.
fn held(center: &TestCenter, phone: &Phone, hash: &str) -> Held {
    let device = phone.store.sync_identity().unwrap().unwrap().device_id;
    center.running.with(|c| c.blob_held(&device, hash)).unwrap()
}

#[test]
fn photos_follow_their_records_and_a_colleague_fetches_them() {
    let center = TestCenter::start();
    let mut phone = center.phone("w-one", &center.url());
    let (id, attached) = incident_with_photos(&mut phone, 2);
    let report = phone.sync().unwrap();
    assert_eq!(report.photos_sent, 4, "two photos and their thumbnails");
    let sizes: u64 = attached.iter().map(|a| a.blob.size + a.thumbnail.size).sum();
    assert_eq!(report.photo_bytes_sent, sizes, "each byte sent once on a clean link");
    assert!(phone.store.pending_blobs(10).unwrap().is_empty());
    assert!(phone.store.attachments(&id).unwrap().iter().all(|s| s.uploaded));
    for attachment in &attached {
        assert_eq!(held(&center, &phone, &attachment.blob.hash), Held::Stored { size: attachment.blob.size });
    }
    // Another sync sends nothing again.
    assert_eq!(phone.sync().unwrap().photo_bytes_sent, 0);

    // A colleague on the same grid sees the references, then fetches thumbnail and photo.
    let mut colleague = center.phone("w-one-b", &center.url());
    colleague.sync().unwrap();
    let states = colleague.store.attachments(&id).unwrap();
    assert_eq!(states.len(), 2);
    assert!(states.iter().all(|s| !s.photo_here && !s.thumbnail_here));
    for attachment in &attached {
        let cancel = CancelFlag::default();
        let thumbnail =
            colleague.client.fetch_blob(&mut colleague.store, &id, &attachment.thumbnail.hash, &cancel).unwrap();
        assert_eq!(blob_hash(&thumbnail), attachment.thumbnail.hash);
        let photo = colleague.client.fetch_blob(&mut colleague.store, &id, &attachment.blob.hash, &cancel).unwrap();
        assert_eq!(photo, phone.store.blob(&attachment.blob.hash).unwrap().unwrap(), "byte-identical");
    }
    assert!(colleague.store.attachments(&id).unwrap().iter().all(|s| s.photo_here && s.thumbnail_here));

    // A worker of another grid reaches none of it, whatever they name.
    let mut stranger = center.phone("w-two", &center.url());
    stranger.sync().unwrap();
    let err = stranger.client.fetch_blob(&mut stranger.store, &id, &attached[0].blob.hash, &CancelFlag::default());
    assert!(matches!(err, Err(Error::OutOfScope { .. })), "{err:?}");
}

/// Cancels the sync at the first photo chunk the center acknowledged.
struct CancelAtFirstPhotoChunk(CancelFlag);

impl ProgressListener for CancelAtFirstPhotoChunk {
    fn on_progress(&self, progress: &Progress) {
        if progress.phase == Phase::Photos && progress.photo_bytes_done > 0 {
            self.0.cancel();
        }
    }
}

#[test]
fn records_go_first_and_a_cut_photo_resumes_where_the_center_stands() {
    let center = TestCenter::start();
    let chunk: u32 = 32 << 10;
    let mut phone =
        Phone::enrol(&center.url(), &center.code("w-one"), ClientConfig { blob_chunk_bytes: chunk, ..config() });
    let (id, attached) = incident_with_photos(&mut phone, 1);
    let household = phone.store.create(Sample::new(9).household(&micro(GRID_ONE), 7)).unwrap();
    let cancel = CancelFlag::default();
    let stopped = phone.client.sync(&mut phone.store, &CancelAtFirstPhotoChunk(cancel.clone()), &cancel);
    assert!(matches!(stopped, Err(Error::Cancelled)), "{stopped:?}");
    // Every record is at the center; of the photo, one chunk.
    let mut colleague = center.phone("w-one-b", &center.url());
    colleague.sync().unwrap();
    assert!(colleague.store.record_meta(&household).is_ok());
    assert_eq!(colleague.store.attachments(&id).unwrap().len(), 1);
    let photo = &attached[0];
    assert_eq!(held(&center, &phone, &photo.blob.hash), Held::Partial(u64::from(chunk)));
    // The app is killed and comes back: the upload goes on from the center's count.
    let mut phone = phone.restart(config());
    let report = phone.sync().unwrap();
    assert_eq!(report.photo_bytes_sent, photo.blob.size - u64::from(chunk) + photo.thumbnail.size);
    assert_eq!(held(&center, &phone, &photo.blob.hash), Held::Stored { size: photo.blob.size });
}

/// Every byte arrived but the center stopped before it checked and kept them (found by
/// the kill trials: the phone then had nothing left to send, and the blob was never
/// kept): the next status finishes it.
#[test]
fn an_upload_whole_but_never_kept_is_finished_by_the_next_status() {
    let center = TestCenter::start();
    let mut phone = center.phone("w-one", &center.url());
    let (_, attached) = incident_with_photos(&mut phone, 1);
    let photo = &attached[0];
    phone.store.blob_uploaded(&photo.blob.hash).unwrap();
    phone.store.blob_uploaded(&photo.thumbnail.hash).unwrap();
    phone.sync().unwrap();
    // The center's folder holds the whole upload, as a center killed before its check left it.
    let bytes = phone.store.blob(&photo.blob.hash).unwrap().unwrap();
    let folder = gridsync_center::blobs::FsBlobStore::open(center.dir.path().join("blobs")).unwrap();
    use gridsync_center::blobs::BlobStore;
    let uploader = phone.store.sync_identity().unwrap().unwrap().device_id;
    folder.append(&uploader, &photo.blob.hash, 0, &bytes).unwrap();
    assert_eq!(held(&center, &phone, &photo.blob.hash), Held::Partial(photo.blob.size));
    let mut device = RawDevice::of_phone(&mut phone);
    let status = wire::encode(&BlobStatusRequest {
        blobs: vec![BlobName { record_id: attached_record(&phone, photo), hash: photo.blob.hash.clone() }],
    });
    let (code, answer) = device.post(&center, "/v1/blobs/status", &status);
    assert_eq!(code, 200);
    let answer: BlobStatusResponse = wire::decode(&answer).unwrap();
    assert_eq!(answer.blobs[0].state, BlobState::Stored);
    assert_eq!(held(&center, &phone, &photo.blob.hash), Held::Stored { size: photo.blob.size });
}

/// The record a phone's attachment belongs to.
fn attached_record(phone: &Phone, attachment: &Attachment) -> String {
    let incidents = phone.store.heads_in_area("").unwrap();
    incidents
        .into_iter()
        .map(|(id, _)| id)
        .find(|id| phone.store.attachments(id).is_ok_and(|a| a.iter().any(|s| s.attachment == *attachment)))
        .unwrap()
}

#[test]
fn cut_links_resend_at_most_a_chunk_and_every_photo_arrives_whole_once() {
    let mut figures = Figures::new("photos over cut links");
    let center = TestCenter::start();
    let proxy = FaultProxy::start(center.running.addr);
    let chunk: u32 = 16 << 10;
    let impatient = ClientConfig { retries: 1, blob_chunk_bytes: chunk, ..config() };
    let mut phone = Phone::enrol(&proxy.url(), &center.code("w-one"), impatient);
    phone.sync().unwrap();
    // Enrolled before the faults: replayed requests spend the address's budget of
    // failures, which enrolment checks.
    let mut colleague = center.phone("w-one-b", &center.url());
    let (id, attached) = incident_with_photos(&mut phone, 3);
    let total: u64 = attached.iter().map(|a| a.blob.size + a.thumbnail.size).sum();
    let (requests_before, bytes_before) = (proxy.faults.requests.load(SeqCst), proxy.faults.request_bytes.load(SeqCst));
    proxy.faults.set_schedule(Some(Schedule { seed: 11, drop_response: 15, cut_request: 15, delay: 5, duplicate: 10 }));
    let mut syncs = 0;
    while !phone.store.pending_blobs(10).unwrap().is_empty() {
        syncs += 1;
        assert!(syncs < 200, "the photos never arrived");
        match phone.sync() {
            Ok(_) | Err(Error::Network { retryable: true, .. }) => {}
            Err(other) => panic!("a sync failed with {other}"),
        }
    }
    proxy.faults.set_schedule(None);
    let faults = u64::from(proxy.faults.injected());
    assert!(faults > 5, "the schedule injected only {faults} faults");
    let requests = proxy.faults.requests.load(SeqCst) - requests_before;
    let sent = proxy.faults.request_bytes.load(SeqCst) - bytes_before;
    // What the phone sent: each photo byte once, at most one chunk again per fault, and
    // each request's own head and envelope (well under 1 KiB here).
    let bound = total + faults * u64::from(chunk) + requests * 1024;
    assert!(sent <= bound, "sent {sent} bytes for {total} photo bytes with {faults} faults in {requests} requests");
    for attachment in &attached {
        assert_eq!(held(&center, &phone, &attachment.blob.hash), Held::Stored { size: attachment.blob.size });
    }
    // Byte-identical at the center, as a colleague receives it.
    colleague.sync().unwrap();
    for attachment in &attached {
        let bytes =
            colleague.client.fetch_blob(&mut colleague.store, &id, &attachment.blob.hash, &CancelFlag::default());
        assert_eq!(bytes.unwrap(), phone.store.blob(&attachment.blob.hash).unwrap().unwrap());
    }
    figures.cases = syncs;
    figures.note("photo bytes", total);
    figures.note("bytes sent through the cut link", sent);
    figures.faults = faults;
    figures.note("requests", requests);
    figures.report();
}

/// What the center says to a raw blob request: the status and the error code.
fn refused(device: &mut RawDevice, center: &TestCenter, path: &str, body: &[u8]) -> (u16, Option<ErrorCode>) {
    let (status, answer) = device.post(center, path, body);
    (status, wire::decode::<ErrorBody>(&answer).ok().map(|e| e.code))
}

/// Pushes a reference to `bytes` under record `id` as the phone's actor would (a
/// tampered app): a valid reference, whatever the bytes are. Returns their hash.
fn forged_reference(center: &TestCenter, device: &mut RawDevice, actor: &str, id: &str, bytes: &[u8]) -> String {
    let hash = blob_hash(bytes);
    let blob = BlobRef { hash: hash.clone(), size: bytes.len() as u64 };
    let reference = Attachment {
        blob: blob.clone(),
        media_type: PHOTO_MEDIA_TYPE.into(),
        width: 100,
        height: 100,
        thumbnail: blob,
        caption: String::new(),
        taken_at: None,
        added_at: 1,
        added_by: "w-one".into(),
    };
    let json = serde_json::to_string(&reference).unwrap();
    let change =
        forged_change(center, id, Kind::Incident, actor, "w-one", |tx| tx.put(ROOT, reference.key(), json.as_str()));
    let body = wire::encode(&PushRequest { batch_id: uuid::Uuid::now_v7().to_string(), changes: vec![change] });
    assert_eq!(device.post(center, "/v1/push", &body).0, 200, "the reference itself is valid");
    hash
}

/// A small JPEG whose frame header declares `side`×`side` pixels.
fn jpeg_declaring(side: u16) -> Vec<u8> {
    let mut jpeg = Sample::new(1).photo(16, 16);
    let sof = jpeg.windows(2).position(|w| w == [0xff, 0xc0]).unwrap();
    jpeg[sof + 5..sof + 7].copy_from_slice(&side.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&side.to_be_bytes());
    jpeg
}

#[test]
fn hostile_uploads_are_refused_with_a_4xx_and_keep_nothing() {
    let mut figures = Figures::new("hostile photo uploads");
    let center = TestCenter::start();
    let mut phone = center.phone("w-one", &center.url());
    let (id, attached) = incident_with_photos(&mut phone, 1);
    phone.store.blob_uploaded(&attached[0].blob.hash).unwrap();
    phone.store.blob_uploaded(&attached[0].thumbnail.hash).unwrap();
    phone.sync().unwrap();
    let photo = phone.store.blob(&attached[0].blob.hash).unwrap().unwrap();
    let hash = attached[0].blob.hash.clone();
    let mut device = RawDevice::of_phone(&mut phone);
    let put = |offset: u64, total: u64, bytes: &[u8], hash: &str, record: &str| {
        wire::encode(&BlobPutRequest {
            record_id: record.to_owned(),
            hash: hash.to_owned(),
            offset,
            total,
            bytes: bytes.to_vec(),
        })
    };
    let size = photo.len() as u64;
    let mut expect = |answer: (u16, Option<ErrorCode>), code: ErrorCode, what: &str| {
        assert_eq!(answer.1, Some(code), "{what}: answered {}", answer.0);
        assert!((400..500).contains(&answer.0), "{what}: answered {}", answer.0);
        figures.cases += 1;
        figures.refused += 1;
    };
    // A chunk that does not start at what the center holds (nothing yet).
    expect(
        refused(&mut device, &center, "/v1/blobs/put", &put(10, size, &photo[10..20], &hash, &id)),
        ErrorCode::WrongOffset,
        "out of order",
    );
    // A chunk beyond the declared size, and a declared size over the bound.
    expect(
        refused(&mut device, &center, "/v1/blobs/put", &put(0, 5, &photo[..10], &hash, &id)),
        ErrorCode::BadRequest,
        "beyond its size",
    );
    expect(
        refused(&mut device, &center, "/v1/blobs/put", &put(0, 64 << 20, &photo[..10], &hash, &id)),
        ErrorCode::TooLarge,
        "oversized",
    );
    // A size other than the record states.
    expect(
        refused(&mut device, &center, "/v1/blobs/put", &put(0, size - 1, &photo[..10], &hash, &id)),
        ErrorCode::BadRequest,
        "size differs",
    );
    // A hash no record references, and a record of another grid.
    let other = blob_hash(b"elsewhere");
    expect(
        refused(&mut device, &center, "/v1/blobs/put", &put(0, 9, b"elsewhere", &other, &id)),
        ErrorCode::OutOfScope,
        "unreferenced",
    );
    let mut stranger = center.phone("w-two", &center.url());
    let theirs = stranger.store.create(Sample::new(4).incident(&micro(GRID_TWO), 2, 1_000)).unwrap();
    let their_photo = stranger.store.attach(&theirs, &Sample::new(8).photo(800, 600), "", None).unwrap();
    stranger.store.blob_uploaded(&their_photo.blob.hash).unwrap();
    stranger.store.blob_uploaded(&their_photo.thumbnail.hash).unwrap();
    stranger.sync().unwrap();
    expect(
        refused(
            &mut device,
            &center,
            "/v1/blobs/put",
            &put(0, their_photo.blob.size, b"x", &their_photo.blob.hash, &theirs),
        ),
        ErrorCode::OutOfScope,
        "out of scope",
    );
    let get = wire::encode(&BlobGetRequest {
        record_id: theirs.clone(),
        hash: their_photo.blob.hash.clone(),
        offset: 0,
        max_bytes: 1 << 16,
    });
    expect(refused(&mut device, &center, "/v1/blobs/get", &get), ErrorCode::OutOfScope, "download out of scope");
    let status = wire::encode(&BlobStatusRequest {
        blobs: vec![BlobName { record_id: theirs.clone(), hash: their_photo.blob.hash.clone() }],
    });
    let (code, answer) = device.post(&center, "/v1/blobs/status", &status);
    assert_eq!(code, 200);
    let answer: BlobStatusResponse = wire::decode(&answer).unwrap();
    assert_eq!(answer.blobs[0].state, BlobState::Unreferenced, "nothing says whether it exists elsewhere");
    // Bytes that do not hash to the name: dropped whole at the last chunk.
    let mut garbled = photo.clone();
    garbled[100] ^= 0xff;
    let half = photo.len() / 2;
    assert_eq!(device.post(&center, "/v1/blobs/put", &put(0, size, &garbled[..half], &hash, &id)).0, 200);
    expect(
        refused(&mut device, &center, "/v1/blobs/put", &put(half as u64, size, &garbled[half..], &hash, &id)),
        ErrorCode::BadRequest,
        "hash mismatch",
    );
    assert_eq!(held(&center, &phone, &hash), Held::Partial(0), "nothing of it kept");
    // A decompression bomb (a small file declaring 60,000×60,000 pixels) and a PNG
    // where a JPEG is stated: valid references, refused bytes.
    let actor = phone.store.device_actor();
    let mut png = Vec::new();
    image::RgbImage::new(8, 8).write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    for (bytes, what) in [(jpeg_declaring(60_000), "decompression bomb"), (png, "not a JPEG")] {
        let forged = forged_reference(&center, &mut device, &actor, &id, &bytes);
        let body = put(0, bytes.len() as u64, &bytes, &forged, &id);
        expect(refused(&mut device, &center, "/v1/blobs/put", &body), ErrorCode::BadRequest, what);
        assert_eq!(held(&center, &phone, &forged), Held::Partial(0), "{what}: nothing kept");
    }
    assert_eq!(held(&center, &phone, &other), Held::Partial(0));
    // The center kept serving: the honest upload goes through, and is served whole.
    assert_eq!(device.post(&center, "/v1/blobs/put", &put(0, size, &photo, &hash, &id)).0, 200);
    assert_eq!(held(&center, &phone, &hash), Held::Stored { size });
    figures.report();
}

/// Every stored blob under the center's photo folder is whole: its bytes hash to its
/// name. Returns how many there are.
fn every_stored_blob_is_whole(folder: &std::path::Path) -> usize {
    let mut count = 0;
    for prefix in std::fs::read_dir(folder.join("sha256")).unwrap() {
        for file in std::fs::read_dir(prefix.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            assert_eq!(blob_hash(&std::fs::read(&path).unwrap()), name, "a served blob is not whole");
            count += 1;
        }
    }
    count
}

/// A phone process killed mid-upload again and again, and the center process killed
/// mid-write now and then: no blob the center serves is ever partial, the phone's photos
/// all arrive whole once the kills stop, and nothing the phone attached is lost.
#[test]
fn photos_survive_kill_9_of_the_phone_and_of_the_center() {
    use crate::process::{Process, center_db};
    let mut figures = Figures::new("photo kill -9");
    let dir = tempfile::TempDir::new().unwrap();
    let log = dir.path().join("processes.log");
    let folder = dir.path().join("blobs");
    let folder_env = folder.to_str().unwrap().to_owned();
    let (db, codes, addr) = center_db(&dir, &["w-one", "w-one-b"]);
    let start_center = || {
        let process = Process::spawn_env(&["center", &db, &addr], &[("GRIDSYNC_BLOB_DIR", &folder_env)], &log);
        process.wait_for("listening");
        process
    };
    let mut center = start_center();
    let url = format!("http://{addr}");
    let mut phone = Phone::enrol(&url, &codes[0], config());
    let (first, _) = incident_with_photos(&mut phone, 2);
    let mut incidents = vec![first];
    let mut closed = phone.close();
    let (db_path, key) = (closed.path.to_str().unwrap().to_owned(), hex::encode(closed.key));
    let mut rng = Sample::new(17);
    let trials = gridsync_tests::env_count("GRIDSYNC_PHOTO_KILLS", 12);
    for trial in 0..trials {
        // A new report with a photo each time, so every trial has an upload to interrupt.
        let mut phone = closed.open(config());
        let id = phone.store.create(Sample::new(trial).incident(&micro(GRID_ONE), 10 + trial as u32, 1_000)).unwrap();
        phone.store.attach(&id, &Sample::new(100 + trial).photo(2400, 1800), "", None).unwrap();
        incidents.push(id);
        closed = phone.close();
        let uploader = Process::spawn(&["upload", &db_path, &key], &log);
        std::thread::sleep(std::time::Duration::from_millis(20 + rng.below(150)));
        if trial % 3 == 2 {
            center.kill();
            figures.faults += 1;
            every_stored_blob_is_whole(&folder);
            center = start_center();
        }
        std::thread::sleep(std::time::Duration::from_millis(rng.below(100)));
        let lines = uploader.kill();
        figures.faults += 1;
        figures.cases += 1;
        every_stored_blob_is_whole(&folder);
        if !lines.iter().any(|l| l == "uploaded") {
            figures.add("killed_mid_upload", 1);
        }
    }
    // The kills stop: the phone finishes, and every photo is at the center whole.
    let mut phone = closed.open(config());
    while !phone.store.pending_blobs(10).unwrap().is_empty() {
        phone.sync().unwrap();
    }
    let attached: Vec<(String, Attachment)> = incidents
        .iter()
        .flat_map(|id| phone.store.attachments(id).unwrap().into_iter().map(|state| (id.clone(), state.attachment)))
        .collect();
    assert_eq!(attached.len() as u64, 2 + trials, "nothing attached was lost");
    assert_eq!(every_stored_blob_is_whole(&folder), 2 * attached.len(), "each photo and thumbnail once");
    let mut colleague = Phone::enrol(&url, &codes[1], config());
    colleague.sync().unwrap();
    for (id, attachment) in &attached {
        let fetched =
            colleague.client.fetch_blob(&mut colleague.store, id, &attachment.blob.hash, &CancelFlag::default());
        assert_eq!(fetched.unwrap(), phone.store.blob(&attachment.blob.hash).unwrap().unwrap());
    }
    center.kill();
    figures.report();
}

/// A stolen phone of the same grid appends garbage to a colleague's upload of a photo
/// it can reach: before uploads were per device the garbage completed the upload, the
/// check dropped it, and the colleague started again at every sync. Now the garbage
/// lands in the attacker's own upload, and the colleague's resumes where it stood.
#[test]
fn another_device_cannot_spoil_an_upload_under_way() {
    let center = TestCenter::start();
    let chunk: u32 = 32 << 10;
    let mut phone =
        Phone::enrol(&center.url(), &center.code("w-one"), ClientConfig { blob_chunk_bytes: chunk, ..config() });
    let (id, attached) = incident_with_photos(&mut phone, 1);
    let cancel = CancelFlag::default();
    let stopped = phone.client.sync(&mut phone.store, &CancelAtFirstPhotoChunk(cancel.clone()), &cancel);
    assert!(matches!(stopped, Err(Error::Cancelled)), "{stopped:?}");
    let photo = &attached[0];
    assert_eq!(held(&center, &phone, &photo.blob.hash), Held::Partial(u64::from(chunk)));
    let mut attacker = gridsync_tests::raw::raw_device(&center, "w-one", &hex::encode([0x6bu8; 16]));
    let garbage = vec![0x5a; (photo.blob.size - u64::from(chunk)) as usize];
    let put = |offset: u64, bytes: &[u8]| {
        wire::encode(&BlobPutRequest {
            record_id: id.clone(),
            hash: photo.blob.hash.clone(),
            offset,
            total: photo.blob.size,
            bytes: bytes.to_vec(),
        })
    };
    // Where the colleague stands: not where the attacker's own (empty) upload does.
    let (status, code) = refused(&mut attacker, &center, "/v1/blobs/put", &put(u64::from(chunk), &garbage));
    assert_eq!((status, code), (409, Some(ErrorCode::WrongOffset)));
    assert_eq!(
        held(&center, &phone, &photo.blob.hash),
        Held::Partial(u64::from(chunk)),
        "the colleague's upload stands"
    );
    let report = phone.sync().unwrap();
    assert_eq!(
        report.photo_bytes_sent,
        photo.blob.size - u64::from(chunk) + photo.thumbnail.size,
        "resumed, not restarted"
    );
    assert_eq!(held(&center, &phone, &photo.blob.hash), Held::Stored { size: photo.blob.size });
}

/// Uploads begun and never finished are bounded per device: a stolen phone that
/// references photos in its own records and sends each but its last chunk is refused
/// past the quota, and an honest phone's photo still goes through.
#[test]
fn unfinished_uploads_are_bounded_per_device() {
    use gridsync_center::photos::MAX_UPLOAD_BYTES_IN_FLIGHT;
    let rates = gridsync_center::limits::Rates {
        device: gridsync_center::limits::Rate { per_second: 1_000.0, burst: 1_000.0 },
        ..gridsync_center::limits::Rates::default()
    };
    let center = TestCenter::start_with_rates(rates);
    let mut phone = center.phone("w-one", &center.url());
    let (id, _) = incident_with_photos(&mut phone, 1);
    phone.sync().unwrap();
    let mut attacker = RawDevice::of_phone(&mut phone);
    let actor = phone.store.device_actor();
    let (mut in_flight, mut refused_at) = (0u64, None);
    for n in 0..(MAX_UPLOAD_BYTES_IN_FLIGHT / gridsync_core::MAX_BLOB_BYTES + 2) {
        let junk = vec![n as u8; gridsync_core::MAX_BLOB_BYTES as usize];
        let hash = forged_reference(&center, &mut attacker, &actor, &id, &junk);
        for offset in (0..junk.len() - MAX_BLOB_CHUNK as usize).step_by(MAX_BLOB_CHUNK as usize) {
            let bytes = &junk[offset..offset + MAX_BLOB_CHUNK as usize];
            let body = wire::encode(&BlobPutRequest {
                record_id: id.clone(),
                hash: hash.clone(),
                offset: offset as u64,
                total: junk.len() as u64,
                bytes: bytes.to_vec(),
            });
            match refused(&mut attacker, &center, "/v1/blobs/put", &body) {
                (200, _) => in_flight += bytes.len() as u64,
                (413, Some(ErrorCode::TooLarge)) => {
                    refused_at = Some(in_flight);
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        if refused_at.is_some() {
            break;
        }
    }
    let refused_at = refused_at.expect("the quota was reached");
    assert!(refused_at <= MAX_UPLOAD_BYTES_IN_FLIGHT, "{refused_at} bytes in flight");
    // A colleague's phone is not this device: its photo goes through.
    let mut colleague = center.phone("w-one-b", &center.url());
    let (_, attached) = incident_with_photos(&mut colleague, 1);
    colleague.sync().unwrap();
    assert_eq!(held(&center, &colleague, &attached[0].blob.hash), Held::Stored { size: attached[0].blob.size });
}
