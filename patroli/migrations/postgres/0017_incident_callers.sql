-- One incident, many callers (issue 10): the callers attached to an incident after its own contact (the first
-- caller is the incident's own `caller_id`, not repeated here), and the links between incidents with NENA EIDO's
-- semantics: `replaced_by` (a merge: the incident was closed as a duplicate of `other_id`, EIDO REPLACED /
-- REPLACING), `parent_of` (EIDO PARENT / CHILD) and `related` (EIDO RELATED). Nothing is merged automatically.
CREATE TABLE incident_callers (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id   text        NOT NULL REFERENCES incidents,
    attached_at   timestamptz NOT NULL,
    attached_by   text        NOT NULL,
    channel       text        NOT NULL,
    caller_id     text        NOT NULL,
    lat           double precision,
    lon           double precision,
    accuracy_m    double precision,
    description   text        NOT NULL DEFAULT '',
    from_incident text REFERENCES incidents  -- set when the caller came with a merged incident
);
CREATE INDEX incident_callers_incident ON incident_callers (incident_id, id);
CREATE INDEX incident_callers_caller ON incident_callers (caller_id);

CREATE TABLE incident_links (
    incident_id text        NOT NULL REFERENCES incidents,
    other_id    text        NOT NULL REFERENCES incidents,
    relation    text        NOT NULL CHECK (relation IN ('replaced_by', 'parent_of', 'related')),
    linked_at   timestamptz NOT NULL,
    linked_by   text        NOT NULL,
    reason      text        NOT NULL DEFAULT '',
    PRIMARY KEY (incident_id, other_id),
    CHECK (incident_id <> other_id)
);
CREATE INDEX incident_links_other ON incident_links (other_id);
-- An incident is replaced at most once: merged into one survivor.
CREATE UNIQUE INDEX incident_links_replaced_once ON incident_links (incident_id) WHERE relation = 'replaced_by';
-- Open incidents by place, for the duplicate search at intake (the H3 disk's bounding box): by time instead, the
-- 5,000 of 10,000 open incidents received in the last 30 minutes were all read, 14 ms a search on SQLite; by
-- latitude, 1.2 ms (bench/duplicates.py).
CREATE INDEX incidents_open_place ON incidents (lat, lon) WHERE closed_at IS NULL;

-- The web attaches callers, links and merges (closing the duplicate as the web already closes incidents) and
-- exports EIDO. No other service's code reads these tables, so no other role may: the callers' numbers are
-- personal data.
GRANT SELECT, INSERT, UPDATE ON incident_callers TO patroli_web;
GRANT SELECT, INSERT ON incident_links TO patroli_web;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO patroli_web;
