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

/// The size the record states for blob `hash` (a photo or its thumbnail), if it
/// references it.
fn stated_size(attachments: &[Attachment], hash: &str) -> Option<u64> {
    attachments
        .iter()
        .find_map(|a| [&a.blob, &a.thumbnail].into_iter().find(|blob| blob.hash == hash).map(|blob| blob.size))
}

impl Center {
    /// The blob `name` names, with the size its record states, if the device may reach it.
    fn reachable(&self, device: &Device, name: &BlobName) -> Result<Option<u64>, Refusal> {
        if !is_sha256_hex(&name.hash) {
            return Err(bad("a blob is named by its SHA-256 in lower-case hex"));
        }
        let attachments = self.read(|tx| attachments_in_scope(tx, &device.scope, &name.record_id))?;
        Ok(attachments.and_then(|a| stated_size(&a, &name.hash)))
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
                let referenced = records[name.record_id.as_str()].as_deref().and_then(|a| stated_size(a, &name.hash));
                let state = match referenced {
                    None => BlobState::Unreferenced,
                    Some(_) => match self.blobs.held(&name.hash).map_err(io_failure)? {
                        Held::Stored { .. } => BlobState::Stored,
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
        match self.reachable(device, &name)? {
            Some(stated) if stated == *total => {}
            Some(_) => return Err(bad("the blob's size differs from what its record states")),
            None => {
                return Err(Refusal::new(ErrorCode::OutOfScope, "no record in your area references this photo"));
            }
        }
        if let Held::Stored { size } = self.blobs.held(hash).map_err(io_failure)? {
            return Ok(BlobPutResponse { received: size, stored: true });
        }
        let received = match self.blobs.append(hash, *offset, bytes) {
            Ok(received) => received,
            Err(AppendError::Offset { held, .. }) => {
                return Err(bad(format!("the center holds {held} bytes of this photo: send from there")));
            }
            Err(AppendError::Io(err)) => return Err(io_failure(err)),
        };
        if end < *total {
            return Ok(BlobPutResponse { received, stored: false });
        }
        self.keep_checked(hash)?;
        Ok(BlobPutResponse { received, stored: true })
    }

    /// Keeps a whole upload whose bytes are the blob its hash names and a photo within
    /// bounds; otherwise drops it, so the next upload starts clean.
    fn keep_checked(&self, hash: &str) -> Result<(), Refusal> {
        let bytes = self.blobs.upload(hash).map_err(io_failure)?;
        let refused = if blob_hash(&bytes) != hash {
            Some("the photo's bytes do not match its hash".to_owned())
        } else {
            photo::check_stored(&bytes).err().map(|err| format!("not a photo the center keeps: {err}"))
        };
        if let Some(message) = refused {
            self.blobs.discard(hash).map_err(io_failure)?;
            return Err(bad(message));
        }
        self.blobs.keep(hash).map_err(io_failure)
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

    /// What the center holds of blob `hash` (for tools and tests).
    pub fn blob_held(&self, hash: &str) -> std::io::Result<Held> {
        self.blobs.held(hash)
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
        if attachments.and_then(|a| stated_size(&a, hash)).is_none() {
            return Ok(None);
        }
        Ok(self.blobs.read(hash, 0, MAX_BLOB_BYTES).map_err(io_failure)?.map(|(_, bytes)| bytes))
    }
}
