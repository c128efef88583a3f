-- Positions (a TimescaleDB hypertable when the extension is present), last positions, refusals, units.
CREATE TABLE positions (
    unit_id     text             NOT NULL,
    fix_time    timestamptz      NOT NULL,
    received_at timestamptz      NOT NULL,
    lat         double precision NOT NULL,
    lon         double precision NOT NULL,
    speed_mps   real,
    course_deg  real,
    altitude_m  real,
    hdop        real,
    satellites  smallint,
    quality     smallint,
    faa_mode    text,
    valid       boolean          NOT NULL,
    h3_r9       bigint           NOT NULL,
    h3_r7       bigint           NOT NULL,
    raw         text             NOT NULL,
    PRIMARY KEY (unit_id, fix_time)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        PERFORM create_hypertable('positions', 'fix_time', chunk_time_interval => INTERVAL '1 day');
    END IF;
END
$$;

CREATE INDEX positions_h3_r9_time ON positions (h3_r9, fix_time DESC);

CREATE TABLE last_positions (LIKE positions INCLUDING DEFAULTS);
ALTER TABLE last_positions ADD PRIMARY KEY (unit_id);

CREATE TABLE refusals (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at timestamptz NOT NULL,
    unit_id     text,
    topic       text        NOT NULL,
    reason      text        NOT NULL,
    detail      text        NOT NULL,
    raw         bytea       NOT NULL
);
CREATE INDEX refusals_reason ON refusals (reason, id);

CREATE TABLE units (
    unit_id       text PRIMARY KEY,
    kind          text        NOT NULL,
    polres_code   text,
    name          text        NOT NULL DEFAULT '',
    registered_at timestamptz NOT NULL DEFAULT now()
);
