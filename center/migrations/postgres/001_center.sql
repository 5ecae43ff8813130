-- gridsync-center on PostgreSQL, schema 1. Never edit a landed migration: add a new
-- numbered file. Area codes and record ids use the C collation: ranges by prefix and
-- the order of ids are byte order, as on the embedded SQLite backend, so a cursor or a
-- digest means the same on both.

CREATE TABLE center_meta (
    key   text PRIMARY KEY,
    value bytea NOT NULL
);

-- Areas by code (township, village, grid, micro-grid), for names and the register.
CREATE TABLE areas (
    code text COLLATE "C" PRIMARY KEY,
    name text NOT NULL
);

CREATE TABLE workers (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    created_at bigint NOT NULL
);

-- A worker's scope: area-code prefixes. Their devices see and change only these.
CREATE TABLE worker_scopes (
    worker_id text NOT NULL REFERENCES workers (id),
    prefix    text COLLATE "C" NOT NULL,
    PRIMARY KEY (worker_id, prefix)
);

-- One-time enrolment codes, stored as SHA-256 hashes.
CREATE TABLE enrol_codes (
    code_hash  bytea PRIMARY KEY,
    worker_id  text NOT NULL REFERENCES workers (id),
    expires_at bigint NOT NULL,
    used_at    bigint,
    device_id  text
);

CREATE TABLE devices (
    id           text PRIMARY KEY,
    worker_id    text NOT NULL REFERENCES workers (id),
    public_key   bytea NOT NULL,
    actor        text NOT NULL,
    name         text NOT NULL,
    app_version  text NOT NULL,
    enrolled_at  bigint NOT NULL,
    last_counter bigint NOT NULL DEFAULT 0,
    last_seen    bigint,
    revoked_at   bigint,
    wipe         boolean NOT NULL DEFAULT false
);
CREATE INDEX devices_actor ON devices (actor);

-- Answers to push batches, so a repeated batch gets the same answer and applies once.
CREATE TABLE batches (
    device_id text NOT NULL,
    batch_id  text NOT NULL,
    response  bytea NOT NULL,
    at        bigint NOT NULL,
    PRIMARY KEY (device_id, batch_id)
);

-- Refused requests and changes by reason, for `admin stats` and /metrics.
CREATE TABLE refusals (
    reason text PRIMARY KEY,
    count  bigint NOT NULL
);

-- One row per record: its automerge document as a compacted snapshot (NULL: only the
-- genesis) plus the change_log rows of the record with seq > snapshot_seq.
CREATE TABLE records (
    id           text COLLATE "C" PRIMARY KEY,
    kind         text NOT NULL,
    area_code    text COLLATE "C" NOT NULL,
    snapshot     bytea,
    snapshot_seq bigint NOT NULL DEFAULT 0,
    tail_len     integer NOT NULL DEFAULT 0,
    heads        bytea NOT NULL,
    deleted      boolean NOT NULL,
    conflicts    integer NOT NULL,
    created_at   bigint NOT NULL,
    updated_at   bigint NOT NULL
);
CREATE INDEX records_area ON records (area_code, id);
CREATE INDEX records_kind_area ON records (kind, area_code, id);

-- Every change of every record, append-only, by global sequence. Sequences are given at
-- commit under the lock of change_seq's one row, so they commit in order.
CREATE TABLE change_log (
    seq       bigint NOT NULL UNIQUE,
    record_id text COLLATE "C" NOT NULL REFERENCES records (id),
    hash      bytea NOT NULL,
    bytes     bytea NOT NULL,
    device    text,
    logged_at bigint NOT NULL,
    PRIMARY KEY (record_id, hash)
);
CREATE INDEX change_log_record ON change_log (record_id, seq);

CREATE TABLE change_seq (
    one   boolean PRIMARY KEY DEFAULT true CHECK (one),
    value bigint NOT NULL
);
INSERT INTO change_seq (one, value) VALUES (true, 0);
