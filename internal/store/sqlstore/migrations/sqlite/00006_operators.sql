-- Named operators of the admin API, their personal tokens, and the
-- verified identity of every audit event. Times are Unix microseconds
-- (UTC); NULL means unset.
-- +goose Up
CREATE TABLE operators (
    name       TEXT    NOT NULL PRIMARY KEY,
    role       TEXT    NOT NULL,
    partners   TEXT    NOT NULL DEFAULT '', -- space-separated, sorted; '' = every partner
    cert_san   TEXT    UNIQUE,              -- client certificate URI or DNS SAN
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    version    INTEGER NOT NULL
) STRICT;

CREATE TABLE operator_tokens (
    id             TEXT    NOT NULL PRIMARY KEY, -- the public token id
    operator       TEXT    NOT NULL REFERENCES operators (name),
    digest         BLOB    NOT NULL, -- keyed hash of the token, never the token
    pepper_version INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER
) STRICT;

CREATE INDEX operator_tokens_operator ON operator_tokens (operator);

ALTER TABLE audit_events ADD COLUMN auth_method TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN source TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN note TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_events_actor ON audit_events (actor, id);

-- +goose Down
DROP INDEX audit_events_actor;
ALTER TABLE audit_events DROP COLUMN note;
ALTER TABLE audit_events DROP COLUMN source;
ALTER TABLE audit_events DROP COLUMN auth_method;
DROP TABLE operator_tokens;
DROP TABLE operators;
