-- A partner's own rate limits, in requests per window, set through the
-- admin API (SetPartnerLimits). NULL: the partner's tier's limit applies in
-- that window. Numbered 5, after 4, since goose refuses a migration older
-- than the database's version.
-- +goose Up
ALTER TABLE partners ADD COLUMN limit_per_second INTEGER CHECK (limit_per_second > 0);
ALTER TABLE partners ADD COLUMN limit_per_minute INTEGER CHECK (limit_per_minute > 0);
ALTER TABLE partners ADD COLUMN limit_per_day INTEGER CHECK (limit_per_day > 0);

-- +goose Down
ALTER TABLE partners DROP COLUMN limit_per_day;
ALTER TABLE partners DROP COLUMN limit_per_minute;
ALTER TABLE partners DROP COLUMN limit_per_second;
