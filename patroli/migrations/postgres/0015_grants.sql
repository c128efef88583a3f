-- The least-privilege roles of 0006 for the tables later migrations made (0006 grants table by table, so a new
-- table is nobody's until a migration says whose it is). Same rule: each role gets what its service's code does.
-- A table's identity column draws from a sequence the inserting role must be able to use.
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO patroli_tracker, patroli_dispatch, patroli_web;

-- 0004: contacts the dispatcher sets aside (the web lists them)
GRANT SELECT, INSERT ON contact_refusals TO patroli_dispatch;
GRANT SELECT ON contact_refusals TO patroli_web;

-- 0010, 0011: phones are bound to units (the phones gateway writes positions as the tracker does); the 110
-- channels take intake as the dispatcher does
GRANT SELECT ON devices TO patroli_tracker, patroli_dispatch, patroli_web;
GRANT SELECT ON channel_gateways TO patroli_dispatch, patroli_web;
GRANT SELECT, INSERT ON channel_refusals, evidence TO patroli_dispatch;
GRANT SELECT, INSERT, UPDATE, DELETE ON caller_locations TO patroli_dispatch;
GRANT SELECT ON channel_refusals, evidence, caller_locations TO patroli_web;

-- 0013: legal holds are placed and lifted by auditors and admins (the web) and follow incidents; held positions
-- are read back by the replay and exports
GRANT SELECT, INSERT, UPDATE ON legal_holds TO patroli_dispatch, patroli_web;
GRANT SELECT ON evidence_positions TO patroli_web;

-- 0014: BMKG alerts open incidents (the alerts process runs as the dispatcher); EIDO comes in through the web
GRANT SELECT, INSERT, UPDATE ON cap_alerts, alert_incidents, eido_incidents TO patroli_dispatch, patroli_web;
