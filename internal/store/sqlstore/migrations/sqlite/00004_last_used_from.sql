-- Where each credential was last used from, beside when (last_used_at).
-- Written in batches by the last-used recorder; neither audited nor on the
-- change feed.
-- +goose Up
ALTER TABLE credentials ADD COLUMN last_used_from TEXT;

-- +goose Down
ALTER TABLE credentials DROP COLUMN last_used_from;
