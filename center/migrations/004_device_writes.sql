-- gridsync-center tables, schema 4: what each device wrote each day (China date, days
-- since the epoch), for the per-device write budget and for the township to see.
CREATE TABLE device_writes (
    device_id TEXT NOT NULL,
    day INTEGER NOT NULL,
    records INTEGER NOT NULL,
    changes INTEGER NOT NULL,
    PRIMARY KEY (device_id, day)
);
