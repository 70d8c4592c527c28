// Package jwtverify verifies OAuth2 access tokens (JWTs from the client
// credentials grant) against the keys of allow-listed issuers, and turns a
// valid token into a [Principal]: issuer, client id, scopes, jti and times.
//
// It owns the issuer configuration ([IssuerConfig]), one JWKS per issuer
// held by keyfunc/v3 over a jwkset storage, and every check RFC 8725 and RFC
// 9068 ask for:
//
//   - a size cap before anything is parsed;
//   - the unverified iss (read by unsafeIssuer) only chooses an issuer from
//     the allow-list, and the verified iss must then equal it exactly;
//   - an alg allow-list per issuer, always passed to the parser: "none" is
//     never allowed, HS* only for an issuer configured with a shared secret
//     and then nothing else, so a public key can never be used as an HMAC
//     secret;
//   - one algorithm per key: a JWK's declared alg must match the header, and
//     its type and curve must fit the alg;
//   - a kid is required (except with a shared secret); jku, x5u, jwk, x5c and
//     crit headers are refused;
//   - typ, when the issuer requires one ("at+jwt" refuses ID tokens);
//   - aud names an accepted audience; exp and iat are required; exp, nbf and
//     iat are checked with the issuer's leeway;
//   - the issuer's client claim is present;
//   - a sender-constrained token is accepted only with its proof ([Binding]):
//     one bound to a client certificate (cnf "x5t#S256", RFC 8705 §3) with
//     that certificate, one bound to a DPoP key (cnf "jkt", RFC 9449 §6)
//     only as "Authorization: DPoP" with a proof of that key; an issuer's
//     require_certificate_bound or require_dpop refuses any other token.
//
// Scope names outside the partner scope alphabet are dropped rather than
// refusing the token: effective scopes are token scopes ∩ the partner's
// grants, grants hold only valid names, so a dropped name never granted
// anything.
//
// # Keys
//
// Keys are fetched when the [Verifier] is built and refreshed in the
// background. A token whose kid is unknown triggers a refresh at most once
// per refresh_unknown_kid_rate (or waits for the one already running), so
// key rotation at the IdP just works; every wait is bounded by the request's
// context. A kid that a fresh JWKS proved absent is remembered for ten times
// that rate, so a flood of one bogus kid cannot take every refresh slot, and
// requests never queue behind the rate limit: they fail fast instead. An IdP
// outage keeps the last good keys; an unknown kid then fails closed.
// [Verifier.Ready] waits until every issuer has keys and names those that
// have none; [Verifier.Status] reports each issuer's last successful refresh.
//
// # Cache
//
// With [Options.CacheSize], a verified token is remembered by the SHA-256
// of its exact bytes, and of the client certificate's thumbprint when one
// was presented, so a repeated token skips the signature while a
// verification made with one certificate is never found with another. The
// binding is checked again on every hit. An entry
// never outlives the token's exp nor [Options.CacheTTL], and stops counting
// as soon as a refresh withdraws any key of its issuer.
//
// # What it must not do
//
// It never talks to the store and never decides tenancy: a Principal names
// an OAuth2 client, and the caller maps (Issuer, ClientID) to a partner
// through its registry, never a claim directly (RFC 9068 §5). Revocation is
// the caller's job too, and must run on every request, cache hit or not:
// the (iss, jti) denylist, the per-client issued-before cutoff against
// Principal.IssuedAt, the suspended partner and the removed client. A token
// without jti can be revoked only by the cutoff. The caller also owns the
// public answer: every refusal here is one generic 401 outside, with
// [Reason] in the logs and audit trail only; [ErrKeysUnavailable] is a fault
// of the replica and should be answered as an error.
//
// # Concurrency
//
// A Verifier is safe for concurrent use. The hot path reads an immutable key
// snapshot through an atomic pointer; the token cache is a lock-free
// set-associative table of immutable entries. Background refreshes run until
// [Verifier.Close].
package jwtverify
