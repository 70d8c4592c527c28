package jwtverify

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzUnsafePeek feeds arbitrary strings to the two functions that read a
// token before anything about it is verified. Neither may panic;
// LooksLikeJWT must agree with its definition; unsafeIssuer must refuse
// anything that is not three segments with a base64url JSON payload, and
// what it returns must be the payload's iss exactly.
func FuzzUnsafePeek(f *testing.F) {
	seeds := []string{
		// A well-formed token with an issuer.
		"eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIn0.c2ln",
		// alg=none with an empty signature.
		"eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.",
		// Four segments: a JWE-like or spliced token.
		"eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln.ZXh0cmE",
		// Padding and standard-alphabet characters.
		"eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0=.c2ln",
		"eyJhbGci+iJSUzI1NiJ9.eyJpc3MiOiJ4In0/.c2ln",
		// A payload that is JSON but not an object, and one whose iss is a number.
		"eyJhbGciOiJSUzI1NiJ9.WzEsMl0.c2ln",
		"eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOjF9.c2ln",
		// Duplicate iss keys, differing in case: last one wins, as in the parser.
		"eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJhIiwiSVNTIjoiYiJ9.c2ln",
		// Empty segments, only dots, an API key, and non-ASCII.
		"..", ".", "", "pg_live_3kTMd8Qw0aZx_Vb1c2d3e4f5", "eyJ\u00e9.eyJ.x",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parts := strings.Split(s, ".")
		wantShape := len(parts) == 3 && strings.HasPrefix(s, "eyJ") && parts[0] != "" && parts[1] != ""
		for _, p := range parts {
			if strings.ContainsFunc(p, func(r rune) bool {
				return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
			}) {
				wantShape = false
			}
		}
		if got := LooksLikeJWT(s); got != wantShape {
			t.Fatalf("LooksLikeJWT(%q) = %v, want %v", s, got, wantShape)
		}

		iss, err := unsafeIssuer(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownIssuer) {
				t.Fatalf("unsafeIssuer(%q) error %v wraps no sentinel", s, err)
			}
			return
		}
		if len(parts) != 3 {
			t.Fatalf("unsafeIssuer(%q) accepted %d segments", s, len(parts))
		}
		raw, derr := base64.RawURLEncoding.Strict().DecodeString(parts[1])
		if derr != nil {
			t.Fatalf("unsafeIssuer(%q) accepted a payload that is not strict base64url", s)
		}
		var c struct {
			Iss string `json:"iss"`
		}
		if json.Unmarshal(raw, &c) != nil || c.Iss != iss || iss == "" {
			t.Fatalf("unsafeIssuer(%q) = %q, payload says %q", s, iss, c.Iss)
		}
	})
}
