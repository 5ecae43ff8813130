//! 照片: photos attached to an incident or a visit.
//!
//! A photo's bytes are a blob named by their SHA-256; the record holds only a reference
//! (hash, size, dimensions, thumbnail, caption, who and when), under a root key of its
//! own: `attachment.<sha256 hex>`. Keyed by the hash, two phones attaching the same
//! photo write the same key and the record shows it once; attaching never touches
//! another key, so concurrent photos all survive. A reference is never deleted (a photo
//! of a 现场 is evidence). Root keys of scalars are what earlier app versions keep and
//! sync untouched, so phones that predate photos carry them through.

use serde::{Deserialize, Serialize};

use super::{Kind, Millis};
use crate::invalid::{Rule, ValidationError};
use crate::validate::check_optional_text;

/// The prefix of the root key that holds an attachment reference.
pub const ATTACHMENT_KEY_PREFIX: &str = "attachment.";
/// The most photos one record holds. Phones that predate photos count each reference
/// among the 32 keys of a newer version they accept (`rules::MAX_UNKNOWN_KEYS`).
pub const MAX_ATTACHMENTS: usize = 16;
/// The largest blob (a re-encoded photo) a phone sends or the center accepts.
pub const MAX_BLOB_BYTES: u64 = 4 << 20;
/// The largest photo dimension a reference may state.
pub const MAX_PHOTO_SIDE: u32 = 8_192;
/// The media type of every stored photo: phones re-encode what the camera gives.
pub const PHOTO_MEDIA_TYPE: &str = "image/jpeg";

/// A stored blob: its SHA-256 (lower-case hex) and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    pub hash: String,
    pub size: u64,
}

/// A photo attached to a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The photo as stored (re-encoded, metadata stripped).
    #[serde(flatten)]
    pub blob: BlobRef,
    pub media_type: String,
    pub width: u32,
    pub height: u32,
    /// A small version for lists, a blob of its own.
    pub thumbnail: BlobRef,
    #[serde(default)]
    pub caption: String,
    /// When the photo was taken, when the app knows (device clock).
    #[serde(default)]
    pub taken_at: Option<Millis>,
    /// When it was attached (device clock) and by which worker.
    pub added_at: Millis,
    pub added_by: String,
}

impl Attachment {
    /// The record's root key that holds this reference.
    pub fn key(&self) -> String {
        attachment_key(&self.blob.hash)
    }

    /// Checks a reference as any replica reads it: hashes, sizes and dimensions in
    /// bounds, texts short.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_blob("attachment.hash", &self.blob)?;
        check_blob("attachment.thumbnail", &self.thumbnail)?;
        if self.media_type != PHOTO_MEDIA_TYPE {
            return Err(ValidationError::new("attachment.media_type", Rule::PhotoMediaType));
        }
        for side in [self.width, self.height] {
            if side == 0 || side > MAX_PHOTO_SIDE {
                return Err(ValidationError::new("attachment.width", Rule::AtMost { max: MAX_PHOTO_SIDE as usize }));
            }
        }
        check_optional_text("attachment.caption", &self.caption, 200)?;
        crate::validate::check_text("attachment.added_by", &self.added_by, 64)
    }
}

fn check_blob(field: &'static str, blob: &BlobRef) -> Result<(), ValidationError> {
    if !is_sha256_hex(&blob.hash) {
        return Err(ValidationError::new(field, Rule::BlobHash));
    }
    if blob.size == 0 || blob.size > MAX_BLOB_BYTES {
        return Err(ValidationError::new(field, Rule::AtMost { max: MAX_BLOB_BYTES as usize }));
    }
    Ok(())
}

/// The root key of the attachment whose blob has `hash`.
pub fn attachment_key(hash: &str) -> String {
    format!("{ATTACHMENT_KEY_PREFIX}{hash}")
}

/// Whether `text` is a SHA-256 in lower-case hex (how blobs are named everywhere).
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The kinds that hold photos: a 现场 of an incident, what a visit found.
pub fn holds_attachments(kind: Kind) -> bool {
    matches!(kind, Kind::Incident | Kind::Visit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Attachment {
        Attachment {
            blob: BlobRef { hash: "a".repeat(64), size: 300_000 },
            media_type: PHOTO_MEDIA_TYPE.into(),
            width: 1600,
            height: 1200,
            thumbnail: BlobRef { hash: "b".repeat(64), size: 9_000 },
            caption: "排水沟堵塞".into(),
            taken_at: None,
            added_at: 1,
            added_by: "w-li".into(),
        }
    }

    #[test]
    fn a_reference_is_checked_field_by_field() {
        assert!(sample().validate().is_ok());
        let broken = |change: fn(&mut Attachment)| {
            let mut attachment = sample();
            change(&mut attachment);
            attachment.validate().unwrap_err().code()
        };
        assert_eq!(broken(|a| a.blob.hash = "A".repeat(64)), "attachment.hash.blob_hash");
        assert_eq!(broken(|a| a.thumbnail.hash.pop().map_or((), drop)), "attachment.thumbnail.blob_hash");
        assert_eq!(broken(|a| a.blob.size = MAX_BLOB_BYTES + 1), "attachment.hash.at_most");
        assert_eq!(broken(|a| a.media_type = "image/svg+xml".into()), "attachment.media_type.photo_media_type");
        assert_eq!(broken(|a| a.width = 0), "attachment.width.at_most");
        assert_eq!(broken(|a| a.caption = "长".repeat(201)), "attachment.caption.too_long");
    }

    #[test]
    fn the_reference_is_stored_under_its_hash() {
        let attachment = sample();
        assert_eq!(attachment.key(), format!("attachment.{}", "a".repeat(64)));
        let json = serde_json::to_value(&attachment).unwrap();
        assert_eq!(json["hash"], "a".repeat(64), "the blob's fields sit at the top: {json}");
    }
}
