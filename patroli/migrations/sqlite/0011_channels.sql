-- Same contract as the PostgreSQL migration of the same number. Times are INTEGER microseconds (UTC).
CREATE TABLE channel_gateways (
    name        TEXT PRIMARY KEY,
    channel     TEXT    NOT NULL,
    token_hash  TEXT    NOT NULL UNIQUE,
    polres_code TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    disabled_at INTEGER
);

CREATE TABLE channel_refusals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at INTEGER NOT NULL,
    gateway     TEXT,
    channel     TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    detail      TEXT    NOT NULL,
    raw         BLOB    NOT NULL
);
CREATE INDEX channel_refusals_reason ON channel_refusals (reason, id);

CREATE TABLE evidence (
    incident_id  TEXT    NOT NULL REFERENCES incidents (incident_id),
    seq          INTEGER NOT NULL,
    received_at  INTEGER NOT NULL,
    kind         TEXT    NOT NULL,
    filename     TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    sha256       TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    content      BLOB    NOT NULL,
    PRIMARY KEY (incident_id, seq)
);

CREATE TABLE caller_locations (
    caller_id   TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    located_at  INTEGER NOT NULL,
    lat         REAL    NOT NULL,
    lon         REAL    NOT NULL,
    accuracy_m  REAL,
    method      TEXT    NOT NULL,
    raw         TEXT    NOT NULL,
    incident_id TEXT,
    attached_at INTEGER,
    PRIMARY KEY (caller_id, received_at)
);
CREATE INDEX caller_locations_held ON caller_locations (caller_id) WHERE incident_id IS NULL;
