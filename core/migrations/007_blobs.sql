-- gridsync store, schema 7: photos.

-- Photos and thumbnails by the SHA-256 (hex) of their bytes, inside the encrypted
-- database: they are encrypted with the store's key, and a photo and the record change
-- that names it are written in one transaction (docs/decisions.md, "Photos").
CREATE TABLE blobs (
    hash TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    -- Device clock (ms) of the last read: the cache drops the longest unread first.
    last_used INTEGER NOT NULL
);
CREATE INDEX blobs_by_use ON blobs (last_used);

-- Blobs the center does not hold yet, in the order they were attached, with a record
-- that names them (the center reaches a blob only through a record in scope). Never
-- evicted: nothing that has not reached the center is deleted.
CREATE TABLE blob_uploads (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    hash TEXT NOT NULL UNIQUE REFERENCES blobs (hash),
    record_id TEXT NOT NULL
);

-- Downloads under way: the bytes received so far, resumed from their length.
CREATE TABLE blob_downloads (
    hash TEXT PRIMARY KEY,
    bytes BLOB NOT NULL
);
