-- gridsync store, schema 5: acknowledging a pushed change finds it by hash through an
-- index. Without it each acknowledgement scanned the change log: a phone pushing 50,000
-- changes after a long time offline spent minutes on it (docs/performance.md). Only
-- changes made here are ever acknowledged, so only they are indexed (the center has none).
CREATE INDEX change_log_local_hash ON change_log (hash) WHERE origin = 0;
