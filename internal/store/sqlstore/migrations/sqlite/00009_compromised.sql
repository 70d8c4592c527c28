-- When a secret-scanning report first found a credential published
-- (Unix microseconds, UTC); NULL for a key never reported. Once set it is
-- never cleared: a leaked secret stays leaked.
-- +goose Up
ALTER TABLE credentials ADD COLUMN compromised_at INTEGER;

-- +goose Down
ALTER TABLE credentials DROP COLUMN compromised_at;
