//! Photos on the phone: blobs by their SHA-256 in the encrypted database, the queue of
//! those the center lacks, downloads under way, and a bounded cache of the rest.
//!
//! A photo is attached in the same transaction as the record change that names it, so
//! a kill leaves both or neither. Blobs waiting for upload count against a quota and are
//! never evicted; blobs the center holds (sent or fetched) form a cache that drops the
//! longest unread once it outgrows its bound.

use rusqlite::{OptionalExtension, Transaction, params};

use super::{Store, records};
use crate::error::{Error, Result, Rule, ValidationError};
use crate::model::{Attachment, BlobRef, MAX_BLOB_BYTES, Millis, PHOTO_MEDIA_TYPE, holds_attachments, is_sha256_hex};
use crate::photo::{self, PhotoOptions};

/// How much photo data a phone keeps: what waits for upload, and the cache of the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhotoLimits {
    /// The most bytes of blobs waiting for upload; attaching beyond it is
    /// [`Error::PhotoQuotaFull`].
    pub pending_quota: u64,
    /// The most bytes of blobs the center holds that are kept for viewing.
    pub cache: u64,
    pub encoding: PhotoOptions,
}

impl Default for PhotoLimits {
    fn default() -> Self {
        Self { pending_quota: 200 << 20, cache: 64 << 20, encoding: PhotoOptions::default() }
    }
}

/// A photo attached to a record, and what of it is on this phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentState {
    pub attachment: Attachment,
    pub photo_here: bool,
    pub thumbnail_here: bool,
    /// Whether the center holds the photo and its thumbnail (as far as this phone knows).
    pub uploaded: bool,
}

/// A blob waiting for upload, with the record that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingBlob {
    pub hash: String,
    pub record_id: String,
    pub size: u64,
}

