-- The dead-letter table of 110 contacts: every contact that arrived on the bus and could not be stored, with its
-- reason code, a human detail and the raw bytes as received. The message is acknowledged only once this row is
-- committed, so a refused contact is never lost, only set aside for a person to look at.
CREATE TABLE contact_refusals (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at timestamptz NOT NULL,
    topic       text        NOT NULL,
    reason      text        NOT NULL,
    detail      text        NOT NULL,
    raw         bytea       NOT NULL
);
CREATE INDEX contact_refusals_received_at ON contact_refusals (received_at);

-- A gateway's own id for a contact: one redelivered by the broker (its dispatcher killed after the commit, before
-- the acknowledgement) is found and not stored twice.
ALTER TABLE incidents ADD COLUMN contact_id text;
CREATE UNIQUE INDEX incidents_contact_id ON incidents (contact_id) WHERE contact_id IS NOT NULL;
