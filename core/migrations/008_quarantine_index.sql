-- gridsync store, schema 8: the quarantine counted without reading the change log.

-- `sync_status` counts quarantined changes (acked = 2) at every sync; without an index
-- that count read every change the phone ever held (a full scan, change bytes
-- included): the main part of why a sync with nothing new took 16 ms at 1,000 records
-- and 200 ms at 50,000 (docs/performance.md, "Idle sync").
CREATE INDEX change_log_quarantined ON change_log (seq) WHERE acked = 2;
