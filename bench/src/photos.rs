//! Photos: a camera photo attached and sent to a real center, beside the floor of
//! keeping and sending the camera's bytes as they are (A). Bytes are counted on the
//! socket; the cut is made by the relay, mid-upload.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use gridsync_core::client::{CancelFlag, NoProgress, Phase, Progress, ProgressListener, SyncClient};
use gridsync_core::sample::Sample;
use gridsync_core::{Incident, Store};

use crate::data::{TOWNSHIP, micro_grid};
use crate::measure::{Transfer, timed};
use crate::sync::Center;

/// What one photo costs, C (gridsync) and A (the camera's bytes kept and sent as they are).
#[derive(Debug, Clone, Copy)]
pub struct PhotoFigures {
    pub camera_bytes: u64,
    /// Photo and thumbnail as stored and sent.
    pub stored_bytes: u64,
    pub attach: Duration,
    /// A: the camera's bytes inserted into a SQLite table, committed.
    pub plain_insert: Duration,
    /// The photo phase of a sync on the socket.
    pub upload: Transfer,
    /// A: the camera's bytes in one request.
    pub plain_upload: Transfer,
    /// Bytes the phone sent beyond a clean upload when the link was cut halfway.
    pub resent_after_cut: u64,
    /// One record edit reaching the center, with no photo waiting and with `QUEUED`
    /// photos waiting: until the sync's records are done.
    pub record_alone: Duration,
    pub record_with_photos_queued: Duration,
}

/// Photos waiting when a record's latency is measured beside them.
pub const QUEUED: u64 = 5;

/// Records when the sync's record part ended (its first photo progress).
struct RecordsDone {
    started: Instant,
    at: Mutex<Option<Duration>>,
}

impl ProgressListener for RecordsDone {
    fn on_progress(&self, progress: &Progress) {
        if progress.phase == Phase::Photos {
            self.at.lock().expect("a lock").get_or_insert(self.started.elapsed());
        }
    }
}

pub fn run(dir: &std::path::Path) -> PhotoFigures {
    let camera = camera_photo(1);
    let plain_insert = plain_insert(&dir.join("plain.db"), &camera);
    let mut phone = Phone::start(&dir.join("c"));
    let (attachment, attach) = timed(|| phone.store.attach(&phone.incident, &camera, "现场", None).expect("a photo"));
    let stored_bytes = attachment.blob.size + attachment.thumbnail.size;
    let upload = phone.sync();
    // A, the floor: the camera's bytes themselves, in one round trip, nothing else.
    let plain_upload = Transfer { bytes_up: camera.len() as u64, bytes_down: 0, round_trips: 1 };

    // The link drops halfway through a photo: what the phone sends, against the same
    // photo sent cleanly by a phone of its own.
    let cut_photo = camera_photo(3);
    let mut clean = Phone::start(&dir.join("clean"));
    clean.store.attach(&clean.incident, &cut_photo, "", None).expect("a photo");
    let clean_bytes = clean.sync().bytes_up;
    phone.store.attach(&phone.incident, &cut_photo, "", None).expect("a photo");
    phone.center.link.cut_after_up(clean_bytes / 2);
    let resent_after_cut = phone.sync().bytes_up.saturating_sub(clean_bytes);

    let record_alone = phone.record_latency();
    for n in 0..QUEUED {
        phone.store.attach(&phone.incident, &camera_photo(10 + n), "", None).expect("a photo");
    }
    // Their references reach the center; the photos stay waiting.
    phone.sync_records_only();
    let record_with_photos_queued = phone.record_latency();
    PhotoFigures {
        camera_bytes: camera.len() as u64,
        stored_bytes,
        attach,
        plain_insert,
        upload,
        plain_upload,
        resent_after_cut,
        record_alone,
        record_with_photos_queued,
    }
}

/// An 8.7 MP photo of about 3 MB, as a phone camera writes it.
fn camera_photo(seed: u64) -> Vec<u8> {
    Sample::new(seed).photo_with_noise(3400, 2550, 0x0b)
}

/// A phone with one incident synced to a center of its own.
struct Phone {
    center: Center,
    store: Store,
    client: SyncClient,
    incident: String,
    _dir: std::path::PathBuf,
}

impl Phone {
    fn start(dir: &std::path::Path) -> Self {
        std::fs::create_dir_all(dir).expect("a folder");
        let center = Center::start(&[("w-bench".into(), TOWNSHIP.into())]);
        let (mut store, client) = center.phone("w-bench", dir);
        let area = micro_grid(&format!("{TOWNSHIP}003001"));
        let incident = store.create(Sample::new(2).incident(&area, 1, 1_767_225_600_000)).expect("an incident");
        client.sync(&mut store, &NoProgress, &CancelFlag::default()).expect("a sync");
        Self { center, store, client, incident, _dir: dir.to_owned() }
    }

    /// One sync (retrying through a cut), counted on the socket.
    fn sync(&mut self) -> Transfer {
        let before = self.center.link.bytes();
        let report = self.client.sync(&mut self.store, &NoProgress, &CancelFlag::default()).expect("a sync");
        let bytes = self.center.link.bytes() - before;
        Transfer { bytes_up: bytes.up, bytes_down: bytes.down, round_trips: report.round_trips }
    }

    /// A sync cancelled as its photo phase begins: the records go, the photos wait.
    fn sync_records_only(&mut self) {
        struct CancelAtPhotos(CancelFlag);
        impl ProgressListener for CancelAtPhotos {
            fn on_progress(&self, progress: &Progress) {
                if progress.phase == Phase::Photos {
                    self.0.cancel();
                }
            }
        }
        let cancel = CancelFlag::default();
        let stopped = self.client.sync(&mut self.store, &CancelAtPhotos(cancel.clone()), &cancel);
        assert!(matches!(stopped, Err(gridsync_core::Error::Cancelled)), "{stopped:?}");
    }

    /// The time from a sync's start until one edit of the incident is at the center (the
    /// photo phase's first report, or the sync's end when no photo waits).
    fn record_latency(&mut self) -> Duration {
        let read = self.store.get::<Incident>(&self.incident).expect("the incident");
        self.store
            .edit_with::<Incident>(&self.incident, &read.heads, |mut incident| {
                incident.notes.push('续');
                Ok(incident)
            })
            .expect("an edit");
        let listener = RecordsDone { started: Instant::now(), at: Mutex::new(None) };
        self.client.sync(&mut self.store, &listener, &CancelFlag::default()).expect("a sync");
        let whole = listener.started.elapsed();
        let records = *listener.at.lock().expect("a lock");
        records.unwrap_or(whole)
    }
}

/// A: the camera's bytes in a plain SQLite table, one committed insert.
fn plain_insert(path: &std::path::Path, bytes: &[u8]) -> Duration {
    let conn = rusqlite::Connection::open(path).expect("a database");
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; CREATE TABLE photos (bytes BLOB)")
        .expect("a table");
    timed(|| conn.execute("INSERT INTO photos (bytes) VALUES (?1)", [bytes]).expect("an insert")).1
}
