-- Rollups for the auditor's and commander's reads (issue 13, bench/reports): what coverage, the heatmap and the
-- incident trail read instead of scanning the positions hypertable, joining incidents, or re-hashing the audit
-- chain on every request.

-- Per unit, per minute, per resolution-9 H3 cell: how many fixes and the first and last of them. Kept by
-- Store.write_batch in the transaction that inserts the positions (only the rows inserted, not the duplicates),
-- so a shift's coverage reads ~20 rows a unit-hour instead of 3,600 fixes. Filled here from the positions
-- already stored.
CREATE TABLE position_cells (
    unit_id  text        NOT NULL,
    minute   timestamptz NOT NULL,
    h3_r9    bigint      NOT NULL,
    n        integer     NOT NULL,
    first_at timestamptz NOT NULL,
    last_at  timestamptz NOT NULL,
    PRIMARY KEY (unit_id, minute, h3_r9)
);
INSERT INTO position_cells (unit_id, minute, h3_r9, n, first_at, last_at)
SELECT unit_id, date_bin('1 minute', fix_time, TIMESTAMPTZ 'epoch'), h3_r9, count(*), min(fix_time), max(fix_time)
FROM positions GROUP BY 1, 2, 3;

GRANT SELECT, INSERT, UPDATE ON position_cells TO patroli_tracker, patroli_web;

-- The heatmap's filters beside each incident's cell, so that it is one grouped read of this table with no join,
-- kept by the trigger below: a located incident gets its row here when it is inserted or located, with h3_r9
-- NULL until the web process computes the cell (reports_repo.index_incident_cells finds those by the partial
-- index, where it used to anti-join every incident); a relocated one gets NULL again, a retyped or transferred
-- one its new filters.
ALTER TABLE incident_cells
    ALTER COLUMN h3_r9 DROP NOT NULL,
    ADD COLUMN received_at   timestamptz,
    ADD COLUMN incident_type text,
    ADD COLUMN channel       text,
    ADD COLUMN station_code  text,
    ADD COLUMN polres_code   text;
UPDATE incident_cells c SET received_at = i.received_at, incident_type = i.incident_type, channel = i.channel,
    station_code = i.station_code, polres_code = i.polres_code
FROM incidents i WHERE i.incident_id = c.incident_id;
INSERT INTO incident_cells (incident_id, received_at, incident_type, channel, station_code, polres_code)
SELECT incident_id, received_at, incident_type, channel, station_code, polres_code FROM incidents
WHERE lat IS NOT NULL AND lon IS NOT NULL ON CONFLICT (incident_id) DO NOTHING;
ALTER TABLE incident_cells ALTER COLUMN received_at SET NOT NULL;
CREATE INDEX incident_cells_received ON incident_cells (received_at, h3_r9);
CREATE INDEX incident_cells_to_index ON incident_cells (incident_id) WHERE h3_r9 IS NULL;

CREATE FUNCTION incident_cells_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.lat IS NULL OR NEW.lon IS NULL THEN
        DELETE FROM incident_cells WHERE incident_id = NEW.incident_id;
        RETURN NULL;
    END IF;
    INSERT INTO incident_cells (incident_id, h3_r9, received_at, incident_type, channel, station_code, polres_code)
    VALUES (NEW.incident_id, NULL, NEW.received_at, NEW.incident_type, NEW.channel, NEW.station_code,
        NEW.polres_code)
    ON CONFLICT (incident_id) DO UPDATE SET received_at = excluded.received_at,
        incident_type = excluded.incident_type, channel = excluded.channel,
        station_code = excluded.station_code, polres_code = excluded.polres_code,
        h3_r9 = CASE WHEN TG_OP = 'UPDATE' AND (NEW.lat IS DISTINCT FROM OLD.lat OR NEW.lon IS DISTINCT FROM OLD.lon)
            THEN NULL ELSE incident_cells.h3_r9 END;
    RETURN NULL;
END
$$;
CREATE TRIGGER incident_cells_follow AFTER INSERT OR UPDATE OF received_at, incident_type, channel,
    station_code, polres_code, lat, lon ON incidents FOR EACH ROW EXECUTE FUNCTION incident_cells_follow();

GRANT SELECT, INSERT, UPDATE, DELETE ON incident_cells TO patroli_dispatch, patroli_web;

-- The last audit row a walk of the whole chain found sound (one row): the trail's verdict walks on from it,
-- instead of from the genesis on every read (reports_repo.incident_trail).
CREATE TABLE audit_verified (
    id          smallint PRIMARY KEY CHECK (id = 1),
    seq         bigint      NOT NULL,
    hash        text        NOT NULL,
    verified_at timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE ON audit_verified TO patroli_web;
