package jwtverify

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// LooksLikeJWT reports whether s has the shape of a JWS compact
// serialization: three base64url segments separated by dots, the first
// starting with "eyJ" (a base64url JSON object). The first two segments
// must be non-empty; the signature may be empty, so that an unsigned token
// is routed to [Verifier.Verify] and refused there with a precise reason
// rather than mistaken for an API key. It allocates nothing and proves
// nothing about s.
//
// Every Bearer credential passes through here, so it is built for speed:
// the dots are found with strings.IndexByte and each segment is checked
// against a table rather than with a byte-by-byte switch, since every
// token of several hundred bytes passes here (BENCHMARKS.md).
func LooksLikeJWT(s string) bool {
	if !strings.HasPrefix(s, "eyJ") {
		return false
	}
	header, rest, ok := strings.Cut(s, ".")
	if !ok {
		return false
	}
	payload, signature, ok := strings.Cut(rest, ".")
	// A third dot fails the signature's alphabet check.
	return ok && payload != "" && isBase64URL(header) && isBase64URL(payload) && isBase64URL(signature)
}

// notBase64URL is 1 for every byte outside the unpadded base64url
// alphabet (RFC 4648 §5).
var notBase64URL = func() (t [256]uint8) {
	for i := range t {
		t[i] = 1
	}
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		t[c] = 0
	}
	return t
}()

// isBase64URL reports whether s is all base64url. It reads every byte
// without branching on any, four at a time: tokens are valid far more
// often than not.
func isBase64URL(s string) bool {
	var bad uint8
	for len(s) >= 4 {
		bad |= notBase64URL[s[0]] | notBase64URL[s[1]] | notBase64URL[s[2]] | notBase64URL[s[3]]
		s = s[4:]
	}
	for i := 0; i < len(s); i++ {
		bad |= notBase64URL[s[i]]
	}
	return bad == 0
}

var rawURL = base64.RawURLEncoding.Strict()

// unsafeIssuer returns the iss claim of token WITHOUT verifying anything.
// Its only use is to choose which allow-listed issuer's keys and rules
// verify the token; the verified iss is then checked against that choice.
// It decodes claims exactly as the verifying parser does (encoding/json into
// a struct, strict base64url), so both read the same iss.
func unsafeIssuer(token string) (string, error) {
	_, rest, ok := strings.Cut(token, ".")
	if !ok {
		return "", fmt.Errorf("%w: not three segments", ErrMalformed)
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(sig, ".") {
		return "", fmt.Errorf("%w: not three segments", ErrMalformed)
	}
	raw, err := rawURL.DecodeString(payload)
	if err != nil {
		return "", fmt.Errorf("%w: claims are not base64url", ErrMalformed)
	}
	var c struct {
		Issuer string `json:"iss"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return "", fmt.Errorf("%w: claims are not a JSON object with a string iss", ErrMalformed)
	}
	if c.Issuer == "" {
		return "", fmt.Errorf("%w: no iss claim", ErrUnknownIssuer)
	}
	return c.Issuer, nil
}
