-- 110 contacts from real channels (dispatch.channels): gateway accounts, what they refused, the evidence kept
-- with an incident, and callers' phone locations (AML SMS, ELS HTTPS) held until their contact arrives.
CREATE TABLE channel_gateways (
    name        text PRIMARY KEY,
    channel     text        NOT NULL,
    token_hash  text        NOT NULL UNIQUE,
    polres_code text        NOT NULL,
    created_at  timestamptz NOT NULL,
    disabled_at timestamptz
);

CREATE TABLE channel_refusals (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at timestamptz NOT NULL,
    gateway     text,
    channel     text        NOT NULL,
    reason      text        NOT NULL,
    detail      text        NOT NULL,
    raw         bytea       NOT NULL
);
CREATE INDEX channel_refusals_reason ON channel_refusals (reason, id);

CREATE TABLE evidence (
    incident_id  text        NOT NULL REFERENCES incidents (incident_id),
    seq          integer     NOT NULL,
    received_at  timestamptz NOT NULL,
    kind         text        NOT NULL,
    filename     text        NOT NULL,
    content_type text        NOT NULL,
    sha256       text        NOT NULL,
    size         integer     NOT NULL,
    content      bytea       NOT NULL,
    PRIMARY KEY (incident_id, seq)
);

CREATE TABLE caller_locations (
    caller_id   text             NOT NULL,
    received_at timestamptz      NOT NULL,
    located_at  timestamptz      NOT NULL,
    lat         double precision NOT NULL,
    lon         double precision NOT NULL,
    accuracy_m  real,
    method      text             NOT NULL,
    raw         text             NOT NULL,
    incident_id text,
    attached_at timestamptz,
    PRIMARY KEY (caller_id, received_at)
);
CREATE INDEX caller_locations_held ON caller_locations (caller_id) WHERE incident_id IS NULL;
