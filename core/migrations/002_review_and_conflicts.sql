-- gridsync store, schema 2: projections of merge results.
-- gridsync: rebuild projections

-- How many fields of the record hold concurrent values (see Store::conflicts).
ALTER TABLE records ADD COLUMN conflicts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX records_conflicted ON records (area_code, id) WHERE conflicts > 0;

-- Incidents whose merged timeline holds concurrent steps that conflict.
ALTER TABLE incidents ADD COLUMN needs_review INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN review TEXT;
