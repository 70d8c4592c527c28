package jwtverify

import (
	"context"
	"errors"
)

// Reasons a token is refused. Every error [Verifier.Verify] returns for a
// bad token wraps exactly one of them; match with [errors.Is] and log
// [Reason]. None of them may reach the partner: the public answer is one
// generic 401 whatever the cause.
var (
	// ErrMalformed reports a token that is not a well-formed JWS compact
	// serialization with JSON header and claims of the expected types.
	ErrMalformed = errors.New("jwtverify: malformed token")
	// ErrTooLarge reports a token longer than the issuer's max_token_bytes.
	ErrTooLarge = errors.New("jwtverify: token too large")
	// ErrUnknownIssuer reports an iss that is missing or not in the
	// configured allow-list.
	ErrUnknownIssuer = errors.New("jwtverify: unknown issuer")
	// ErrAlgorithm reports an alg outside the issuer's allow-list, or one
	// that does not fit the key the kid names (one algorithm per key).
	ErrAlgorithm = errors.New("jwtverify: algorithm not allowed")
	// ErrForbiddenHeader reports a jku, x5u, jwk, x5c or crit header: keys
	// come from the configured JWKS only, and no JWS extension is understood.
	ErrForbiddenHeader = errors.New("jwtverify: forbidden header")
	// ErrMissingKeyID reports a token without a kid header.
	ErrMissingKeyID = errors.New("jwtverify: missing kid")
	// ErrUnknownKey reports a kid that is not in the issuer's JWKS, even
	// after a refresh, or while the JWKS cannot be refreshed.
	ErrUnknownKey = errors.New("jwtverify: unknown key")
	// ErrKeysUnavailable reports an issuer whose JWKS has never been loaded.
	// It is a fault of this replica, not of the token: callers should answer
	// it as an error (fail closed), not as an invalid credential.
	ErrKeysUnavailable = errors.New("jwtverify: issuer keys unavailable")
	// ErrSignature reports a signature that does not verify.
	ErrSignature = errors.New("jwtverify: invalid signature")
	// ErrType reports a typ header other than the issuer's require_type.
	ErrType = errors.New("jwtverify: wrong token type")
	// ErrExpired reports exp at or before now, beyond the leeway.
	ErrExpired = errors.New("jwtverify: token expired")
	// ErrNotYetValid reports nbf after now, beyond the leeway.
	ErrNotYetValid = errors.New("jwtverify: token not yet valid")
	// ErrIssuedInFuture reports iat after now, beyond the leeway.
	ErrIssuedInFuture = errors.New("jwtverify: token issued in the future")
	// ErrMissingClaim reports a missing exp or iat; iat is required because
	// the issued-before revocation cutoff depends on it.
	ErrMissingClaim = errors.New("jwtverify: required claim missing")
	// ErrLifetime reports a token whose exp - iat exceeds the issuer's
	// max_token_lifetime.
	ErrLifetime = errors.New("jwtverify: token lifetime exceeds max_token_lifetime")
	// ErrIssuer reports a verified iss that differs from the issuer whose
	// keys verified it. It cannot happen by construction; it is checked
	// anyway.
	ErrIssuer = errors.New("jwtverify: issuer mismatch")
	// ErrAudience reports an aud that names none of the accepted audiences.
	ErrAudience = errors.New("jwtverify: audience mismatch")
	// ErrMissingClient reports that the issuer's client claim is missing,
	// empty, not a string, or not a printable identifier.
	ErrMissingClient = errors.New("jwtverify: missing client claim")
	// ErrBinding reports a sender-constrained token (cnf) presented
	// without its proof of possession: the matching mTLS client
	// certificate (RFC 8705 §3) or a DPoP proof of its key (RFC 9449
	// §7.1); a DPoP proof with a token not bound to its key; or a token
	// bound by a method this package cannot check.
	ErrBinding = errors.New("jwtverify: certificate binding mismatch")
	// ErrUnbound reports a token that is not sender-constrained the way
	// its issuer requires (require_certificate_bound, require_dpop).
	ErrUnbound = errors.New("jwtverify: token not bound as the issuer requires")
)

// reasons maps each sentinel to its stable reason code. Codes are part of
// the log and audit contract: never rename one.
var reasons = [...]struct {
	err  error
	code string
}{
	{ErrMalformed, "malformed"},
	{ErrTooLarge, "too_large"},
	{ErrUnknownIssuer, "unknown_issuer"},
	{ErrAlgorithm, "algorithm_not_allowed"},
	{ErrForbiddenHeader, "forbidden_header"},
	{ErrMissingKeyID, "missing_kid"},
	{ErrUnknownKey, "unknown_kid"},
	{ErrKeysUnavailable, "keys_unavailable"},
	{ErrSignature, "bad_signature"},
	{ErrType, "wrong_type"},
	{ErrExpired, "expired"},
	{ErrNotYetValid, "not_yet_valid"},
	{ErrIssuedInFuture, "issued_in_future"},
	{ErrMissingClaim, "missing_claim"},
	{ErrLifetime, "token_lifetime_exceeded"},
	{ErrIssuer, "issuer_mismatch"},
	{ErrAudience, "audience_mismatch"},
	{ErrMissingClient, "missing_client"},
	{ErrBinding, "binding_mismatch"},
	{ErrUnbound, "unbound_token"},
}

// Reason returns a stable lower_snake code for err, for logs, metrics and
// the audit trail: the code of the sentinel err wraps, "canceled" or
// "deadline_exceeded" for a context that ended while waiting for keys,
// "internal" for anything else, and "" for nil.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.code
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline_exceeded"
	}
	return "internal"
}
