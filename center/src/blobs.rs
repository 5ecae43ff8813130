//! Where the center keeps photo blobs, behind a small trait: a folder on the
//! filesystem by default (beside the SQLite file, or `--blobs` / `GRIDSYNC_BLOB_DIR`),
//! an S3-compatible store later (docs/decisions.md, "Photos at the center").
//!
//! An upload grows a partial file chunk by chunk; only a blob whose bytes were checked
//! is moved (one rename) to its content-addressed place, and only that place is ever
//! served, so a center killed mid-write never serves half a photo. An upload belongs to
//! the device sending it until it is checked: two devices uploading the same photo grow
//! two uploads, so one cannot spoil another's by appending garbage to it. Each appended chunk
//! is synced before it is acknowledged: an upload cut off resumes from what the center
//! said it held.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use gridsync_core::is_sha256_hex;

/// What the store holds of a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Whole and checked, `size` bytes.
    Stored { size: u64 },
    /// An upload under way with this many bytes (0: nothing yet).
    Partial(u64),
}

/// What a store holds, for the operator (`admin photos`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlobUsage {
    pub stored: u64,
    pub stored_bytes: u64,
    /// Uploads under way (or abandoned by their phone).
    pub uploads: u64,
    pub upload_bytes: u64,
}

/// Why an append was not made.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The chunk does not start where the upload stands.
    #[error("the chunk starts at {offset}, the center holds {held} bytes")]
    Offset { offset: u64, held: u64 },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A store of blobs named by their SHA-256 (lower-case hex, checked by the caller).
/// Uploads are named by the device sending them (its id: checked by the caller to be
/// one the center issued, and by the store to be a safe path component) and the hash.
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// Whether `hash` is stored, or else how much of it `device` has uploaded.
    fn held(&self, device: &str, hash: &str) -> io::Result<Held>;
    /// Appends `bytes` to `device`'s upload of `hash`, which must hold exactly `offset`
    /// bytes; durable when it returns. Returns the upload's length.
    fn append(&self, device: &str, hash: &str, offset: u64, bytes: &[u8]) -> Result<u64, AppendError>;
    /// The bytes of `device`'s uploads under way, together.
    fn in_flight(&self, device: &str) -> io::Result<u64>;
    /// The upload's bytes so far (at most a blob's bound), to be checked.
    fn upload(&self, device: &str, hash: &str) -> io::Result<Vec<u8>>;
    /// Where the blobs are, for the operator.
    fn describe(&self) -> String;
    fn usage(&self) -> io::Result<BlobUsage>;
    /// Removes uploads untouched for `age` (abandoned by their phone; a phone that comes
    /// back starts that photo again). Returns how many.
    fn prune_uploads(&self, age: std::time::Duration) -> io::Result<u64>;
    /// Makes `device`'s checked upload the stored blob, atomically.
    fn keep(&self, device: &str, hash: &str) -> io::Result<()>;
    /// Drops `device`'s upload whose bytes failed their check.
    fn discard(&self, device: &str, hash: &str) -> io::Result<()>;
    /// Up to `max` bytes of the stored blob from `offset`, with its size; `None` when
    /// it is not stored (whole).
    fn read(&self, hash: &str, offset: u64, max: u64) -> io::Result<Option<(u64, Vec<u8>)>>;
}

/// Where photos go when the center was given no folder (a PostgreSQL database without
/// `--blobs` or `GRIDSYNC_BLOB_DIR`): nothing is stored, every photo request fails as
/// the center's own error and says what to set. Records are not affected.
#[derive(Debug, Clone, Copy)]
pub struct NoPhotoFolder;

fn no_folder() -> io::Error {
    io::Error::other("no photo folder: serve with --blobs DIR or set GRIDSYNC_BLOB_DIR")
}

impl BlobStore for NoPhotoFolder {
    fn describe(&self) -> String {
        "no folder (photos are refused): give --blobs DIR or set GRIDSYNC_BLOB_DIR".into()
    }
    fn usage(&self) -> io::Result<BlobUsage> {
        Ok(BlobUsage::default())
    }
    fn prune_uploads(&self, _: std::time::Duration) -> io::Result<u64> {
        Ok(0)
    }
    fn held(&self, _: &str, _: &str) -> io::Result<Held> {
        Err(no_folder())
    }
    fn append(&self, _: &str, _: &str, _: u64, _: &[u8]) -> Result<u64, AppendError> {
        Err(no_folder().into())
    }
    fn in_flight(&self, _: &str) -> io::Result<u64> {
        Err(no_folder())
    }
    fn upload(&self, _: &str, _: &str) -> io::Result<Vec<u8>> {
        Err(no_folder())
    }
    fn keep(&self, _: &str, _: &str) -> io::Result<()> {
        Err(no_folder())
    }
    fn discard(&self, _: &str, _: &str) -> io::Result<()> {
        Err(no_folder())
    }
    fn read(&self, _: &str, _: u64, _: u64) -> io::Result<Option<(u64, Vec<u8>)>> {
        Err(no_folder())
    }
}

