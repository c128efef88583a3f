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

-- incident_cells with the heatmap's filters and h3_r9 NULL until indexed: made anew (SQLite cannot drop a NOT NULL).
CREATE TABLE incident_cells_0020 (
    incident_id   TEXT PRIMARY KEY REFERENCES incidents ON DELETE CASCADE,
    h3_r9         INTEGER,
    received_at   INTEGER NOT NULL,
    incident_type TEXT,
    channel       TEXT,
    station_code  TEXT,
    polres_code   TEXT
);
INSERT INTO incident_cells_0020
SELECT i.incident_id, c.h3_r9, i.received_at, i.incident_type, i.channel, i.station_code, i.polres_code
FROM incidents i LEFT JOIN incident_cells c ON c.incident_id = i.incident_id
WHERE i.lat IS NOT NULL AND i.lon IS NOT NULL;
DROP TABLE incident_cells;
ALTER TABLE incident_cells_0020 RENAME TO incident_cells;
CREATE INDEX incident_cells_h3 ON incident_cells (h3_r9);
CREATE INDEX incident_cells_received ON incident_cells (received_at, h3_r9);
CREATE INDEX incident_cells_to_index ON incident_cells (incident_id) WHERE h3_r9 IS NULL;

CREATE TRIGGER incident_cells_located AFTER INSERT ON incidents
WHEN NEW.lat IS NOT NULL AND NEW.lon IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO incident_cells (incident_id, received_at, incident_type, channel, station_code, polres_code)
    VALUES (NEW.incident_id, NEW.received_at, NEW.incident_type, NEW.channel, NEW.station_code, NEW.polres_code);
END;
CREATE TRIGGER incident_cells_relocated AFTER UPDATE OF lat, lon ON incidents
WHEN NEW.lat IS NOT OLD.lat OR NEW.lon IS NOT OLD.lon
BEGIN
    DELETE FROM incident_cells WHERE incident_id = NEW.incident_id;
    INSERT INTO incident_cells (incident_id, received_at, incident_type, channel, station_code, polres_code)
    SELECT NEW.incident_id, NEW.received_at, NEW.incident_type, NEW.channel, NEW.station_code, NEW.polres_code
    WHERE NEW.lat IS NOT NULL AND NEW.lon IS NOT NULL;
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
