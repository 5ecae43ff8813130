-- gridsync-center on PostgreSQL, schema 2: the township console's staff, sessions and
-- audit.

CREATE TABLE staff (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    role          text NOT NULL,
    scope         text NOT NULL, -- area-code prefixes, comma-separated
    password_hash text NOT NULL,
    failed_logins integer NOT NULL DEFAULT 0,
    locked_until  bigint
);

CREATE TABLE sessions (
    token_hash bytea PRIMARY KEY,
    staff_id   text NOT NULL REFERENCES staff (id),
    csrf       text NOT NULL,
    expires_at bigint NOT NULL
);

CREATE TABLE audit (
    seq      bigserial PRIMARY KEY,
    at       bigint NOT NULL,
    staff_id text NOT NULL,
    action   text NOT NULL,
    target   text NOT NULL,
    detail   text NOT NULL
);
