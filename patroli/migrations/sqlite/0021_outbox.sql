-- The dispatch outbox: same contract as PostgreSQL's 0021 (times INTEGER microseconds since the epoch, UTC).
CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    topic      TEXT    NOT NULL,
    payload    BLOB    NOT NULL,
    qos        INTEGER NOT NULL,
    retain     INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE INDEX outbox_created ON outbox (created_at);
