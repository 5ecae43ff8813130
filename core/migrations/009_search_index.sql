-- gridsync store, schema 9: one search row per person.
-- gridsync: rebuild projections

-- The terms of migration 004 (h<汉字 piece>, p<pinyin from a syllable on>, i<initials>)
-- move from ~20 rows per person in a B-tree keyed by (term, id) into one FTS5 row per
-- person, keyed by person_search's rowid. The B-tree put each person's rows on ~20
-- random leaf pages, and at 50,000 records those pages no longer fit the page cache: an
-- import or a first sync read, decrypted, re-encrypted and wrote each of them (see
-- docs/performance.md). FTS5 appends its terms as sorted segments, in page order, and
-- merges them in sequence. Contentless (the names are in person_search already), no
-- positions (search needs none), rows deletable by rowid; the `ascii` tokenizer splits
-- at spaces and ASCII punctuation only, so a 汉字 term is one token.
DROP TABLE person_terms;
CREATE VIRTUAL TABLE person_terms USING fts5 (
    terms,
    content = '',
    contentless_delete = 1,
    detail = none,
    tokenize = 'ascii'
);

-- Written since schema 4 and read by nothing: search reads the terms.
ALTER TABLE person_search DROP COLUMN pinyin;
ALTER TABLE person_search DROP COLUMN initials;