/// Blobs in a folder: `sha256/<2 hex>/<hash>` when stored, `uploads/<device>/<hash>`
/// while an upload is under way.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    /// The store in `root`, created when missing.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        fs::create_dir_all(root.join("uploads"))?;
        fs::create_dir_all(root.join("sha256"))?;
        Ok(Self { root })
    }

    fn stored_path(&self, hash: &str) -> io::Result<PathBuf> {
        Ok(self.root.join("sha256").join(&checked(hash)?[..2]).join(hash))
    }

    fn uploads_of(&self, device: &str) -> io::Result<PathBuf> {
        Ok(self.root.join("uploads").join(checked_device(device)?))
    }

    fn upload_path(&self, device: &str, hash: &str) -> io::Result<PathBuf> {
        Ok(self.uploads_of(device)?.join(checked(hash)?))
    }

    /// Every upload under way: a file in a device's folder (or, as a center before
    /// uploads were per device left them, directly in `uploads/`).
    fn uploads(&self) -> io::Result<Vec<fs::DirEntry>> {
        let mut files = Vec::new();
        for entry in fs::read_dir(self.root.join("uploads"))? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                files.extend(fs::read_dir(entry.path())?.collect::<io::Result<Vec<_>>>()?);
            } else {
                files.push(entry);
            }
        }
        Ok(files)
    }
}

/// A device id is a path component only as the center issues them: a UUID.
fn checked_device(device: &str) -> io::Result<&str> {
    match uuid::Uuid::parse_str(device) {
        Ok(id) if id.hyphenated().to_string() == device => Ok(device),
        _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "not a device id")),
    }
}

/// A hash is a path component only once it is 64 hex digits (no `..`, no `/`).
fn checked(hash: &str) -> io::Result<&str> {
    if is_sha256_hex(hash) { Ok(hash) } else { Err(io::Error::new(io::ErrorKind::InvalidInput, "not a blob hash")) }
}

fn length_of(path: &Path) -> io::Result<Option<u64>> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some(meta.len())),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// Syncs a folder, so a rename or a new file in it survives a power cut.
fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

impl BlobStore for FsBlobStore {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn usage(&self) -> io::Result<BlobUsage> {
        let mut usage = BlobUsage::default();
        for prefix in fs::read_dir(self.root.join("sha256"))? {
            for file in fs::read_dir(prefix?.path())? {
                usage.stored += 1;
                usage.stored_bytes += file?.metadata()?.len();
            }
        }
        for file in self.uploads()? {
            usage.uploads += 1;
            usage.upload_bytes += file.metadata()?.len();
        }
        Ok(usage)
    }

