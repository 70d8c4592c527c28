// Package ratelimit turns partnergate's rate-limit tiers and per-partner
// overrides into the configuration of envoyproxy/ratelimit, Envoy's global
// rate-limit service, so the limits partners are sold and the limits Redis
// enforces come from one place and cannot drift.
//
// partnergate does not count requests. On allow, its Check response carries
// dynamic metadata (partner_id, tier) under the ext_authz filter's namespace;
// the Envoy route's rate_limits actions read it and send envoyproxy/ratelimit
// one descriptor per time window:
//
//	(tier, <tier>) (partner_id, <partner id>) (window, second|minute|day)
//
// [Render] writes the matching descriptor tree: under each tier, a
// partner_id entry without a value (one bucket per partner, at the tier's
// limits), a partner_id entry with a value for each override, and a
// catch-all tier entry without a value that holds the strictest limits of
// all tiers. The Envoy actions default a missing tier to [UnknownTier] and a
// missing partner id to [UnknownPartner]; neither can be a real name, so
// traffic without metadata falls into the catch-all and one shared, strict
// bucket instead of escaping the limit.
//
// Limits set for one partner through the admin API do not pass through
// here: partnergate emits them in the Check response's dynamic metadata, and
// the route's limit override sends them as the descriptor's limit, which the
// service applies instead of anything rendered.
//
// The package is pure: no I/O beyond parsing bytes it is given, no global
// state. Every function is safe for concurrent use.
package ratelimit
