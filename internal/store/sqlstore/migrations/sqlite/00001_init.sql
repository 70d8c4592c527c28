-- Initial schema. Times are Unix microseconds (UTC); NULL means unset.
-- +goose Up
CREATE TABLE partners (
    id         TEXT    NOT NULL PRIMARY KEY,
    tier       TEXT    NOT NULL,
    scopes     TEXT    NOT NULL DEFAULT '', -- space-separated, sorted
    state      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version    INTEGER NOT NULL
) STRICT;

CREATE TABLE credentials (
    id              TEXT    NOT NULL PRIMARY KEY, -- the public key id
    partner_id      TEXT    NOT NULL REFERENCES partners (id),
    name            TEXT    NOT NULL DEFAULT '',
    digest          BLOB    NOT NULL, -- keyed hash of the secret, never the secret
    pepper_version  INTEGER NOT NULL,
    scopes          TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER,
    revoked_at      INTEGER,
    rotated_from    TEXT,
    last_rotated_at INTEGER,
    last_used_at    INTEGER,
    version         INTEGER NOT NULL
) STRICT;

CREATE INDEX credentials_partner_created ON credentials (partner_id, created_at);

CREATE TABLE audit_events (
    id            INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at            INTEGER NOT NULL,
    actor         TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    partner_id    TEXT    NOT NULL DEFAULT '',
    credential_id TEXT    NOT NULL DEFAULT '',
    reason        TEXT    NOT NULL DEFAULT '',
    detail        TEXT    NOT NULL DEFAULT '{}' -- JSON object of strings
) STRICT;

CREATE INDEX audit_events_partner ON audit_events (partner_id, id);

-- The audit trail is append-only: refuse edits in the database itself.
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
-- +goose StatementEnd

-- AUTOINCREMENT never reuses a version, even after the newest row is gone.
CREATE TABLE changes (
    version INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    kind    TEXT    NOT NULL,
    id      TEXT    NOT NULL,
    at      INTEGER NOT NULL
) STRICT;

CREATE TABLE meta (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- +goose Down
DROP TABLE meta;
DROP TABLE changes;
DROP TABLE audit_events;
DROP TABLE credentials;
DROP TABLE partners;
