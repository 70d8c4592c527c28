-- When the audit trail recorded that a credential expired without having
-- been rotated; NULL until then. Set once, by whichever replica gets there
-- first, so the event is written once.
--
-- Audit retention: the trail stays append-only, except that events older
-- than the retention horizon (meta audit_retained_from, Unix microseconds,
-- set by the pruning job and only ever moved forward) may be deleted.
-- +goose Up
ALTER TABLE credentials ADD COLUMN expiry_audited_at TIMESTAMPTZ;

-- +goose StatementBegin
CREATE FUNCTION audit_events_retained() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    horizon TEXT;
BEGIN
    SELECT value INTO horizon FROM meta WHERE key = 'audit_retained_from';
    IF horizon IS NOT NULL AND OLD.at < to_timestamp(horizon::bigint / 1000000.0) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$;
-- +goose StatementEnd

DROP TRIGGER audit_events_no_update_delete ON audit_events;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_retained();

-- +goose Down
DROP TRIGGER audit_events_no_delete ON audit_events;
DROP TRIGGER audit_events_no_update ON audit_events;
CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
DROP FUNCTION audit_events_retained();
ALTER TABLE credentials DROP COLUMN expiry_audited_at;
