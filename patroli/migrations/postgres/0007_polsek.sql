-- Polsek, the first tier. An incident's level is now its tier on the whole ladder (patroli.incidents.TIERS):
-- 0 Polsek, 1 Polres, 2 Polda, 3 Mabes; incidents stored before were queued from the Polres up, so they move
-- up one number and keep their tier. The arrival target (600/900/1500 s by distance from the station) is
-- kept with the incident, so the response figures are one SQL query.
ALTER TABLE incidents ADD COLUMN polsek_code text;
ALTER TABLE incidents ADD COLUMN arrive_target_s double precision;
UPDATE incidents SET level = level + 1;
ALTER TABLE incidents ADD CONSTRAINT incidents_level_is_a_tier CHECK (level BETWEEN 0 AND 3);
CREATE INDEX incidents_polsek ON incidents (polsek_code) WHERE polsek_code IS NOT NULL;
CREATE INDEX incidents_polres ON incidents (polres_code);
