// Package admin is partnergate's admin API: the gRPC service defined in
// proto/partnergate/admin/v1 that creates and suspends partners, issues,
// lists, revokes and rotates their API keys, and reads the audit trail; and
// the bearer-token authentication that guards it.
//
// It owns request validation, the rules that relate a key to its partner
// (a key's scopes lie within the partner's grants; every key expires within
// the operator's bound), the audit event of every write, and the one mapping
// from domain errors to gRPC status codes. It talks to the store only
// through the small [Store] interface, and after every committed write asks
// the serving replica's cache to catch up ([Syncer]) before it answers, so
// the next Check after a revoke sees it.
//
// It must not share a listener with the Check service, log or return a
// secret after issuing it, or keep the admin token itself: it holds only the
// token's SHA-256.
//
// A [Server] is safe for concurrent use once its fields are set; they must
// not change while it serves.
package admin
