-- Client certificates registered as partner credentials: a request whose
-- client certificate, as Envoy verified it, carries the SPIFFE ID (URI
-- SAN), the DNS SAN or the SHA-256 fingerprint registered here acts as the
-- partner. id is derived from (kind, value): one registration per value.
-- +goose Up
CREATE TABLE partner_certificates (
    id         TEXT        NOT NULL PRIMARY KEY,
    partner_id TEXT        NOT NULL REFERENCES partners (id),
    kind       TEXT        NOT NULL CHECK (kind IN ('spiffe_id', 'dns_san', 'fingerprint_sha256')),
    value      TEXT        NOT NULL,
    name       TEXT        NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (kind, value)
);

CREATE INDEX partner_certificates_partner ON partner_certificates (partner_id);

-- +goose Down
DROP TABLE partner_certificates;
