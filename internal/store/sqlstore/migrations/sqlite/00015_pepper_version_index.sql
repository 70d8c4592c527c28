-- Credentials by pepper version: start-up's PepperVersions finds each
-- version in use with a look-up here instead of reading every credential
-- (4.7 s with 10,000,000 keys on the embedded store), and `key list
-- --pepper-version` reads only that version's keys.
-- +goose Up
CREATE INDEX credentials_pepper_version ON credentials (pepper_version);

-- +goose Down
DROP INDEX credentials_pepper_version;
