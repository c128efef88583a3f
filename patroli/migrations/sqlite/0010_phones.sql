-- Same contract as the PostgreSQL migration of the same number.
ALTER TABLE positions ADD COLUMN source TEXT NOT NULL DEFAULT 'nmea';
ALTER TABLE positions ADD COLUMN battery_pct REAL;
ALTER TABLE positions ADD COLUMN accuracy_m REAL;
ALTER TABLE positions ADD COLUMN alarm TEXT;
ALTER TABLE positions ADD COLUMN attributes TEXT;
ALTER TABLE last_positions ADD COLUMN source TEXT NOT NULL DEFAULT 'nmea';
ALTER TABLE last_positions ADD COLUMN battery_pct REAL;
ALTER TABLE last_positions ADD COLUMN accuracy_m REAL;
ALTER TABLE last_positions ADD COLUMN alarm TEXT;
ALTER TABLE last_positions ADD COLUMN attributes TEXT;

CREATE TABLE devices (
    device          TEXT PRIMARY KEY,
    unit_id         TEXT    NOT NULL REFERENCES units (unit_id),
    secret_hash     TEXT,
    pending_command TEXT,
    registered_at   INTEGER NOT NULL
);
CREATE INDEX devices_unit ON devices (unit_id);
