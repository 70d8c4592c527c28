-- A partner that requires a registered client certificate together with
-- its key or token: 1 requires, 0 does not.
-- +goose Up
ALTER TABLE partners ADD COLUMN require_certificate INTEGER NOT NULL DEFAULT 0 CHECK (require_certificate IN (0, 1));

-- +goose Down
ALTER TABLE partners DROP COLUMN require_certificate;
