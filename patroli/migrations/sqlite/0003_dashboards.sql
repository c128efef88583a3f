-- Dashboards: same contract as PostgreSQL's 0003. Times are INTEGER microseconds since the epoch (UTC).
CREATE TABLE users (
    username      TEXT PRIMARY KEY,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'dispatcher', 'station_officer', 'auditor')),
    station_code  TEXT,
    display_name  TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    disabled_at   INTEGER,
    CHECK ((role = 'station_officer') = (station_code IS NOT NULL))
);

CREATE TABLE api_tokens (
    token_hash  TEXT    PRIMARY KEY,
    username    TEXT    NOT NULL REFERENCES users ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens (username);
CREATE INDEX api_tokens_expiry ON api_tokens (expires_at);

CREATE INDEX audit_unit ON audit_log (unit_id, seq) WHERE unit_id IS NOT NULL;
CREATE INDEX audit_actor ON audit_log (actor, seq);
CREATE INDEX audit_at ON audit_log (at);
CREATE INDEX incidents_received ON incidents (received_at DESC);
CREATE INDEX incidents_station_open ON incidents (station_code) WHERE closed_at IS NULL;
