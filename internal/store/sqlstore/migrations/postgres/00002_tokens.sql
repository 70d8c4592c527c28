-- OAuth2 client registry, token revocations and the per-partner cutoff for
-- access tokens.
-- +goose Up
ALTER TABLE partners ADD COLUMN tokens_not_before TIMESTAMPTZ;

-- (issuer, client_id) names one client at one IdP; it maps to one partner.
CREATE TABLE oauth_clients (
    issuer     TEXT        NOT NULL,
    client_id  TEXT        NOT NULL,
    partner_id TEXT        NOT NULL REFERENCES partners (id),
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (issuer, client_id)
);

CREATE INDEX oauth_clients_partner ON oauth_clients (partner_id);

-- Keyed by (issuer, jti), never by a hash of the token (RFC 8725: a
-- signature can be malleable). Rows may be purged once expires_at, plus
-- the grace that covers verifier leeway, has passed.
CREATE TABLE token_revocations (
    issuer     TEXT        NOT NULL,
    jti        TEXT        NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (issuer, jti)
);

CREATE INDEX token_revocations_expires ON token_revocations (expires_at);

-- +goose Down
DROP TABLE token_revocations;
DROP TABLE oauth_clients;
ALTER TABLE partners DROP COLUMN tokens_not_before;
