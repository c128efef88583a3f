-- CAP 1.2 alerts taken in (issue 14; times INTEGER microseconds since the epoch): each (sender, identifier) once; a thread is the first alert and the updates
-- and cancels that reference it; the incident opened for each Polres in the thread's area.
CREATE TABLE cap_alerts (
    sender       TEXT        NOT NULL,
    identifier   TEXT        NOT NULL,
    sent         INTEGER NOT NULL,
    msg_type     TEXT        NOT NULL,
    status       TEXT        NOT NULL,
    outcome      TEXT        NOT NULL,
    received_at  INTEGER NOT NULL,
    thread_sender     TEXT   NOT NULL,
    thread_identifier TEXT   NOT NULL,
    headline     TEXT        NOT NULL,
    area_geojson TEXT        NOT NULL,
    PRIMARY KEY (sender, identifier)
);
CREATE INDEX cap_alerts_thread ON cap_alerts (thread_sender, thread_identifier, sent);

CREATE TABLE alert_incidents (
    thread_sender     TEXT NOT NULL,
    thread_identifier TEXT NOT NULL,
    polres_code       TEXT NOT NULL,
    incident_id       TEXT NOT NULL,
    PRIMARY KEY (thread_sender, thread_identifier, polres_code)
);

-- EIDO (NENA-STA-021) documents taken from other agencies: one incident per tracking identifier.
CREATE TABLE eido_incidents (
    tracking_id  TEXT    PRIMARY KEY,
    incident_id  TEXT    NOT NULL,
    last_update  INTEGER NOT NULL
);
