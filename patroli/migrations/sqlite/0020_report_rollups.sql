-- Rollups for the auditor's and commander's reads (see the PostgreSQL migration of the same number). Times are
-- integer microseconds: a fix's minute is fix_time less its remainder of 60,000,000.
CREATE TABLE position_cells (
    unit_id  TEXT    NOT NULL,
    minute   INTEGER NOT NULL,
    h3_r9    INTEGER NOT NULL,
    n        INTEGER NOT NULL,
    first_at INTEGER NOT NULL,
    last_at  INTEGER NOT NULL,
    PRIMARY KEY (unit_id, minute, h3_r9)
) WITHOUT ROWID;
INSERT INTO position_cells (unit_id, minute, h3_r9, n, first_at, last_at)
SELECT unit_id, fix_time - fix_time % 60000000, h3_r9, count(*), min(fix_time), max(fix_time)
FROM positions GROUP BY 1, 2, 3;

ALTER TABLE incident_cells ADD COLUMN received_at INTEGER;
ALTER TABLE incident_cells ADD COLUMN incident_type TEXT;
ALTER TABLE incident_cells ADD COLUMN channel TEXT;
ALTER TABLE incident_cells ADD COLUMN station_code TEXT;
ALTER TABLE incident_cells ADD COLUMN polres_code TEXT;
UPDATE incident_cells SET (received_at, incident_type, channel, station_code, polres_code) = (
    SELECT i.received_at, i.incident_type, i.channel, i.station_code, i.polres_code FROM incidents i
    WHERE i.incident_id = incident_cells.incident_id);
CREATE INDEX incident_cells_received ON incident_cells (received_at, h3_r9);

CREATE TRIGGER incident_cells_relocated AFTER UPDATE OF lat, lon ON incidents
WHEN NEW.lat IS NOT OLD.lat OR NEW.lon IS NOT OLD.lon
BEGIN
    DELETE FROM incident_cells WHERE incident_id = NEW.incident_id;
END;
CREATE TRIGGER incident_cells_follow AFTER UPDATE OF received_at, incident_type, channel, station_code,
    polres_code ON incidents
BEGIN
    UPDATE incident_cells SET received_at = NEW.received_at, incident_type = NEW.incident_type,
        channel = NEW.channel, station_code = NEW.station_code, polres_code = NEW.polres_code
    WHERE incident_id = NEW.incident_id;
END;

CREATE TABLE audit_verified (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    seq         INTEGER NOT NULL,
    hash        TEXT    NOT NULL,
    verified_at INTEGER NOT NULL
);
