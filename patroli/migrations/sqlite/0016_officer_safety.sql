-- Officers' safety: same contract as PostgreSQL's 0016 (times INTEGER microseconds since the epoch, UTC).
-- An officer emergency's unit in danger: the incident's subject, not one of the units that respond to it.
ALTER TABLE incidents ADD COLUMN officer_unit_id TEXT;

CREATE TABLE unit_sos (
    unit_id     TEXT PRIMARY KEY,
    raised      INTEGER NOT NULL,
    incident_id TEXT,
    raised_at   INTEGER,
    cleared_at  INTEGER
);

CREATE TABLE incident_responders (
    incident_id TEXT NOT NULL REFERENCES incidents,
    unit_id     TEXT NOT NULL,
    accepted_at INTEGER NOT NULL,
    arrived_at  INTEGER,
    cleared_at  INTEGER,
    PRIMARY KEY (incident_id, unit_id)
);

CREATE TABLE safety_checks (
    incident_id       TEXT NOT NULL REFERENCES incidents,
    unit_id           TEXT NOT NULL,
    due_at            INTEGER NOT NULL,
    asked_at          INTEGER,
    answer_by         INTEGER,
    answered_at       INTEGER,
    escalated_at      INTEGER,
    alert_incident_id TEXT,
    PRIMARY KEY (incident_id, unit_id)
);
-- The open offers, for the emergencies' per-offer deadlines (the tick reads them every 0.25 s).
CREATE INDEX incident_offers_open ON incident_offers (deadline) WHERE answer IS NULL;
CREATE INDEX safety_checks_due ON safety_checks (due_at) WHERE asked_at IS NULL;
CREATE INDEX safety_checks_answer_by ON safety_checks (answer_by) WHERE answered_at IS NULL AND escalated_at IS NULL;
