-- Officers' safety (issue 10): the SOS signal per unit, the units responding to an incident that takes several,
-- and the check-in timers of units on scene.
--
-- An officer emergency's unit in danger: the incident's subject, not one of the units that respond to it.
ALTER TABLE incidents ADD COLUMN officer_unit_id text;

-- unit_sos is the radio's level-triggered signal (`true` retained, `false`): one row per unit, so a `true`
-- heard again (the retained message after a restart, a second dispatcher) while the row is raised opens
-- nothing; only raised 0 → 1, a compare-and-set, opens an officer_emergency incident.
CREATE TABLE unit_sos (
    unit_id     text PRIMARY KEY,
    raised      int  NOT NULL,
    incident_id text,
    raised_at   timestamptz,
    cleared_at  timestamptz
);

-- An incident answered by several units at once (an officer's emergency: the nearest 3). The offers stay in
-- incident_offers (one row per unit asked, as for any incident); a unit that accepts is a responder here.
CREATE TABLE incident_responders (
    incident_id text NOT NULL REFERENCES incidents,
    unit_id     text NOT NULL,
    accepted_at timestamptz NOT NULL,
    arrived_at  timestamptz,
    cleared_at  timestamptz,
    PRIMARY KEY (incident_id, unit_id)
);

-- A unit on scene is asked to check in at due_at; it answers by answer_by, or its station is alerted
-- (escalated_at, the officer_emergency incident opened for it). Each step is a compare-and-set: once.
CREATE TABLE safety_checks (
    incident_id       text NOT NULL REFERENCES incidents,
    unit_id           text NOT NULL,
    due_at            timestamptz NOT NULL,
    asked_at          timestamptz,
    answer_by         timestamptz,
    answered_at       timestamptz,
    escalated_at      timestamptz,
    alert_incident_id text,
    PRIMARY KEY (incident_id, unit_id)
);
-- The open offers, for the emergencies' per-offer deadlines (the tick reads them every 0.25 s).
CREATE INDEX incident_offers_open ON incident_offers (deadline) WHERE answer IS NULL;
CREATE INDEX safety_checks_due ON safety_checks (due_at) WHERE asked_at IS NULL;
CREATE INDEX safety_checks_answer_by ON safety_checks (answer_by) WHERE answered_at IS NULL AND escalated_at IS NULL;

-- The dispatcher runs every step; the web process reads them (its dispatcher keeps units in SOS out of its
-- offers, the API lists them) and frees an emergency's responders when a person closes it.
GRANT SELECT, INSERT, UPDATE ON unit_sos, incident_responders, safety_checks TO patroli_dispatch;
GRANT SELECT ON unit_sos, incident_responders, safety_checks TO patroli_web;
GRANT UPDATE ON incident_responders TO patroli_web;
