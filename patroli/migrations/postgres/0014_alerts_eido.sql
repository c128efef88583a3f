-- CAP 1.2 alerts taken in (issue 14): each (sender, identifier) once; a thread is the first alert and the updates
-- and cancels that reference it; the incident opened for each Polres in the thread's area.
CREATE TABLE cap_alerts (
    sender       text        NOT NULL,
    identifier   text        NOT NULL,
    sent         timestamptz NOT NULL,
    msg_type     text        NOT NULL,
    status       text        NOT NULL,
    outcome      text        NOT NULL,
    received_at  timestamptz NOT NULL,
    thread_sender     text   NOT NULL,
    thread_identifier text   NOT NULL,
    headline     text        NOT NULL,
    area_geojson text        NOT NULL,
    PRIMARY KEY (sender, identifier)
);
CREATE INDEX cap_alerts_thread ON cap_alerts (thread_sender, thread_identifier, sent);

CREATE TABLE alert_incidents (
    thread_sender     text NOT NULL,
    thread_identifier text NOT NULL,
    polres_code       text NOT NULL,
    incident_id       text NOT NULL,
    PRIMARY KEY (thread_sender, thread_identifier, polres_code)
);

-- EIDO (NENA-STA-021) documents taken from other agencies: one incident per tracking identifier.
CREATE TABLE eido_incidents (
    tracking_id  text        PRIMARY KEY,
    incident_id  text        NOT NULL,
    last_update  timestamptz NOT NULL
);
