-- Security (issue 9): a unit's credentials can be disabled; the audit log is append-only.
ALTER TABLE units ADD COLUMN disabled_at timestamptz;

-- The audit chain is INSERT and SELECT only: no role, not even the table's owner, may rewrite or remove an
-- entry through SQL (a superuser can still drop the trigger: that is what the keyed, exported head detects).
ALTER TABLE audit_log ADD CONSTRAINT audit_log_seq_positive CHECK (seq > 0);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
