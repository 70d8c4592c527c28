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
// rather than mistaken for an API key. It reads s once and allocates
// nothing; it proves nothing about s.
func LooksLikeJWT(s string) bool {
	if !strings.HasPrefix(s, "eyJ") {
		return false
	}
	dots, segLen := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if segLen == 0 || dots == 2 {
				return false
			}
			dots++
			segLen = 0
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			segLen++
		default:
			return false
		}
	}
	return dots == 2
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
