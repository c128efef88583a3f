-- Dashboards: people with roles, their API tokens (stored as SHA-256 only), and indexes for the auditors' queries.
CREATE TABLE users (
    username      text PRIMARY KEY,
    password_hash text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('admin', 'dispatcher', 'station_officer', 'auditor')),
    station_code  text,
    display_name  text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    disabled_at   timestamptz,
    -- a station officer belongs to exactly one station; nobody else is scoped to one
    CHECK ((role = 'station_officer') = (station_code IS NOT NULL))
);

CREATE TABLE api_tokens (
    token_hash  text        PRIMARY KEY,
    username    text        NOT NULL REFERENCES users ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens (username);
CREATE INDEX api_tokens_expiry ON api_tokens (expires_at);

CREATE INDEX audit_unit ON audit_log (unit_id, seq) WHERE unit_id IS NOT NULL;
CREATE INDEX audit_actor ON audit_log (actor, seq);
CREATE INDEX audit_at ON audit_log (at);
CREATE INDEX incidents_received ON incidents (received_at DESC);
CREATE INDEX incidents_station_open ON incidents (station_code) WHERE closed_at IS NULL;
