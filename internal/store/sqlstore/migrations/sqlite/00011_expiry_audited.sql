-- When the audit trail recorded that a credential expired without having
-- been rotated; NULL until then. Set once, by whichever replica gets there
-- first, so the event is written once.
-- +goose Up
ALTER TABLE credentials ADD COLUMN expiry_audited_at INTEGER;

-- +goose Down
ALTER TABLE credentials DROP COLUMN expiry_audited_at;
