-- gridsync store, schema 6: search keys written as people type them.
-- gridsync: rebuild projections

-- No table changes. The search keys change: names are kept without separator dots
-- (阿卜杜·热合曼 is found by 阿卜杜热合曼 and by any dot), and a syllable with ü (吕, 女,
-- 绿) is spelled both with v and with u (lv, lu), as Chinese keyboards type it. The
-- rebuild recomputes every person's keys from the documents.
SELECT 1;
