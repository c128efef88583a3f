-- Incident states: the lifecycle is patroli.incidents.IncidentState and INCIDENT_TRANSITIONS, enforced by the
-- dispatch repository for every change; the database refuses any other value.
ALTER TABLE incidents ADD CONSTRAINT incidents_state_known
    CHECK (state IN ('open', 'awaiting_unit', 'offered', 'dispatched', 'on_scene', 'cleared', 'closed'));
