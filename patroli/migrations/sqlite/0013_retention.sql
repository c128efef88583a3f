-- Retention with legal hold (issue 14). Times are INTEGER microseconds since the Unix epoch (UTC).
CREATE TABLE legal_holds (
    hold_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    unit_id     TEXT    NOT NULL,
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER NOT NULL,
    reason      TEXT    NOT NULL,
    incident_id TEXT,
    placed_by   TEXT    NOT NULL,
    placed_at   INTEGER NOT NULL,
    lifted_by   TEXT,
    lifted_at   INTEGER,
    lift_reason TEXT,
    CHECK (ends_at > starts_at)
);
CREATE UNIQUE INDEX legal_holds_incident_unit ON legal_holds (incident_id, unit_id) WHERE incident_id IS NOT NULL;
CREATE INDEX legal_holds_active ON legal_holds (unit_id, starts_at) WHERE lifted_at IS NULL;

-- Same columns, in the same order, as positions (retention copies with SELECT *).
CREATE TABLE evidence_positions AS SELECT * FROM positions WHERE 0;
CREATE UNIQUE INDEX evidence_positions_key ON evidence_positions (unit_id, fix_time);

CREATE INDEX refusals_received ON refusals (received_at);
