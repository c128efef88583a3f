-- Least privilege (issue 9). The role that runs migrations owns every table; each service logs in as a user
-- that is a member of one of these group roles, which can do only what that service's code does:
--   patroli_tracker   inserts positions and refusals (and trims refusals), upserts last positions, registers
--                     units in the open mode; reads units (registration, disabled radios)
--   patroli_dispatch  incidents, offers and unit status; reads last positions; appends to the audit log
--   patroli_web       what the dispatcher may (the web process takes intake and acknowledgements) and users and
--                     tokens; reads positions and refusals
-- Nobody may UPDATE or DELETE audit_log (and its trigger refuses even the owner). Roles are cluster-wide, so
-- they are created only where missing; the grants are per database.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['patroli_tracker', 'patroli_dispatch', 'patroli_web'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format(
        'GRANT CONNECT, TEMPORARY ON DATABASE %I TO patroli_tracker, patroli_dispatch, patroli_web',
        current_database()
    );
END
$$;

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO patroli_tracker, patroli_dispatch, patroli_web;
GRANT SELECT ON schema_migrations TO patroli_tracker, patroli_dispatch, patroli_web;

GRANT SELECT, INSERT ON positions TO patroli_tracker;
GRANT SELECT, INSERT, UPDATE ON last_positions TO patroli_tracker;
GRANT SELECT, INSERT, DELETE ON refusals TO patroli_tracker;
GRANT SELECT, INSERT ON units TO patroli_tracker;

GRANT SELECT ON last_positions TO patroli_dispatch;
GRANT SELECT, UPDATE ON units TO patroli_dispatch;
GRANT SELECT, INSERT, UPDATE ON incidents, incident_offers TO patroli_dispatch;
GRANT SELECT, INSERT ON audit_log TO patroli_dispatch;

GRANT SELECT ON positions, last_positions, refusals TO patroli_web;
GRANT SELECT, UPDATE ON units TO patroli_web;
GRANT SELECT, INSERT, UPDATE ON incidents, incident_offers, users TO patroli_web;
GRANT SELECT, INSERT, UPDATE, DELETE ON api_tokens TO patroli_web;
GRANT SELECT, INSERT ON audit_log TO patroli_web;
