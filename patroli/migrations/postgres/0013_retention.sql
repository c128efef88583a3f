-- Retention with legal hold (issue 14): holds on a unit's positions over a time range, and the evidence table
-- their positions are copied to before retention drops the chunk that held them.
CREATE TABLE legal_holds (
    hold_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_id     text        NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    reason      text        NOT NULL,
    incident_id text,                    -- set on the automatic hold of a unit involved in an incident
    placed_by   text        NOT NULL,
    placed_at   timestamptz NOT NULL,
    lifted_by   text,
    lifted_at   timestamptz,
    lift_reason text,
    CHECK (ends_at > starts_at)
);
CREATE UNIQUE INDEX legal_holds_incident_unit ON legal_holds (incident_id, unit_id) WHERE incident_id IS NOT NULL;
CREATE INDEX legal_holds_active ON legal_holds (unit_id, starts_at) WHERE lifted_at IS NULL;

-- Same columns, in the same order, as positions (retention copies with SELECT *); a plain table, not a hypertable:
-- what is held is kept whole until its hold is lifted.
CREATE TABLE evidence_positions (LIKE positions INCLUDING DEFAULTS);
ALTER TABLE evidence_positions ADD PRIMARY KEY (unit_id, fix_time);

CREATE INDEX refusals_received ON refusals (received_at);
