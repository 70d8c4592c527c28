-- Last use moves out of credentials into a narrow table of its own, kept
-- in credential-id order (WITHOUT ROWID). The recorder writes last use in
-- id order, so a batch of touches lands on a few adjacent pages of this
-- table instead of one page of the wide credentials table each: every
-- page a commit changes is a frame written to the WAL, and with 100,000
-- keys in use that was most of the cost of a touch. A credential without a
-- row has never been used; rows are written only for credentials that
-- exist (see TouchCredentials), and credentials are never deleted.
-- +goose Up
CREATE TABLE credential_use (
    credential_id  TEXT    NOT NULL PRIMARY KEY,
    last_used_at   INTEGER NOT NULL,
    last_used_from TEXT
) STRICT, WITHOUT ROWID;

INSERT INTO credential_use (credential_id, last_used_at, last_used_from)
    SELECT id, last_used_at, last_used_from FROM credentials WHERE last_used_at IS NOT NULL;

ALTER TABLE credentials DROP COLUMN last_used_from;
ALTER TABLE credentials DROP COLUMN last_used_at;

-- +goose Down
ALTER TABLE credentials ADD COLUMN last_used_at INTEGER;
ALTER TABLE credentials ADD COLUMN last_used_from TEXT;

UPDATE credentials SET
    last_used_at = (SELECT u.last_used_at FROM credential_use u WHERE u.credential_id = credentials.id),
    last_used_from = (SELECT u.last_used_from FROM credential_use u WHERE u.credential_id = credentials.id);

DROP TABLE credential_use;
