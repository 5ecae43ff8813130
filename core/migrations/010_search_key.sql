-- gridsync store, schema 10: person_search keyed by an explicit integer.
-- gridsync: rebuild projections

-- The search index (person_terms, schema 9) is keyed by person_search's rowid, and
-- SQLite documents that VACUUM may renumber the rowids of a table without an INTEGER
-- PRIMARY KEY: one person's terms would then find another. `key` is that rowid, made
-- explicit and kept by VACUUM. The rebuild refills both tables.
INSERT INTO person_terms (person_terms) VALUES ('delete-all');
DROP TABLE person_search;
CREATE TABLE person_search (
    key       INTEGER PRIMARY KEY,
    id        TEXT NOT NULL UNIQUE REFERENCES records (id),
    area_code TEXT NOT NULL,
    names     TEXT NOT NULL,
    id_rev    TEXT,
    phone_rev TEXT
) STRICT;
CREATE INDEX person_search_id_rev ON person_search (id_rev);
CREATE INDEX person_search_phone_rev ON person_search (phone_rev);
