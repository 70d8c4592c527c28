package dpop

import "errors"

// Sentinel errors, one per rule; every refusal wraps exactly one.
var (
	// ErrMalformed reports a proof that is not a compact JWS with a JSON
	// header and claims, or that lacks a required claim.
	ErrMalformed = errors.New("dpop: malformed proof")
	// ErrType reports a typ other than "dpop+jwt".
	ErrType = errors.New("dpop: wrong typ")
	// ErrAlgorithm reports an alg outside the allow-list.
	ErrAlgorithm = errors.New("dpop: algorithm not allowed")
	// ErrKey reports a missing or unusable jwk header: a private key, a
	// symmetric key, a key that does not fit alg, an RSA key under 2048
	// bits.
	ErrKey = errors.New("dpop: unusable jwk")
	// ErrSignature reports a signature that the proof's jwk does not
	// verify.
	ErrSignature = errors.New("dpop: bad signature")
	// ErrMethod reports an htm that is not the request's method.
	ErrMethod = errors.New("dpop: htm mismatch")
	// ErrURI reports an htu that is not the request's URI.
	ErrURI = errors.New("dpop: htu mismatch")
	// ErrIssuedAt reports an iat outside the window around now.
	ErrIssuedAt = errors.New("dpop: iat outside the window")
	// ErrReplay reports a jti already used by the same key within the
	// window.
	ErrReplay = errors.New("dpop: jti replayed")
	// ErrTokenHash reports an ath that is not the hash of the access
	// token.
	ErrTokenHash = errors.New("dpop: ath mismatch")
	// ErrReplayCacheFull reports a replay cache full of live entries: the
	// proof cannot be recorded, so it is not accepted. It is a fault of
	// capacity, not of the proof.
	ErrReplayCacheFull = errors.New("dpop: replay cache full")
)

// reasons maps each sentinel to its stable code for logs and the audit
// trail: never rename one.
var reasons = [...]struct {
	err  error
	code string
}{
	{ErrMalformed, "malformed"},
	{ErrType, "wrong_type"},
	{ErrAlgorithm, "algorithm_not_allowed"},
	{ErrKey, "bad_key"},
	{ErrSignature, "bad_signature"},
	{ErrMethod, "htm_mismatch"},
	{ErrURI, "htu_mismatch"},
	{ErrIssuedAt, "iat_out_of_window"},
	{ErrReplay, "replayed_jti"},
	{ErrTokenHash, "ath_mismatch"},
	{ErrReplayCacheFull, "replay_cache_full"},
}

// Reason returns the stable code of the sentinel err wraps, "internal"
// for anything else, "" for nil.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.code
		}
	}
	return "internal"
}
