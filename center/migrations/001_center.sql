-- gridsync-center tables, schema 1 (beside gridsync-core's store in the same file).
-- Never edit a landed migration: add a new numbered file.

CREATE TABLE center_meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

-- Areas by code (township, village, grid, micro-grid), for names in exports.
CREATE TABLE areas (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL
) STRICT;

CREATE TABLE workers (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- A worker's scope: area-code prefixes. Their devices see and change only these.
CREATE TABLE worker_scopes (
    worker_id TEXT NOT NULL REFERENCES workers (id),
    prefix    TEXT NOT NULL,
    PRIMARY KEY (worker_id, prefix)
) STRICT;

-- One-time enrolment codes, stored as SHA-256 hashes.
CREATE TABLE enrol_codes (
    code_hash  BLOB PRIMARY KEY,
    worker_id  TEXT NOT NULL REFERENCES workers (id),
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    device_id  TEXT
) STRICT;

CREATE TABLE devices (
    id           TEXT PRIMARY KEY,
    worker_id    TEXT NOT NULL REFERENCES workers (id),
    public_key   BLOB NOT NULL,
    actor        TEXT NOT NULL,
    name         TEXT NOT NULL,
    app_version  TEXT NOT NULL,
    enrolled_at  INTEGER NOT NULL,
    last_counter INTEGER NOT NULL DEFAULT 0,
    last_seen    INTEGER,
    revoked_at   INTEGER,
    wipe         INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Answers to push batches, so a repeated batch gets the same answer and applies once.
CREATE TABLE batches (
    device_id TEXT NOT NULL,
    batch_id  TEXT NOT NULL,
    response  BLOB NOT NULL,
    at        INTEGER NOT NULL,
    PRIMARY KEY (device_id, batch_id)
) STRICT;

-- Refused requests and changes by reason, for `admin stats` and /metrics.
CREATE TABLE refusals (
    reason TEXT PRIMARY KEY,
    count  INTEGER NOT NULL
) STRICT;
