-- Initial schema.
-- +goose Up
CREATE TABLE partners (
    id         TEXT        NOT NULL PRIMARY KEY,
    tier       TEXT        NOT NULL,
    scopes     TEXT        NOT NULL DEFAULT '', -- space-separated, sorted
    state      TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    version    BIGINT      NOT NULL
);

CREATE TABLE credentials (
    id              TEXT        NOT NULL PRIMARY KEY, -- the public key id
    partner_id      TEXT        NOT NULL REFERENCES partners (id),
    name            TEXT        NOT NULL DEFAULT '',
    digest          BYTEA       NOT NULL, -- keyed hash of the secret, never the secret
    pepper_version  INTEGER     NOT NULL,
    scopes          TEXT        NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ,
    revoked_at      TIMESTAMPTZ,
    rotated_from    TEXT,
    last_rotated_at TIMESTAMPTZ,
    last_used_at    TIMESTAMPTZ,
    version         BIGINT      NOT NULL
);

CREATE INDEX credentials_partner_created ON credentials (partner_id, created_at);

CREATE TABLE audit_events (
    id            BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            TIMESTAMPTZ NOT NULL,
    actor         TEXT        NOT NULL,
    action        TEXT        NOT NULL,
    partner_id    TEXT        NOT NULL DEFAULT '',
    credential_id TEXT        NOT NULL DEFAULT '',
    reason        TEXT        NOT NULL DEFAULT '',
    detail        TEXT        NOT NULL DEFAULT '{}' -- JSON object of strings
);

CREATE INDEX audit_events_partner ON audit_events (partner_id, id);

-- The audit trail is append-only: refuse edits in the database itself.
-- +goose StatementBegin
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- Writers take an advisory lock before drawing a version, so versions
-- commit in order; see the Go code that inserts into this table.
CREATE TABLE changes (
    version BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind    TEXT        NOT NULL,
    id      TEXT        NOT NULL,
    at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE meta (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

-- +goose Down
DROP TABLE meta;
DROP TABLE changes;
DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only();
DROP TABLE credentials;
DROP TABLE partners;
