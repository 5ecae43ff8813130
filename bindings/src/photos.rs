//! Photos on incidents and visits (现场照片): attach one from the camera or the gallery,
//! list a record's photos with what of them is on this phone, show the thumbnail in a
//! list and the photo when opened (fetched from the center when another phone took
//! it). Re-encoding and downloads take time: their `_async` forms run off the caller's
//! thread and cancel with the caller.

use std::sync::Arc;

use gridsync_core::client::SyncClient;
use gridsync_core::photo::PhotoOptions;
use gridsync_core::store::{AttachmentState, PhotoLimits};

use crate::error::Result;
use crate::events::ChangeEvent;
use crate::store::{CenterOptions, GridStore, in_background};

/// A photo attached to a record, and what of it is on this phone.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Photo {
    /// SHA-256 of the stored (re-encoded) photo: its name everywhere.
    pub hash: String,
    pub size: u64,
    pub width: u32,
    pub height: u32,
    pub media_type: String,
    pub thumbnail_hash: String,
    pub thumbnail_size: u64,
    pub caption: String,
    pub taken_at: Option<i64>,
    pub added_at: i64,
    /// The worker who attached it.
    pub added_by: String,
    /// Whether `photo_bytes` answers without the network, for the photo and for its
    /// thumbnail.
    pub photo_here: bool,
    pub thumbnail_here: bool,
    /// Whether the center holds it (false while it waits for a sync).
    pub uploaded: bool,
}

impl From<AttachmentState> for Photo {
    fn from(state: AttachmentState) -> Self {
        let a = state.attachment;
        Photo {
            hash: a.blob.hash,
            size: a.blob.size,
            width: a.width,
            height: a.height,
            media_type: a.media_type,
            thumbnail_hash: a.thumbnail.hash,
            thumbnail_size: a.thumbnail.size,
            caption: a.caption,
            taken_at: a.taken_at,
            added_at: a.added_at,
            added_by: a.added_by,
            photo_here: state.photo_here,
            thumbnail_here: state.thumbnail_here,
            uploaded: state.uploaded,
        }
    }
}

/// How photos are stored; `None` keeps the default (suited to 2G).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct PhotoSettings {
    /// Longest side of a stored photo (default 1600 px) and its JPEG quality (70).
    #[uniffi(default = None)]
    pub max_side: Option<u32>,
    #[uniffi(default = None)]
    pub quality: Option<u8>,
    /// Bytes of photos that may wait for upload (default 200 MiB): attaching beyond it
    /// is `PhotoQuotaFull`.
    #[uniffi(default = None)]
    pub pending_quota_bytes: Option<u64>,
    /// Bytes of uploaded or fetched photos kept for viewing (default 64 MiB).
    #[uniffi(default = None)]
    pub cache_bytes: Option<u64>,
}

/// Photos waiting for a sync, for "照片 2 张待上传".
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct PendingPhotos {
    /// Photos with something still to send.
    pub photos: u64,
    /// Blobs to send (a photo and its thumbnail are two) and their bytes.
    pub blobs: u64,
    pub bytes: u64,
}

fn limits_of(settings: PhotoSettings) -> PhotoLimits {
    let default = PhotoLimits::default();
    PhotoLimits {
        pending_quota: settings.pending_quota_bytes.unwrap_or(default.pending_quota),
        cache: settings.cache_bytes.unwrap_or(default.cache),
        encoding: PhotoOptions {
            max_side: settings.max_side.unwrap_or(default.encoding.max_side),
            quality: settings.quality.unwrap_or(default.encoding.quality),
            ..default.encoding
        },
    }
}

impl GridStore {
    fn attach_now(&self, record_id: &str, photo: &[u8], caption: &str, taken_at: Option<i64>) -> Result<Photo> {
        let mut store = self.lock();
        let attachment = store.attach(record_id, photo, caption, taken_at)?;
        let state = store.attachments(record_id)?.into_iter().find(|s| s.attachment.blob == attachment.blob);
        drop(store);
        self.listeners.notify(ChangeEvent::Written { record_ids: vec![record_id.to_owned()] });
        state.map(Photo::from).ok_or_else(|| gridsync_core::Error::Document("the photo was not kept".into()).into())
    }

    fn fetch_now(
        &self,
        record_id: &str,
        hash: &str,
        options: &CenterOptions,
        cancel: &gridsync_core::client::CancelFlag,
    ) -> Result<Vec<u8>> {
        if let Some(bytes) = self.lock().blob(hash)? {
            return Ok(bytes);
        }
        self.on_sync_store(|store| {
            SyncClient::for_store(store, Self::config(options))?.fetch_blob(store, record_id, hash, cancel)
        })
    }
}

#[uniffi::export]
impl GridStore {
    /// Attaches a photo (JPEG or PNG bytes from the camera or the gallery) to incident
    /// or visit `record_id`: stored upright, at most 1600 px, without its EXIF block
    /// (location, phone), with a thumbnail; it reaches the center with the next sync,
    /// after the records. The same photo attached twice is kept once. Takes a few
    /// hundred milliseconds on a phone: prefer `attach_photo_async` on the UI thread.
    pub fn attach_photo(
        &self,
        record_id: String,
        photo: Vec<u8>,
        caption: String,
        taken_at: Option<i64>,
    ) -> Result<Photo> {
        self.attach_now(&record_id, &photo, &caption, taken_at)
    }

    /// The photos of `record_id`.
    pub fn photos(&self, record_id: String) -> Result<Vec<Photo>> {
        Ok(self.lock().attachments(&record_id)?.into_iter().map(Photo::from).collect())
    }

    /// A photo's or thumbnail's bytes if this phone holds them; `None` when they must
    /// be fetched (`fetch_photo_async`).
    pub fn photo_bytes(&self, hash: String) -> Result<Option<Vec<u8>>> {
        Ok(self.lock().blob(&hash)?)
    }

    /// Photos waiting for upload.
    pub fn pending_photos(&self) -> Result<PendingPhotos> {
        let store = self.lock();
        let blobs = store.pending_blobs(u32::MAX)?.len() as u64;
        Ok(PendingPhotos { photos: store.pending_photo_count()?, blobs, bytes: store.pending_blob_bytes()? })
    }

    /// How photos are stored and how much of them is kept (for this opened store).
    pub fn set_photo_settings(&self, settings: PhotoSettings) -> Result<()> {
        let limits = limits_of(settings);
        self.lock().set_photo_limits(limits);
        self.on_sync_store(|store| {
            store.set_photo_limits(limits);
            Ok(())
        })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl GridStore {
    /// `attach_photo`, off the caller's thread.
    pub async fn attach_photo_async(
        self: Arc<Self>,
        record_id: String,
        photo: Vec<u8>,
        caption: String,
        taken_at: Option<i64>,
    ) -> Result<Photo> {
        in_background(move |_| self.attach_now(&record_id, &photo, &caption, taken_at)).await
    }

    /// The bytes of photo or thumbnail `hash` of record `record_id`: from this phone,
    /// or downloaded from the center (a cut download resumes where it stopped) and kept
    /// in the photo cache. Fetch the thumbnail for a list, the photo when it is opened.
    /// Cancel the caller to cancel it.
    pub async fn fetch_photo_async(
        self: Arc<Self>,
        record_id: String,
        hash: String,
        options: CenterOptions,
    ) -> Result<Vec<u8>> {
        in_background(move |cancel| self.fetch_now(&record_id, &hash, &options, cancel)).await
    }
}
