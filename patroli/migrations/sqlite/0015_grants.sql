-- PostgreSQL's least-privilege grants for the tables of 0004-0014 (SQLite has no roles): a version kept
-- equal across the backends.
SELECT 1;
