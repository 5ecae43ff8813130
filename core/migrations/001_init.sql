-- gridsync store, schema 1. Never edit a landed migration: add a new numbered file.

-- Settings of this store: the device's automerge actor, the worker signed in, the
-- township key for person ids.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

-- One row per record: its automerge document as a compacted snapshot (NULL: only the
-- genesis) plus the change_log rows of the record with seq > snapshot_seq.
CREATE TABLE records (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    area_code    TEXT NOT NULL,
    snapshot     BLOB,
    snapshot_seq INTEGER NOT NULL DEFAULT 0,
    tail_len     INTEGER NOT NULL DEFAULT 0,
    heads        BLOB NOT NULL,
    deleted      INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX records_kind_area ON records (kind, area_code, id);

-- Every change of every record, append-only. origin 0: made here; 1: received.
-- acked: the center has stored it (always 1 for received changes).
CREATE TABLE change_log (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL REFERENCES records (id),
    hash      BLOB NOT NULL,
    bytes     BLOB NOT NULL,
    origin    INTEGER NOT NULL,
    acked     INTEGER NOT NULL DEFAULT 0,
    logged_at INTEGER NOT NULL,
    UNIQUE (record_id, hash)
) STRICT;
CREATE INDEX change_log_record ON change_log (record_id, seq);
CREATE INDEX change_log_unacked ON change_log (seq) WHERE acked = 0;

-- Projections: typed columns derived from the documents, for queries. Rebuildable.
CREATE TABLE households (
    id                TEXT PRIMARY KEY REFERENCES records (id),
    area_code         TEXT NOT NULL,
    household_no      TEXT NOT NULL,
    household_type    TEXT NOT NULL,
    address           TEXT NOT NULL,
    lat               REAL,
    lon               REAL,
    residence_matches INTEGER NOT NULL,
    housing           TEXT NOT NULL,
    tags              TEXT NOT NULL,
    phone             TEXT,
    deleted           INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) STRICT;
CREATE INDEX households_area ON households (area_code, id);

CREATE TABLE persons (
    id            TEXT PRIMARY KEY REFERENCES records (id),
    area_code     TEXT NOT NULL,
    name          TEXT NOT NULL,
    former_name   TEXT,
    id_type       TEXT NOT NULL,
    id_number     TEXT,
    gender        TEXT NOT NULL,
    ethnicity     TEXT NOT NULL,
    birth_date    TEXT NOT NULL,
    phone         TEXT,
    household_id  TEXT,
    relationship  TEXT,
    person_type   TEXT NOT NULL,
    status        TEXT NOT NULL,
    focus_groups  TEXT NOT NULL,
    deleted       INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX persons_area ON persons (area_code, id);
CREATE INDEX persons_household ON persons (household_id);

-- Search keys of each person: names, pinyin (every reading of 多音字, space
-- separated), initials, and the reversed ID and phone numbers so a tail is a prefix.
CREATE TABLE person_search (
    id        TEXT PRIMARY KEY REFERENCES records (id),
    area_code TEXT NOT NULL,
    names     TEXT NOT NULL,
    pinyin    TEXT NOT NULL,
    initials  TEXT NOT NULL,
    id_rev    TEXT,
    phone_rev TEXT
) STRICT;
CREATE INDEX person_search_id_rev ON person_search (id_rev);
CREATE INDEX person_search_phone_rev ON person_search (phone_rev);

CREATE TABLE visits (
    id          TEXT PRIMARY KEY REFERENCES records (id),
    area_code   TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    visited_at  INTEGER NOT NULL,
    visitor     TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    next_due    TEXT,
    findings    INTEGER NOT NULL,
    deleted     INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX visits_area ON visits (area_code, id);
CREATE INDEX visits_target ON visits (target_id, visited_at);

CREATE TABLE incidents (
    id          TEXT PRIMARY KEY REFERENCES records (id),
    area_code   TEXT NOT NULL,
    service_no  TEXT NOT NULL,
    title       TEXT NOT NULL,
    categories  TEXT NOT NULL,
    status      TEXT NOT NULL,
    urgent      INTEGER NOT NULL,
    supervision TEXT,
    major       INTEGER NOT NULL,
    occurred_at INTEGER NOT NULL,
    deadline    INTEGER,
    deleted     INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX incidents_area ON incidents (area_code, id);
CREATE INDEX incidents_status ON incidents (status, area_code);
