//! The center's rules for photo blobs, above [`crate::blobs`]: a blob is reached only
//! through a record in the device's scope that references it, is uploaded in order up
//! to the size that reference states, and is kept only once its bytes hash to its name
//! and decode as a photo within bounds. Nothing of a refused chunk is kept.

use std::collections::HashMap;

use gridsync_core::photo;
use gridsync_core::store::blob_hash;
use gridsync_core::sync::wire::{
    BlobGetRequest, BlobGetResponse, BlobName, BlobPutRequest, BlobPutResponse, BlobState, BlobStatus,
    BlobStatusRequest, BlobStatusResponse, ErrorCode, MAX_BLOB_CHUNK, MAX_BLOBS_PER_STATUS,
};
use gridsync_core::{Attachment, MAX_BLOB_BYTES, Scope, is_sha256_hex};

use crate::blobs::{AppendError, Held};
use crate::center::{Center, Device, Refusal};
use crate::storage::{StorageError, Tx};

/// The most bytes a device's unfinished uploads may hold together: eight photos at
/// their bound (a phone uploads one at a time; abandoned ones age out with `admin photos
/// --prune-uploads-older-than-days`).
pub const MAX_UPLOAD_BYTES_IN_FLIGHT: u64 = 8 * MAX_BLOB_BYTES;

fn io_failure(err: std::io::Error) -> Refusal {
    tracing::error!(error = %err, "photo storage failed");
    Refusal::new(ErrorCode::Internal, "the center could not store the photo; try again later")
}

fn bad(message: impl Into<String>) -> Refusal {
    Refusal::new(ErrorCode::BadRequest, message)
}

/// The photos record `record_id` references, when it is a record in `scope`; `None`
/// for a record that is missing or out of scope (the two are not told apart).
pub(crate) fn attachments_in_scope(
    tx: &mut dyn Tx,
    scope: &Scope,
    record_id: &str,
) -> Result<Option<Vec<Attachment>>, StorageError> {
    let Some(record) = tx.record(record_id)? else { return Ok(None) };
    if !scope.covers(&record.area_code) {
        return Ok(None);
    }
    Ok(crate::push::load(&record).ok().map(|doc| doc.attachments()))
}

/// What a record states about one of its blobs: the bytes must be `size` long and decode
/// to `width`×`height` (a photo) or fit within it (its thumbnail).
#[derive(Debug, Clone, Copy)]
struct Stated {
    size: u64,
    width: u32,
    height: u32,
    exact: bool,
}

/// What the record states for blob `hash` (a photo or its thumbnail), if it references it.
fn stated(attachments: &[Attachment], hash: &str) -> Option<Stated> {
    attachments.iter().find_map(|a| {
        let of = |size, exact| Stated { size, width: a.width, height: a.height, exact };
        if a.blob.hash == hash {
            Some(of(a.blob.size, true))
        } else {
            (a.thumbnail.hash == hash).then(|| of(a.thumbnail.size, false))
        }
    })
}

impl Center {
    /// The blob `name` names, with the size its record states, if the device may reach it.
    fn reachable(&self, device: &Device, name: &BlobName) -> Result<Option<Stated>, Refusal> {
        if !is_sha256_hex(&name.hash) {
            return Err(bad("a blob is named by its SHA-256 in lower-case hex"));
        }
        let attachments = self.read(|tx| attachments_in_scope(tx, &device.scope, &name.record_id))?;
        Ok(attachments.and_then(|a| stated(&a, &name.hash)))
    }

