-- Least privilege is PostgreSQL's (0006_roles.sql there): SQLite has no roles, its file's permissions are the
-- whole of its access control. Kept so that both backends report the same schema version.
SELECT 1;
