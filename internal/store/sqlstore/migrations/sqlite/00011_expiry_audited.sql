-- When the audit trail recorded that a credential expired without having
-- been rotated; NULL until then. Set once, by whichever replica gets there
-- first, so the event is written once.
--
-- Audit retention: the trail stays append-only, except that events older
-- than the retention horizon (meta audit_retained_from, Unix microseconds,
-- set by the pruning job and only ever moved forward) may be deleted.
-- +goose Up
ALTER TABLE credentials ADD COLUMN expiry_audited_at INTEGER;

DROP TRIGGER audit_events_no_delete;
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN OLD.at >= COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'audit_retained_from'), -9223372036854775808)
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER audit_events_no_delete;
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
-- +goose StatementEnd
ALTER TABLE credentials DROP COLUMN expiry_audited_at;
