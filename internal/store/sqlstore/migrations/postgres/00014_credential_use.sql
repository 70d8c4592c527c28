-- Last use moves out of credentials into a narrow table of its own, as on
-- SQLite: a touch then rewrites a small row, not a version of the wide
-- credential row with its digest and scopes. A credential without a row
-- has never been used; rows are written only for credentials that exist
-- (see TouchCredentials), and credentials are never deleted.
-- +goose Up
CREATE TABLE credential_use (
    credential_id  TEXT        NOT NULL PRIMARY KEY,
    last_used_at   TIMESTAMPTZ NOT NULL,
    last_used_from TEXT
);

INSERT INTO credential_use (credential_id, last_used_at, last_used_from)
    SELECT id, last_used_at, last_used_from FROM credentials WHERE last_used_at IS NOT NULL;

ALTER TABLE credentials DROP COLUMN last_used_from;
ALTER TABLE credentials DROP COLUMN last_used_at;

-- +goose Down
ALTER TABLE credentials ADD COLUMN last_used_at TIMESTAMPTZ;
ALTER TABLE credentials ADD COLUMN last_used_from TEXT;

UPDATE credentials c SET last_used_at = u.last_used_at, last_used_from = u.last_used_from
    FROM credential_use u WHERE u.credential_id = c.id;

DROP TABLE credential_use;
