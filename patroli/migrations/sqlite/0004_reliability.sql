-- The dead-letter table of 110 contacts (see the PostgreSQL migration of the same number).
CREATE TABLE contact_refusals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at INTEGER NOT NULL,
    topic       TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    detail      TEXT    NOT NULL,
    raw         BLOB    NOT NULL
);
CREATE INDEX contact_refusals_received_at ON contact_refusals (received_at);

-- A gateway's own id for a contact: one redelivered by the broker (its dispatcher killed after the commit, before
-- the acknowledgement) is found and not stored twice.
ALTER TABLE incidents ADD COLUMN contact_id text;
CREATE UNIQUE INDEX incidents_contact_id ON incidents (contact_id) WHERE contact_id IS NOT NULL;
