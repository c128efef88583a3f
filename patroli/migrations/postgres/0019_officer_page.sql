-- The officer's page (/m, issue 12): an officer logs in as a unit. A `unit` account is bound to one unit and
-- may only see and answer that unit's offers, raise its SOS and share its browser's position.
ALTER TABLE users ADD COLUMN unit_id text REFERENCES units (unit_id);
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('admin', 'dispatcher', 'station_officer', 'auditor', 'unit'));
-- a unit account belongs to exactly one unit; nobody else is bound to one
ALTER TABLE users ADD CONSTRAINT users_unit_bound CHECK ((role = 'unit') = (unit_id IS NOT NULL));
CREATE INDEX users_unit ON users (unit_id) WHERE unit_id IS NOT NULL;

-- Browser fixes are stored by the web process through the tracker's write path (staging COPY, insert, the
-- last-position upsert, refusals and their trim): it may add positions, never change or delete one.
GRANT INSERT ON positions TO patroli_web;
GRANT INSERT, UPDATE ON last_positions TO patroli_web;
GRANT INSERT, DELETE ON refusals TO patroli_web;
