-- Where incidents happen, by H3 cell (dashboards/api_reports: the heatmap). Each located incident's resolution-9
-- cell, kept beside the incidents table so that the dispatcher's rows and code stay as they are: the web
-- process adds the cells of incidents it has not indexed yet before it aggregates (PostgreSQL has no H3
-- function without an extension; the parent of a cell at a coarser resolution is bit arithmetic, done in SQL).
CREATE TABLE incident_cells (
    incident_id text PRIMARY KEY REFERENCES incidents ON DELETE CASCADE,
    h3_r9       bigint NOT NULL
);
CREATE INDEX incident_cells_h3 ON incident_cells (h3_r9);

GRANT SELECT, INSERT ON incident_cells TO patroli_web;
GRANT SELECT ON incident_cells TO patroli_dispatch;
