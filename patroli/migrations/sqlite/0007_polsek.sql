-- Polsek, the first tier: same contract as PostgreSQL's 0007 (SQLite cannot add a CHECK to a table in place;
-- the level is written by the dispatcher only, from patroli.incidents.TIERS).
ALTER TABLE incidents ADD COLUMN polsek_code TEXT;
ALTER TABLE incidents ADD COLUMN arrive_target_s REAL;
UPDATE incidents SET level = level + 1;
CREATE INDEX incidents_polsek ON incidents (polsek_code) WHERE polsek_code IS NOT NULL;
CREATE INDEX incidents_polres ON incidents (polres_code);
