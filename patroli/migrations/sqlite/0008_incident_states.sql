-- Incident states: same contract as PostgreSQL's 0008. SQLite cannot add a CHECK to a table in place, so two
-- triggers refuse any other value, on insert and on update.
CREATE TRIGGER incidents_state_known_insert BEFORE INSERT ON incidents
WHEN NEW.state NOT IN ('open', 'awaiting_unit', 'offered', 'dispatched', 'on_scene', 'cleared', 'closed')
BEGIN
    SELECT RAISE(ABORT, 'unknown incident state (incidents_state_known)');
END;
CREATE TRIGGER incidents_state_known_update BEFORE UPDATE OF state ON incidents
WHEN NEW.state NOT IN ('open', 'awaiting_unit', 'offered', 'dispatched', 'on_scene', 'cleared', 'closed')
BEGIN
    SELECT RAISE(ABORT, 'unknown incident state (incidents_state_known)');
END;
