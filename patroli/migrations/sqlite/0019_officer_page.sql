-- The officer's page: same contract as PostgreSQL's 0019. SQLite cannot change a CHECK in place, so `users`
-- is rebuilt with the `unit` role and its unit; the tokens (which a dropped `users` takes with it, ON DELETE
-- CASCADE) are kept aside and put back, so nobody is logged out by the upgrade.
CREATE TABLE users_0019 (
    username      TEXT PRIMARY KEY,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'dispatcher', 'station_officer', 'auditor', 'unit')),
    station_code  TEXT,
    display_name  TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    disabled_at   INTEGER,
    unit_id       TEXT REFERENCES units (unit_id),
    CHECK ((role = 'station_officer') = (station_code IS NOT NULL)),
    CHECK ((role = 'unit') = (unit_id IS NOT NULL))
);
INSERT INTO users_0019 (username, password_hash, role, station_code, display_name, created_at, disabled_at)
    SELECT username, password_hash, role, station_code, display_name, created_at, disabled_at FROM users;
CREATE TEMP TABLE api_tokens_0019 AS SELECT * FROM api_tokens;
DROP TABLE users;
ALTER TABLE users_0019 RENAME TO users;
INSERT INTO api_tokens SELECT * FROM api_tokens_0019;
DROP TABLE api_tokens_0019;
CREATE INDEX users_unit ON users (unit_id) WHERE unit_id IS NOT NULL;