    /// What the center holds of each named blob.
    pub fn blob_status(&self, device: &Device, request: &BlobStatusRequest) -> Result<BlobStatusResponse, Refusal> {
        if request.blobs.len() > MAX_BLOBS_PER_STATUS {
            return Err(Refusal::new(
                ErrorCode::TooLarge,
                format!("a status names at most {MAX_BLOBS_PER_STATUS} blobs"),
            ));
        }
        if request.blobs.iter().any(|name| !is_sha256_hex(&name.hash)) {
            return Err(bad("a blob is named by its SHA-256 in lower-case hex"));
        }
        // One read of each record, however many of its blobs are named.
        let mut records: HashMap<&str, Option<Vec<Attachment>>> = HashMap::new();
        self.read(|tx| {
            for name in &request.blobs {
                if !records.contains_key(name.record_id.as_str()) {
                    records.insert(&name.record_id, attachments_in_scope(tx, &device.scope, &name.record_id)?);
                }
            }
            Ok(())
        })?;
        let blobs = request
            .blobs
            .iter()
            .map(|name| {
                let referenced = records[name.record_id.as_str()].as_deref().and_then(|a| stated(a, &name.hash));
                let state = match referenced {
                    None => BlobState::Unreferenced,
                    Some(expected) => match self.blobs.held(&device.id, &name.hash).map_err(io_failure)? {
                        Held::Stored { .. } => BlobState::Stored,
                        // Every byte arrived but the center stopped (killed) before it
                        // checked and kept them: finish it now.
                        Held::Partial(received) if received == expected.size => {
                            match self.keep_checked(&device.id, &name.hash, expected) {
                                Ok(()) => BlobState::Stored,
                                Err(_) => BlobState::Partial { received: 0 },
                            }
                        }
                        Held::Partial(received) => BlobState::Partial { received },
                    },
                };
                Ok(BlobStatus { hash: name.hash.clone(), state })
            })
            .collect::<Result<_, Refusal>>()?;
        Ok(BlobStatusResponse { blobs })
    }

    /// Appends a chunk to an upload; the chunk that completes it has the blob checked
    /// and kept, or the upload dropped.
    pub fn blob_put(&self, device: &Device, request: &BlobPutRequest) -> Result<BlobPutResponse, Refusal> {
        let BlobPutRequest { record_id, hash, offset, total, bytes } = request;
        if bytes.len() > MAX_BLOB_CHUNK as usize {
            return Err(Refusal::new(ErrorCode::TooLarge, format!("a chunk holds at most {MAX_BLOB_CHUNK} bytes")));
        }
        if *total > MAX_BLOB_BYTES {
            return Err(Refusal::new(ErrorCode::TooLarge, format!("a photo holds at most {MAX_BLOB_BYTES} bytes")));
        }
        let end = offset.checked_add(bytes.len() as u64).filter(|end| end <= total);
        let Some(end) = end.filter(|_| !bytes.is_empty()) else {
            return Err(bad("a chunk holds bytes within the blob's size"));
        };
        let name = BlobName { record_id: record_id.clone(), hash: hash.clone() };
        let expected = match self.reachable(device, &name)? {
            Some(expected) if expected.size == *total => expected,
            Some(_) => return Err(bad("the blob's size differs from what its record states")),
            None => {
                return Err(Refusal::new(ErrorCode::OutOfScope, "no record in your area references this photo"));
            }
        };
        if let Held::Stored { size } = self.blobs.held(&device.id, hash).map_err(io_failure)? {
            return Ok(BlobPutResponse { received: size, stored: true });
        }
        // Uploads abandoned part way would otherwise grow without end (a stolen phone
        // can reference thousands of photos in its own records and send none whole).
        if self.blobs.in_flight(&device.id).map_err(io_failure)? + bytes.len() as u64 > MAX_UPLOAD_BYTES_IN_FLIGHT {
            return Err(Refusal::new(
                ErrorCode::TooLarge,
                format!(
                    "a device's unfinished photo uploads hold at most {} MiB: finish one first",
                    MAX_UPLOAD_BYTES_IN_FLIGHT >> 20
                ),
            ));
        }
        let received = match self.blobs.append(&device.id, hash, *offset, bytes) {
            Ok(received) => received,
            Err(AppendError::Offset { held, .. }) if held == *total => {
                // Whole already, but never kept (the center stopped before): finish it.
                self.keep_checked(&device.id, hash, expected)?;
                return Ok(BlobPutResponse { received: held, stored: true });
            }
            Err(AppendError::Offset { held, .. }) => {
                return Err(Refusal::new(
                    ErrorCode::WrongOffset,
                    format!("the center holds {held} bytes of this photo: send from there"),
                ));
            }
            Err(AppendError::Io(err)) => return Err(io_failure(err)),
        };
        if end < *total {
            return Ok(BlobPutResponse { received, stored: false });
        }
        self.keep_checked(&device.id, hash, expected)?;
        Ok(BlobPutResponse { received, stored: true })
    }

