// Package admin is partnergate's admin API: the gRPC service defined in
// proto/partnergate/admin/v1 that creates and suspends partners, issues,
// lists, revokes and rotates their API keys, manages the operators who may
// do so, and reads the audit trail; and the authentication and
// authorization that guard it.
//
// Operators are principals ([Authenticator]): a personal pgop_ token (the
// partner keys' format, stored as a keyed digest), an access token from
// the company's IdP (through internal/jwtverify), a verified client
// certificate whose SAN names an operator, or the break-glass bootstrap
// token. Each RPC needs one [Permission] from the table in permissions.go;
// a method without an entry is refused, and an operator scoped to partners
// is refused, and audited, on any other. Authentication reads the store on
// every call, so revoking, expiring or narrowing an operator applies to its
// next call on every replica. Failed authentications are logged without
// the credential, counted, and slowed per source ([Throttle]); none of
// this is on the Check path.
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
// secret after issuing it, or keep a token itself: it holds only the
// bootstrap token's SHA-256 and operator tokens' keyed digests.
//
// A [Server] is safe for concurrent use once its fields are set; they must
// not change while it serves.
package admin
