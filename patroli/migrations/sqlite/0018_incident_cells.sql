-- Where incidents happen, by H3 cell (see the PostgreSQL migration of the same number).
CREATE TABLE incident_cells (
    incident_id TEXT PRIMARY KEY REFERENCES incidents ON DELETE CASCADE,
    h3_r9       INTEGER NOT NULL
);
CREATE INDEX incident_cells_h3 ON incident_cells (h3_r9);
