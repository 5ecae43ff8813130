-- gridsync store, schema 4: indexed person search terms.
-- gridsync: rebuild projections

-- Every term a person can be found by, so a search reads an index range instead of
-- scanning every person (255 ms at 35,000 persons before, see docs/performance.md):
--   h:<one or two characters of a name>    (王, 芳, 王芳: any 汉字 substring starts here)
--   p:<pinyin from a syllable on>          (wangfang, fang; every reading of a 多音字)
--   i:<initials of a spelling>             (wf)
-- ID and phone tails keep their reversed columns in person_search.
CREATE TABLE person_terms (
    term TEXT NOT NULL,
    id   TEXT NOT NULL REFERENCES records (id),
    PRIMARY KEY (term, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX person_terms_id ON person_terms (id);