    /// Keeps a whole upload whose bytes are the blob its hash names and a photo within
    /// bounds, of the dimensions its record states; otherwise drops it, so the next
    /// upload starts clean.
    fn keep_checked(&self, device: &str, hash: &str, expected: Stated) -> Result<(), Refusal> {
        // One photo decoded at a time in this process: a decode may take a quarter of a
        // gigabyte, and a status naming many whole uploads would otherwise run them
        // side by side. Taken outside any storage lock.
        static DECODING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one_at_a_time = DECODING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let bytes = self.blobs.upload(device, hash).map_err(io_failure)?;
        let refused = if blob_hash(&bytes) != hash {
            Some("the photo's bytes do not match its hash".to_owned())
        } else {
            match photo::check_stored(&bytes) {
                Err(err) => Some(format!("not a photo the center keeps: {err}")),
                Ok((width, height)) if expected.exact && (width, height) != (expected.width, expected.height) => {
                    Some("the photo's dimensions differ from what its record states".to_owned())
                }
                Ok((width, height)) if width > expected.width || height > expected.height => {
                    Some("a thumbnail is larger than its photo".to_owned())
                }
                Ok(_) => None,
            }
        };
        if let Some(message) = refused {
            self.blobs.discard(device, hash).map_err(io_failure)?;
            return Err(bad(message));
        }
        self.blobs.keep(device, hash).map_err(io_failure)
    }

    /// A chunk of a stored blob the device may reach.
    pub fn blob_get(&self, device: &Device, request: &BlobGetRequest) -> Result<BlobGetResponse, Refusal> {
        let name = BlobName { record_id: request.record_id.clone(), hash: request.hash.clone() };
        if self.reachable(device, &name)?.is_none() {
            return Err(Refusal::new(ErrorCode::OutOfScope, "no record in your area references this photo"));
        }
        let max = u64::from(request.max_bytes.clamp(1, MAX_BLOB_CHUNK));
        match self.blobs.read(&request.hash, request.offset, max).map_err(io_failure)? {
            Some((total, bytes)) => Ok(BlobGetResponse { total, bytes }),
            None => Err(Refusal::new(ErrorCode::NotHeld, "the center does not hold this photo yet")),
        }
    }

    /// Where the center keeps photos, for the operator.
    pub fn photo_folder(&self) -> String {
        self.blobs.describe()
    }

    /// What the photo folder holds, and (with `prune`) uploads untouched for that long
    /// removed first (`admin photos`).
    pub fn photo_usage(&self, prune: Option<std::time::Duration>) -> std::io::Result<(crate::blobs::BlobUsage, u64)> {
        let removed = match prune {
            Some(age) => self.blobs.prune_uploads(age)?,
            None => 0,
        };
        Ok((self.blobs.usage()?, removed))
    }

    /// Whether blob `hash` is stored, or else how much of it `device` has uploaded (for
    /// tools and tests).
    pub fn blob_held(&self, device: &str, hash: &str) -> std::io::Result<Held> {
        self.blobs.held(device, hash)
    }

    /// Whether blob `hash` is stored, whole and checked.
    pub fn blob_stored(&self, hash: &str) -> std::io::Result<bool> {
        // Any well-formed device id: a stored blob is everyone's.
        let anyone = uuid::Uuid::nil().hyphenated().to_string();
        Ok(matches!(self.blobs.held(&anyone, hash)?, Held::Stored { .. }))
    }

    /// A stored blob that staff with `scope` may see through record `record_id` (the
    /// console), whole.
    pub(crate) fn blob_for_staff(
        &self,
        scope: &Scope,
        record_id: &str,
        hash: &str,
    ) -> Result<Option<Vec<u8>>, Refusal> {
        if !is_sha256_hex(hash) {
            return Ok(None);
        }
        let attachments = self.read(|tx| attachments_in_scope(tx, scope, record_id))?;
        if attachments.and_then(|a| stated(&a, hash)).is_none() {
            return Ok(None);
        }
        Ok(self.blobs.read(hash, 0, MAX_BLOB_BYTES).map_err(io_failure)?.map(|(_, bytes)| bytes))
    }
}
