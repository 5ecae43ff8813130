-- gridsync store, schema 3: sync.

-- At the center: the device that pushed each change (NULL for changes made at the
-- center). Pulls skip a device's own changes.
ALTER TABLE change_log ADD COLUMN device TEXT;

-- On a phone: changes the center refused. change_log.acked is 0 pending, 1 stored at
-- the center, 2 quarantined; a quarantined change is kept and shown, never dropped.
CREATE TABLE quarantine (
    record_id TEXT NOT NULL,
    hash      BLOB NOT NULL,
    code      TEXT NOT NULL,
    reason    TEXT NOT NULL,
    at        INTEGER NOT NULL,
    PRIMARY KEY (record_id, hash)
) STRICT;