/// The SHA-256 of `bytes`, in lower-case hex: a blob's name.
pub fn blob_hash(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

impl Store {
    /// How much photo data this phone keeps (not persisted: the app sets it at open).
    pub fn set_photo_limits(&mut self, limits: PhotoLimits) {
        self.photo_limits = limits;
    }

    /// Attaches a photo to incident or visit `record_id`: re-encodes `photo` (a JPEG or
    /// PNG) for storage, keeps it and its thumbnail, and adds its reference to the
    /// record, in one transaction. The same photo attached twice is kept once.
    pub fn attach(
        &mut self,
        record_id: &str,
        photo: &[u8],
        caption: &str,
        taken_at: Option<Millis>,
    ) -> Result<Attachment> {
        let kind = self.record_meta(record_id)?.kind;
        // Refused before the photo is decoded: re-encoding costs a phone a second or two.
        if !holds_attachments(kind) {
            return Err(ValidationError::new("attachment", Rule::PhotoKind).into());
        }
        let prepared = photo::prepare(photo, &self.photo_limits.encoding)?;
        let blob = |bytes: &[u8]| BlobRef { hash: blob_hash(bytes), size: bytes.len() as u64 };
        let (photo_ref, thumbnail_ref) = (blob(&prepared.photo.bytes), blob(&prepared.thumbnail.bytes));
        let mut attachment = Attachment {
            blob: photo_ref,
            media_type: PHOTO_MEDIA_TYPE.to_owned(),
            width: prepared.photo.width,
            height: prepared.photo.height,
            thumbnail: thumbnail_ref,
            caption: caption.trim().to_owned(),
            taken_at,
            added_at: (self.clock)(),
            added_by: self.worker.clone(),
        };
        attachment.validate()?;
        let quota = self.photo_limits.pending_quota;
        self.change_doc_in(record_id, kind, |tx, doc, author| {
            if let Some(held) = doc.attachments().into_iter().find(|a| a.blob.hash == attachment.blob.hash) {
                attachment = held;
                return Ok(false);
            }
            let adding = prepared.photo.bytes.len() as u64 + prepared.thumbnail.bytes.len() as u64;
            let pending = pending_bytes(tx)?;
            if pending + adding > quota {
                return Err(Error::PhotoQuotaFull { pending, quota });
            }
            for (blob, bytes) in
                [(&attachment.blob, &prepared.photo.bytes), (&attachment.thumbnail, &prepared.thumbnail.bytes)]
            {
                keep_blob(tx, &blob.hash, bytes, author.at)?;
                tx.prepare_cached("INSERT OR IGNORE INTO blob_uploads (hash, record_id) VALUES (?1, ?2)")?
                    .execute(params![blob.hash, record_id])?;
            }
            doc.attach(&attachment, author)
        })?;
        Ok(attachment)
    }

    /// The photos attached to `record_id`, and which of their blobs are on this phone.
    pub fn attachments(&self, record_id: &str) -> Result<Vec<AttachmentState>> {
        let doc = records::load_doc(&self.conn, &self.actor, record_id, None)?;
        let here = |hash: &str| -> Result<bool> {
            Ok(self.conn.prepare_cached("SELECT 1 FROM blobs WHERE hash = ?1")?.exists([hash])?)
        };
        let queued = |hash: &str| -> Result<bool> {
            Ok(self.conn.prepare_cached("SELECT 1 FROM blob_uploads WHERE hash = ?1")?.exists([hash])?)
        };
        doc.attachments()
            .into_iter()
            .map(|attachment| {
                Ok(AttachmentState {
                    photo_here: here(&attachment.blob.hash)?,
                    thumbnail_here: here(&attachment.thumbnail.hash)?,
                    uploaded: !queued(&attachment.blob.hash)? && !queued(&attachment.thumbnail.hash)?,
                    attachment,
                })
            })
            .collect()
    }

    /// The bytes of blob `hash` if this phone holds them (marking them read, for the
    /// cache); `None` when they must be fetched from the center first.
    pub fn blob(&mut self, hash: &str) -> Result<Option<Vec<u8>>> {
        let now = (self.clock)();
        let tx = self.conn.transaction()?;
        let bytes: Option<Vec<u8>> = tx
            .prepare_cached("SELECT bytes FROM blobs WHERE hash = ?1")?
            .query_row([hash], |row| row.get(0))
            .optional()?;
        if bytes.is_some() {
            tx.prepare_cached("UPDATE blobs SET last_used = ?2 WHERE hash = ?1")?.execute(params![hash, now])?;
        }
        tx.commit()?;
        Ok(bytes)
    }

    /// Blobs waiting for upload, oldest attached first, at most `limit`.
    pub fn pending_blobs(&self, limit: u32) -> Result<Vec<PendingBlob>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT u.hash, u.record_id, b.size FROM blob_uploads u JOIN blobs b USING (hash) ORDER BY u.seq LIMIT ?1",
        )?;
        let rows = statement.query_map([limit], |row| {
            Ok(PendingBlob { hash: row.get(0)?, record_id: row.get(1)?, size: row.get::<_, i64>(2)? as u64 })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Photos with a blob (the photo or its thumbnail) waiting for upload.
    pub fn pending_photo_count(&self) -> Result<u64> {
        let pending = self.pending_blobs(u32::MAX)?;
        Ok(self.photos_of(&pending)?.into_iter().collect::<std::collections::HashSet<_>>().len() as u64)
    }

    /// The photo each of `blobs` belongs to (the hash of the photo, for the photo and
    /// for its thumbnail), as their records say: what a worker counts.
    pub fn photos_of(&self, blobs: &[PendingBlob]) -> Result<Vec<String>> {
        let mut photo_of = std::collections::HashMap::new();
        let records: std::collections::BTreeSet<&str> = blobs.iter().map(|b| b.record_id.as_str()).collect();
        for record in records {
            for attachment in records::load_doc(&self.conn, &self.actor, record, None)?.attachments() {
                photo_of.insert(attachment.thumbnail.hash, attachment.blob.hash.clone());
                photo_of.insert(attachment.blob.hash.clone(), attachment.blob.hash);
            }
        }
        Ok(blobs.iter().map(|b| photo_of.get(&b.hash).cloned().unwrap_or_else(|| b.hash.clone())).collect())
    }

    /// Bytes of blobs waiting for upload.
    pub fn pending_blob_bytes(&self) -> Result<u64> {
        pending_bytes(&self.conn)
    }

    /// `length` bytes of blob `hash` from `offset` (a chunk to upload).
    pub fn blob_chunk(&self, hash: &str, offset: u64, length: u64) -> Result<Vec<u8>> {
        // substr counts from 1; SQLite reads only the pages of the range it returns.
        self.conn
            .prepare_cached("SELECT substr(bytes, ?2, ?3) FROM blobs WHERE hash = ?1")?
            .query_row(params![hash, offset as i64 + 1, length as i64], |row| row.get(0))
            .optional()?
            .ok_or_else(|| Error::NotFound { kind: "attachment", id: hash.to_owned() })
    }

    /// Records that the center holds blob `hash`: it leaves the upload queue and joins
    /// the cache.
    pub fn blob_uploaded(&mut self, hash: &str) -> Result<()> {
        let cache = self.photo_limits.cache;
        let tx = self.conn.transaction()?;
        tx.prepare_cached("DELETE FROM blob_uploads WHERE hash = ?1")?.execute([hash])?;
        evict(&tx, cache)?;
        Ok(tx.commit()?)
    }

    /// Bytes of blob `hash` received so far by a download under way (0 for none).
    pub fn download_offset(&self, hash: &str) -> Result<u64> {
        Ok(self
            .conn
            .prepare_cached("SELECT length(bytes) FROM blob_downloads WHERE hash = ?1")?
            .query_row([hash], |row| row.get::<_, i64>(0))
            .optional()?
            .unwrap_or(0) as u64)
    }

    /// Stores a downloaded chunk of blob `hash` at `offset`. Once `total` bytes are
    /// here and their hash is the blob's name, the blob is kept and returned; bytes that
    /// do not hash to it are dropped (and the download starts over).
    pub fn save_download(&mut self, hash: &str, offset: u64, chunk: &[u8], total: u64) -> Result<Option<Vec<u8>>> {
        if !is_sha256_hex(hash) {
            return Err(ValidationError::new("attachment.hash", Rule::BlobHash).into());
        }
        if total > MAX_BLOB_BYTES || offset + chunk.len() as u64 > total {
            return Err(Error::Protocol("a blob chunk beyond the blob's size".into()));
        }
        let (now, cache) = ((self.clock)(), self.photo_limits.cache);
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let held: Option<Vec<u8>> = tx
            .prepare_cached("SELECT bytes FROM blob_downloads WHERE hash = ?1")?
            .query_row([hash], |row| row.get(0))
            .optional()?;
        let mut bytes = held.unwrap_or_default();
        if bytes.len() as u64 != offset {
            return Err(Error::Protocol("a blob chunk out of order".into()));
        }
        bytes.extend_from_slice(chunk);
        let complete = bytes.len() as u64 == total;
        if complete {
            tx.prepare_cached("DELETE FROM blob_downloads WHERE hash = ?1")?.execute([hash])?;
        } else {
            tx.prepare_cached("INSERT OR REPLACE INTO blob_downloads (hash, bytes) VALUES (?1, ?2)")?
                .execute(params![hash, bytes])?;
        }
        let kept = if complete && blob_hash(&bytes) == hash {
            keep_blob(&tx, hash, &bytes, now)?;
            evict(&tx, cache)?;
            Some(bytes)
        } else {
            None
        };
        tx.commit()?;
        if complete && kept.is_none() {
            return Err(Error::Protocol("a downloaded photo does not match its hash".into()));
        }
        Ok(kept)
    }
}

fn pending_bytes(conn: &rusqlite::Connection) -> Result<u64> {
    Ok(conn
        .prepare_cached("SELECT coalesce(sum(b.size), 0) FROM blob_uploads u JOIN blobs b USING (hash)")?
        .query_row([], |row| row.get::<_, i64>(0))? as u64)
}

fn keep_blob(tx: &Transaction<'_>, hash: &str, bytes: &[u8], now: Millis) -> Result<()> {
    tx.prepare_cached("INSERT OR IGNORE INTO blobs (hash, size, bytes, last_used) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![hash, bytes.len() as i64, bytes, now])?;
    Ok(())
}

/// Drops the longest-unread blobs the center holds until they fit in `cache` bytes.
fn evict(tx: &Transaction<'_>, cache: u64) -> Result<()> {
    let cached = |tx: &Transaction<'_>| -> Result<u64> {
        Ok(tx
            .prepare_cached(
                "SELECT coalesce(sum(size), 0) FROM blobs WHERE hash NOT IN (SELECT hash FROM blob_uploads)",
            )?
            .query_row([], |row| row.get::<_, i64>(0))? as u64)
    };
    let mut over = cached(tx)?.saturating_sub(cache);
    while over > 0 {
        let oldest: Option<(String, i64)> = tx
            .prepare_cached(
                "SELECT hash, size FROM blobs WHERE hash NOT IN (SELECT hash FROM blob_uploads)
                 ORDER BY last_used LIMIT 1",
            )?
            .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        let Some((hash, size)) = oldest else { break };
        tx.prepare_cached("DELETE FROM blobs WHERE hash = ?1")?.execute([&hash])?;
        over = over.saturating_sub(size as u64);
    }
    Ok(())
}
