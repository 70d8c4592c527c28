-- The partner lifecycle: source allow-lists on partners and keys, and the
-- tombstone a deleted partner leaves. allow_cidrs holds comma-separated
-- networks, sorted and masked; '' allows every address. deleted_at is set
-- with state 'deleted' and cleared only when the id is reused on purpose.
-- +goose Up
ALTER TABLE partners ADD COLUMN allow_cidrs TEXT NOT NULL DEFAULT '';
ALTER TABLE partners ADD COLUMN deleted_at TIMESTAMPTZ;
ALTER TABLE credentials ADD COLUMN allow_cidrs TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE credentials DROP COLUMN allow_cidrs;
ALTER TABLE partners DROP COLUMN deleted_at;
ALTER TABLE partners DROP COLUMN allow_cidrs;
