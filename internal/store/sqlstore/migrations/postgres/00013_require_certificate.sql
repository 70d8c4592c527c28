-- A partner that requires a registered client certificate together with
-- its key or token.
-- +goose Up
ALTER TABLE partners ADD COLUMN require_certificate BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE partners DROP COLUMN require_certificate;
