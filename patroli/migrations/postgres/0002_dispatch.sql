-- Dispatch: unit status, incidents with their escalation deadline, offers to units, the hash-chained audit log.
ALTER TABLE units ADD COLUMN status text NOT NULL DEFAULT 'available';
ALTER TABLE units ADD COLUMN status_since timestamptz NOT NULL DEFAULT now();
ALTER TABLE units ADD COLUMN incident_id text;

CREATE TABLE incidents (
    incident_id    text PRIMARY KEY,
    received_at    timestamptz NOT NULL,
    channel        text NOT NULL,
    category       text NOT NULL,
    incident_type  text NOT NULL,
    priority       int  NOT NULL,
    caller_id      text NOT NULL,
    lat            double precision,
    lon            double precision,
    accuracy_m     double precision,
    address        text,
    description    text NOT NULL,
    needs_unit     int  NOT NULL,
    polres_code    text NOT NULL,
    station_code   text NOT NULL,
    level          int  NOT NULL,
    station_deadline timestamptz,
    acked_at       timestamptz,
    acked_by       text,
    state          text NOT NULL,
    unit_id        text,
    offer_deadline timestamptz,
    accepted_at    timestamptz,
    arrived_at     timestamptz,
    closed_at      timestamptz,
    disposition    text
);
CREATE INDEX incidents_station_deadline ON incidents (station_deadline) WHERE station_deadline IS NOT NULL;
CREATE INDEX incidents_offer_deadline ON incidents (offer_deadline) WHERE offer_deadline IS NOT NULL;
CREATE INDEX incidents_caller ON incidents (caller_id);
CREATE INDEX incidents_open ON incidents (state) WHERE closed_at IS NULL;

CREATE TABLE incident_offers (
    incident_id text NOT NULL REFERENCES incidents,
    unit_id     text NOT NULL,
    offered_at  timestamptz NOT NULL,
    deadline    timestamptz NOT NULL,
    answer      text,
    answered_at timestamptz,
    PRIMARY KEY (incident_id, unit_id)
);

CREATE TABLE audit_log (
    seq         bigint PRIMARY KEY,
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    incident_id text,
    unit_id     text,
    details     text NOT NULL,
    prev_hash   text NOT NULL,
    hash        text NOT NULL
);
CREATE INDEX audit_incident ON audit_log (incident_id, seq);
