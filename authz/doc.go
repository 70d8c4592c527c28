// Package authz is the decision: a transport-neutral [Request] in, a
// [Decision] out ([Decider.Decide]). Every transport (Envoy's gRPC
// ext_authz in internal/extauthz, the HTTP forward-auth server) adapts its
// request to a Request and answers with what the Decision says, so that
// every transport decides alike and answers alike ([Decision.Identity],
// [Decision.Body], [Challenge], [Reason.Status]).
//
// The decision order is fixed and fail-closed (README.md, "Decisions"):
// find exactly one credential; check its format and checksum; find its key
// id in the hot index and compare digests in constant time; refuse
// revoked, expired and suspended; require the route's scopes; refuse a
// request that names another tenant; then allow, naming the partner, its
// effective scopes, the credential's public id and the tier, and the
// header the credential came in so that the transport removes it.
//
// A bearer that looks like a JWT, when a [TokenVerifier] is configured,
// takes the token path instead (token.go): verify it (signature, alg, iss,
// aud, times, client claim, certificate binding); map (iss, client id) to
// a partner through the index's client registry, never a claim (RFC 9068
// §5); refuse a suspended partner, a revoked jti and a token issued before
// the partner's cutoff — on every request, since the verifier may answer
// from its cache; then the same route, tenant and allow steps, with
// effective scopes = token scopes ∩ the partner's grants and the client id
// as the credential. API keys take apikey.go's path.
//
// Denials are Decisions, each with one stable public reason
// ([Reason.Public]) and a status of 401 or 403 (400 for an unreadable
// path); the precise internal reason goes to the [Auditor] only. Faults —
// a cold or stale index, a cancelled context, a missing pepper, an issuer
// whose keys never loaded — are errors, never Decisions, so that the
// transport fails closed.
//
// The package knows nothing of how the index, store or policy are built,
// nor of any transport's types: it declares the small interfaces it
// consumes, and holds no memo, pool or wire encoding. Decide touches
// memory only, takes no lock a writer holds, and is safe for concurrent
// use.
package authz
