-- Dispatch: same contract as PostgreSQL's 0002. Times are INTEGER microseconds since the epoch (UTC).
ALTER TABLE units ADD COLUMN status TEXT NOT NULL DEFAULT 'available';
ALTER TABLE units ADD COLUMN status_since INTEGER NOT NULL DEFAULT 0;
ALTER TABLE units ADD COLUMN incident_id TEXT;

CREATE TABLE incidents (
    incident_id    TEXT PRIMARY KEY,
    received_at    INTEGER NOT NULL,
    channel        TEXT NOT NULL,
    category       TEXT NOT NULL,
    incident_type  TEXT NOT NULL,
    priority       INTEGER NOT NULL,
    caller_id      TEXT NOT NULL,
    lat            REAL,
    lon            REAL,
    accuracy_m     REAL,
    address        TEXT,
    description    TEXT NOT NULL,
    needs_unit     INTEGER NOT NULL,
    polres_code    TEXT NOT NULL,
    station_code   TEXT NOT NULL,
    level          INTEGER NOT NULL,
    station_deadline INTEGER,
    acked_at       INTEGER,
    acked_by       TEXT,
    state          TEXT NOT NULL,
    unit_id        TEXT,
    offer_deadline INTEGER,
    accepted_at    INTEGER,
    arrived_at     INTEGER,
    closed_at      INTEGER,
    disposition    TEXT
);
CREATE INDEX incidents_station_deadline ON incidents (station_deadline) WHERE station_deadline IS NOT NULL;
CREATE INDEX incidents_offer_deadline ON incidents (offer_deadline) WHERE offer_deadline IS NOT NULL;
CREATE INDEX incidents_caller ON incidents (caller_id);

CREATE TABLE incident_offers (
    incident_id TEXT NOT NULL REFERENCES incidents,
    unit_id     TEXT NOT NULL,
    offered_at  INTEGER NOT NULL,
    deadline    INTEGER NOT NULL,
    answer      TEXT,
    answered_at INTEGER,
    PRIMARY KEY (incident_id, unit_id)
);

CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    incident_id TEXT,
    unit_id     TEXT,
    details     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_incident ON audit_log (incident_id, seq);
