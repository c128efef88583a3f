-- Same contract as the PostgreSQL schema. Times are INTEGER microseconds since the Unix epoch (UTC).
CREATE TABLE positions (
    unit_id     TEXT    NOT NULL,
    fix_time    INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    lat         REAL    NOT NULL,
    lon         REAL    NOT NULL,
    speed_mps   REAL,
    course_deg  REAL,
    altitude_m  REAL,
    hdop        REAL,
    satellites  INTEGER,
    quality     INTEGER,
    faa_mode    TEXT,
    valid       INTEGER NOT NULL,
    h3_r9       INTEGER NOT NULL,
    h3_r7       INTEGER NOT NULL,
    raw         TEXT    NOT NULL,
    PRIMARY KEY (unit_id, fix_time)
) WITHOUT ROWID;

CREATE INDEX positions_h3_r9_time ON positions (h3_r9, fix_time DESC);

CREATE TABLE last_positions (
    unit_id     TEXT    PRIMARY KEY,
    fix_time    INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    lat         REAL    NOT NULL,
    lon         REAL    NOT NULL,
    speed_mps   REAL,
    course_deg  REAL,
    altitude_m  REAL,
    hdop        REAL,
    satellites  INTEGER,
    quality     INTEGER,
    faa_mode    TEXT,
    valid       INTEGER NOT NULL,
    h3_r9       INTEGER NOT NULL,
    h3_r7       INTEGER NOT NULL,
    raw         TEXT    NOT NULL
);

CREATE TABLE refusals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at INTEGER NOT NULL,
    unit_id     TEXT,
    topic       TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    detail      TEXT    NOT NULL,
    raw         BLOB    NOT NULL
);

CREATE TABLE units (
    unit_id       TEXT PRIMARY KEY,
    kind          TEXT    NOT NULL,
    polres_code   TEXT,
    name          TEXT    NOT NULL DEFAULT '',
    registered_at INTEGER NOT NULL
);