    fn prune_uploads(&self, age: std::time::Duration) -> io::Result<u64> {
        let mut removed = 0;
        for file in self.uploads()? {
            let untouched = file.metadata()?.modified()?.elapsed().unwrap_or_default();
            if untouched >= age {
                fs::remove_file(file.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn held(&self, device: &str, hash: &str) -> io::Result<Held> {
        if let Some(size) = length_of(&self.stored_path(hash)?)? {
            return Ok(Held::Stored { size });
        }
        Ok(Held::Partial(length_of(&self.upload_path(device, hash)?)?.unwrap_or(0)))
    }

    fn append(&self, device: &str, hash: &str, offset: u64, bytes: &[u8]) -> Result<u64, AppendError> {
        let path = self.upload_path(device, hash)?;
        let folder = self.uploads_of(device)?;
        fs::create_dir_all(&folder)?;
        let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
        // Two center processes (or two requests) appending to one upload take turns.
        file.lock()?;
        let held = file.metadata()?.len();
        if held != offset {
            return Err(AppendError::Offset { offset, held });
        }
        file.write_all(bytes)?;
        file.sync_data()?;
        if held == 0 {
            sync_dir(&folder)?;
            sync_dir(&self.root.join("uploads"))?;
        }
        Ok(held + bytes.len() as u64)
    }

    fn in_flight(&self, device: &str) -> io::Result<u64> {
        match fs::read_dir(self.uploads_of(device)?) {
            Ok(files) => files.map(|file| Ok(file?.metadata()?.len())).sum(),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(err) => Err(err),
        }
    }

    fn upload(&self, device: &str, hash: &str) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        File::open(self.upload_path(device, hash)?)?.take(gridsync_core::MAX_BLOB_BYTES + 1).read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn keep(&self, device: &str, hash: &str) -> io::Result<()> {
        let target = self.stored_path(hash)?;
        let folder = target.parent().unwrap_or(&self.root).to_owned();
        fs::create_dir_all(&folder)?;
        fs::rename(self.upload_path(device, hash)?, &target)?;
        sync_dir(&folder)
    }

    fn discard(&self, device: &str, hash: &str) -> io::Result<()> {
        match fs::remove_file(self.upload_path(device, hash)?) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }

    fn read(&self, hash: &str, offset: u64, max: u64) -> io::Result<Option<(u64, Vec<u8>)>> {
        let mut file = match File::open(self.stored_path(hash)?) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        let size = file.metadata()?.len();
        file.seek(SeekFrom::Start(offset.min(size)))?;
        let mut bytes = Vec::new();
        file.take(max).read_to_end(&mut bytes)?;
        Ok(Some((size, bytes)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const HASH: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const DEVICE: &str = "0190f0f0-0000-7000-8000-000000000001";
    const OTHER: &str = "0190f0f0-0000-7000-8000-000000000002";

    #[test]
    fn an_upload_grows_in_order_and_is_served_only_once_kept() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        assert_eq!(store.held(DEVICE, HASH).unwrap(), Held::Partial(0));
        assert_eq!(store.append(DEVICE, HASH, 0, b"hello ").unwrap(), 6);
        assert!(matches!(store.append(DEVICE, HASH, 3, b"xx"), Err(AppendError::Offset { offset: 3, held: 6 })));
        assert!(matches!(store.append(DEVICE, HASH, 9, b"xx"), Err(AppendError::Offset { offset: 9, held: 6 })));
        assert_eq!(store.append(DEVICE, HASH, 6, b"world").unwrap(), 11);
        assert_eq!(store.held(DEVICE, HASH).unwrap(), Held::Partial(11));
        assert_eq!(store.read(HASH, 0, 100).unwrap(), None, "an upload is never served");
        assert_eq!(store.upload(DEVICE, HASH).unwrap(), b"hello world");
        store.keep(DEVICE, HASH).unwrap();
        assert_eq!(store.held(DEVICE, HASH).unwrap(), Held::Stored { size: 11 });
        assert_eq!(store.read(HASH, 6, 3).unwrap(), Some((11, b"wor".to_vec())));
        assert_eq!(store.read(HASH, 50, 3).unwrap(), Some((11, Vec::new())));
    }

    #[test]
    fn a_discarded_upload_starts_again_and_names_are_only_hashes() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        store.append(DEVICE, HASH, 0, b"bad bytes").unwrap();
        store.discard(DEVICE, HASH).unwrap();
        store.discard(DEVICE, HASH).unwrap();
        assert_eq!(store.held(DEVICE, HASH).unwrap(), Held::Partial(0));
        for name in ["../../etc/passwd", "", &"A".repeat(64), &format!("{}/", &HASH[..63])] {
            assert!(store.held(DEVICE, name).is_err(), "{name}");
            assert!(store.append(DEVICE, name, 0, b"x").is_err(), "{name}");
        }
    }

    #[test]
    fn each_device_grows_its_own_upload_and_counts_its_bytes() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        store.append(DEVICE, HASH, 0, b"hello ").unwrap();
        // Another device's garbage lands in its own upload, not in this one.
        assert_eq!(store.held(OTHER, HASH).unwrap(), Held::Partial(0));
        store.append(OTHER, HASH, 0, b"garbage!").unwrap();
        assert_eq!(store.append(DEVICE, HASH, 6, b"world").unwrap(), 11);
        assert_eq!(store.upload(DEVICE, HASH).unwrap(), b"hello world");
        assert_eq!((store.in_flight(DEVICE).unwrap(), store.in_flight(OTHER).unwrap()), (11, 8));
        assert_eq!(store.usage().unwrap().uploads, 2);
        store.keep(DEVICE, HASH).unwrap();
        assert_eq!(store.held(OTHER, HASH).unwrap(), Held::Stored { size: 11 }, "kept for everyone");
        assert_eq!(store.in_flight(DEVICE).unwrap(), 0);
        for device in ["../x", "", "0190F0F0-0000-7000-8000-000000000001"] {
            assert!(store.append(device, HASH, 0, b"x").is_err(), "{device}");
        }
        assert_eq!(store.prune_uploads(std::time::Duration::ZERO).unwrap(), 1);
    }
}
