// Package authz is the Check handler: an Envoy CheckRequest comes in, a
// decision is made, a CheckResponse goes out.
//
// The decision order is fixed and fail-closed (DESIGN.md): find exactly one
// credential; check its format and checksum; find its key id in the hot
// index and compare digests in constant time; refuse revoked, expired and
// suspended; require the route's scopes; refuse a request that names
// another tenant; then allow, setting x-partner-* headers by overwrite,
// removing spoofed ones and the credential, and emitting dynamic metadata
// for rate limiting and access logs.
//
// Denials travel inside the CheckResponse, as UNAUTHENTICATED (401) or
// PERMISSION_DENIED (403) with a small JSON body carrying one stable public
// reason; the precise internal reason goes to the audit log only. Faults — a
// cold cache, a cancelled context, a missing pepper — are returned as gRPC
// errors so that Envoy's failure_mode_allow: false denies the request.
//
// The package knows nothing of how the index, store or policy are built: it
// declares the small interfaces it consumes. Check touches memory only and
// is safe for concurrent use.
package authz
