-- gridsync-center tables, schema 2: the township console's staff, sessions and audit.

-- Staff of the center (not grid workers): a role and an area scope each.
CREATE TABLE staff (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    scope         TEXT NOT NULL, -- area-code prefixes, comma-separated
    password_hash TEXT NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  INTEGER
) STRICT;

-- Signed-in browsers: the SHA-256 of the session token (the cookie holds the token).
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    staff_id   TEXT NOT NULL REFERENCES staff (id),
    csrf       TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

-- Every sensitive action and every reveal of personal data, for the 管理员.
CREATE TABLE audit (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    staff_id TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    detail   TEXT NOT NULL
) STRICT;
