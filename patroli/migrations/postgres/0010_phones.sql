-- Phones as trackers (tracker.phones): a fix's source, the battery and accuracy a phone reports, an alarm it
-- raised, the rest of its fields as JSON text; and the device registry binding an app to a unit.
ALTER TABLE positions ADD COLUMN source text NOT NULL DEFAULT 'nmea';
ALTER TABLE positions ADD COLUMN battery_pct real;
ALTER TABLE positions ADD COLUMN accuracy_m real;
ALTER TABLE positions ADD COLUMN alarm text;
ALTER TABLE positions ADD COLUMN attributes text;
ALTER TABLE last_positions ADD COLUMN source text NOT NULL DEFAULT 'nmea';
ALTER TABLE last_positions ADD COLUMN battery_pct real;
ALTER TABLE last_positions ADD COLUMN accuracy_m real;
ALTER TABLE last_positions ADD COLUMN alarm text;
ALTER TABLE last_positions ADD COLUMN attributes text;

-- device: 'osmand:<id>' or 'owntracks:<user>/<device>'. secret_hash: SHA-256 of the OwnTracks HTTP password.
-- pending_command: the next cmd answered to the device (e.g. reportLocation), cleared when delivered.
CREATE TABLE devices (
    device          text PRIMARY KEY,
    unit_id         text        NOT NULL REFERENCES units (unit_id),
    secret_hash     text,
    pending_command text,
    registered_at   timestamptz NOT NULL
);
CREATE INDEX devices_unit ON devices (unit_id);
