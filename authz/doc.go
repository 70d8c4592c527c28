// Package authz is the Check handler: an Envoy CheckRequest comes in, a
// decision is made, a CheckResponse goes out.
//
// The decision order is fixed and fail-closed (DESIGN.md): find exactly one
// credential; check its format and checksum; find its key id in the hot
// index and compare digests in constant time; refuse revoked, expired and
// suspended; require the route's scopes; refuse a request that names
// another tenant; then allow, setting x-partner-* headers by overwrite,
// removing spoofed ones and the credential, and emitting dynamic metadata
// for rate limiting and access logs (partner_id, tier, credential_id, and
// a limit_second/limit_minute/limit_day override struct for each window the
// partner has a limit of its own in).
//
// A bearer that looks like a JWT, when a [TokenVerifier] is configured,
// takes the token path instead: verify it (signature, alg, iss, aud, times,
// client claim, certificate binding); map (iss, client id) to a partner
// through the index's client registry, never a claim; refuse a suspended
// partner, a revoked jti and a token issued before the partner's cutoff —
// on every request, since the verifier may answer from its cache; then the
// same route, tenant and allow steps, with effective scopes = token scopes
// ∩ the partner's grants and the client id as x-partner-credential.
//
// Denials travel inside the CheckResponse, as UNAUTHENTICATED (401) or
// PERMISSION_DENIED (403) with a small JSON body carrying one stable public
// reason; the precise internal reason goes to the audit log only. Faults — a
// cold cache, a cancelled context, a missing pepper, an issuer whose keys
// never loaded — are returned as gRPC
// errors so that Envoy's failure_mode_allow: false denies the request.
//
// The package knows nothing of how the index, store or policy are built: it
// declares the small interfaces it consumes. Check touches memory only and
// is safe for concurrent use.
//
// [Server.Respond] is Check with the answer's wire encoding, which the
// allow memo makes once per response; [Register] serves it as the
// Authorization service, sending that encoding as it is.
package authz
