-- gridsync-center tables, schema 3: a grid worker's role and employment (docs/merge.md,
-- "Roles"). Workers registered before are 专职网格员.
ALTER TABLE workers ADD COLUMN role TEXT NOT NULL DEFAULT 'grid_worker';
ALTER TABLE workers ADD COLUMN employment TEXT NOT NULL DEFAULT 'full_time';
