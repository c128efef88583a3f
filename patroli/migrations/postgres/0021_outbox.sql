-- The dispatch outbox (issue 10): every bus message a dispatch change announces (incident events, unit events,
-- offers and check-in requests to radios) is a row here, written in the transaction of the change, so it is
-- visible exactly when the change is. The process that committed it publishes it at once and deletes it once
-- the broker acknowledged it (QoS 1 PUBACK); a row left by a process that died is published by the dispatch
-- process's tick (dispatch.announcer.OutboxRelay). Delivery is at least once: consumers tolerate a repeat.
CREATE TABLE outbox (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic      text        NOT NULL,
    payload    bytea       NOT NULL,
    qos        smallint    NOT NULL,
    retain     boolean     NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL
);

-- The sweep for rows left behind reads the oldest first (id order is commit order closely enough; created_at
-- is what tells a row in flight from an orphan).
CREATE INDEX outbox_created ON outbox (created_at);

-- Every process that changes an incident or a unit writes its announcements; each deletes the rows it published
-- (UPDATE: a relay holds its rows with SELECT … FOR UPDATE while it publishes them).
GRANT SELECT, INSERT, UPDATE, DELETE ON outbox TO patroli_dispatch, patroli_web;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO patroli_dispatch, patroli_web;
