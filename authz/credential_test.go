// Test strategy: findCredential is the first code to read untrusted
// headers, and ambiguity must never be resolved in the caller's favour.
// The table covers each header shape a transport carries (the merged map,
// where a repeat is a comma, and a header list, where it is a second entry)
// against missing, duplicated, oversized and oddly spaced credentials, and
// asserts the exact Reason. The fuzz target checks that nothing panics and
// that an accepted value is always a single bounded token.
package authz

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// headers are a request's headers in either shape a transport carries
// them: the merged map (Envoy's default, a repeat joined by a comma), or
// a list with one entry per value (Envoy's encode_raw_headers, Go's
// http.Header).
type headers struct {
	m    map[string]string
	list [][2]string
}

// Get implements [Headers] as both shapes do: a listed header's last
// value, and how many times it was listed.
func (h headers) Get(name string) (string, int) {
	if v, ok := h.m[name]; ok {
		return v, 1
	}
	var val string
	n := 0
	for _, kv := range h.list {
		if kv[0] == name {
			val, n = kv[1], n+1
		}
	}
	return val, n
}

// mapHeaders is the merged header map Envoy sends by default.
func mapHeaders(pairs ...string) headers {
	m := make(map[string]string, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	return headers{m: m}
}

// rawHeaders is a header list: one entry per value.
func rawHeaders(pairs ...string) headers {
	var list [][2]string
	for i := 0; i < len(pairs); i += 2 {
		list = append(list, [2]string{pairs[i], pairs[i+1]})
	}
	return headers{list: list}
}

const testToken = "pg_live_3kTMd8Qw0aZx_Vb1XyZ"

func TestFindCredential(t *testing.T) {
	long := strings.Repeat("a", maxCredentialLen)
	tests := []struct {
		name   string
		h      headers
		want   credential
		reason Reason
	}{
		{"no-headers", headers{}, credential{}, ReasonMissingCredential},
		{"unrelated-headers", mapHeaders("cookie", "a=b", "x-api-token", testToken), credential{}, ReasonMissingCredential},
		{"bearer", mapHeaders("authorization", "Bearer "+testToken), credential{value: testToken, header: headerAuthorization}, ""},
		{"bearer-lower-case", mapHeaders("authorization", "bearer "+testToken), credential{value: testToken, header: headerAuthorization}, ""},
		{"bearer-upper-case", mapHeaders("authorization", "BEARER "+testToken), credential{value: testToken, header: headerAuthorization}, ""},
		{"bearer-mixed-case", mapHeaders("authorization", "bEaReR "+testToken), credential{value: testToken, header: headerAuthorization}, ""},
		{"bearer-extra-spaces", mapHeaders("authorization", "  Bearer    "+testToken+"  "), credential{value: testToken, header: headerAuthorization}, ""},
		{"bearer-tab", mapHeaders("authorization", "Bearer\t"+testToken), credential{value: testToken, header: headerAuthorization}, ""},
		{"bearer-tabs-and-spaces", mapHeaders("authorization", "\tBearer \t "+testToken+"\t"), credential{value: testToken, header: headerAuthorization}, ""},
		{"dpop", mapHeaders("authorization", "DPoP "+testToken), credential{value: testToken, header: headerAuthorization, dpop: true}, ""},
		{"dpop-lower-case", mapHeaders("authorization", "dpop "+testToken), credential{value: testToken, header: headerAuthorization, dpop: true}, ""},
		{"dpop-glued-to-token", mapHeaders("authorization", "DPoP"+testToken), credential{}, ReasonMalformedCredential},
		{"api-key", mapHeaders("x-api-key", testToken), credential{value: testToken, header: headerAPIKey}, ""},
		{"api-key-padded", mapHeaders("x-api-key", " \t"+testToken+" "), credential{value: testToken, header: headerAPIKey}, ""},
		{"api-key-raw", rawHeaders("x-api-key", testToken), credential{value: testToken, header: headerAPIKey}, ""},
		{"bearer-raw", rawHeaders("authorization", "Bearer "+testToken), credential{value: testToken, header: headerAuthorization}, ""},
		{"exactly-max-len", mapHeaders("x-api-key", long), credential{value: long, header: headerAPIKey}, ""},

		{"basic-scheme", mapHeaders("authorization", "Basic dXNlcjpwYXNz"), credential{}, ReasonMalformedCredential},
		{"digest-scheme", mapHeaders("authorization", `Digest username="u"`), credential{}, ReasonMalformedCredential},
		{"no-scheme", mapHeaders("authorization", testToken), credential{}, ReasonMalformedCredential},
		{"scheme-glued-to-token", mapHeaders("authorization", "Bearer"+testToken), credential{}, ReasonMalformedCredential},
		{"scheme-with-colon", mapHeaders("authorization", "Bearer: "+testToken), credential{}, ReasonMalformedCredential},
		{"bearer-prefix-of-other-scheme", mapHeaders("authorization", "Bearerx "+testToken), credential{}, ReasonMalformedCredential},
		{"empty-token", mapHeaders("authorization", "Bearer "), credential{}, ReasonMalformedCredential},
		{"scheme-only", mapHeaders("authorization", "Bearer"), credential{}, ReasonMalformedCredential},
		{"spaces-only-token", mapHeaders("authorization", "Bearer    "), credential{}, ReasonMalformedCredential},
		{"empty-authorization", mapHeaders("authorization", ""), credential{}, ReasonMalformedCredential},
		{"empty-api-key", mapHeaders("x-api-key", ""), credential{}, ReasonMalformedCredential},
		{"blank-api-key", mapHeaders("x-api-key", " \t "), credential{}, ReasonMalformedCredential},
		{"token-with-space", mapHeaders("authorization", "Bearer "+testToken+" extra"), credential{}, ReasonMalformedCredential},
		{"token-with-tab", mapHeaders("x-api-key", testToken+"\tx"), credential{}, ReasonMalformedCredential},
		{"token-with-comma", mapHeaders("authorization", "Bearer a,b"), credential{}, ReasonMalformedCredential},
		{"token-with-newline", rawHeaders("x-api-key", testToken+"\r\nx-partner-id: other"), credential{}, ReasonMalformedCredential},
		{"token-with-cr", rawHeaders("x-api-key", testToken+"\rx"), credential{}, ReasonMalformedCredential},
		{"token-with-lf", rawHeaders("x-api-key", testToken+"\nx"), credential{}, ReasonMalformedCredential},
		{"api-key-with-bearer", mapHeaders("x-api-key", "Bearer "+testToken), credential{}, ReasonMalformedCredential},
		{"too-long", mapHeaders("x-api-key", long+"a"), credential{}, ReasonMalformedCredential},
		{"too-long-bearer", mapHeaders("authorization", "Bearer "+long+"a"), credential{}, ReasonMalformedCredential},
		{"both-headers", mapHeaders("authorization", "Bearer "+testToken, "x-api-key", testToken), credential{}, ReasonMalformedCredential},
		{"both-headers-raw", rawHeaders("x-api-key", testToken, "authorization", "Bearer "+testToken), credential{}, ReasonMalformedCredential},
		{"both-headers-one-empty", mapHeaders("authorization", "", "x-api-key", testToken), credential{}, ReasonMalformedCredential},
		{"repeated-authorization-merged", mapHeaders("authorization", "Bearer "+testToken+",Bearer other"), credential{}, ReasonMalformedCredential},
		{"repeated-same-authorization-merged", mapHeaders("authorization", "Bearer "+testToken+", Bearer "+testToken), credential{}, ReasonMalformedCredential},
		{"repeated-api-key-merged", mapHeaders("x-api-key", testToken+","+testToken), credential{}, ReasonMalformedCredential},
		{"repeated-authorization-raw", rawHeaders("authorization", "Bearer "+testToken, "authorization", "Bearer other"), credential{}, ReasonMalformedCredential},
		{"repeated-same-api-key-raw", rawHeaders("x-api-key", testToken, "x-api-key", testToken), credential{}, ReasonMalformedCredential},
		{"repeated-api-key-raw-second-empty", rawHeaders("x-api-key", testToken, "x-api-key", ""), credential{}, ReasonMalformedCredential},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := findCredential(tt.h)
			if reason != tt.reason {
				t.Fatalf("reason = %q, want %q", reason, tt.reason)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(credential{})); diff != "" {
				t.Errorf("credential (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzFindCredential(f *testing.F) {
	// A plain bearer token and a plain API key: the accepted shapes.
	f.Add("Bearer "+testToken, "", uint8(0))
	f.Add("", testToken, uint8(0))
	// Scheme case and whitespace variations.
	f.Add("bEARER \t "+testToken+"\t", "", uint8(0))
	// Both headers at once, in each shape.
	f.Add("Bearer "+testToken, testToken, uint8(1))
	// A merged repeat and a token with an inner space.
	f.Add("Bearer a, Bearer b", "", uint8(0))
	f.Add("Bearer a b", "", uint8(0))
	// The scheme alone, and a multi-byte character after it.
	f.Add("Bearer", "", uint8(0))
	f.Add("Bearer\u00a0"+testToken, "", uint8(0))
	// Header injection and a NUL in the raw form.
	f.Add("", testToken+"\r\nx: y", uint8(1))
	f.Add("Bearer a\x00b", "", uint8(3))
	// An oversized token.
	f.Add("Bearer "+strings.Repeat("t", maxCredentialLen+1), "", uint8(0))

	// mode bit 0: raw header list instead of the merged map; bit 1: send
	// each present header twice (raw list only; the map cannot repeat).
	f.Fuzz(func(t *testing.T, authorization, apiKey string, mode uint8) {
		var pairs []string
		if authorization != "" {
			pairs = append(pairs, headerAuthorization, authorization)
		}
		if apiKey != "" {
			pairs = append(pairs, headerAPIKey, apiKey)
		}
		var h headers
		switch {
		case mode&1 == 0:
			h = mapHeaders(pairs...)
		case mode&2 != 0:
			h = rawHeaders(append(pairs, pairs...)...)
		default:
			h = rawHeaders(pairs...)
		}
		c, reason := findCredential(h)
		switch reason {
		case "":
		case ReasonMissingCredential, ReasonMalformedCredential:
			if c != (credential{}) {
				t.Fatalf("reason %q with credential %+v", reason, c)
			}
			return
		default:
			t.Fatalf("unexpected reason %q", reason)
		}
		if c.value == "" || len(c.value) > maxCredentialLen {
			t.Fatalf("accepted credential of length %d", len(c.value))
		}
		if strings.ContainsAny(c.value, " ,\t\r\n") {
			t.Fatalf("accepted credential %q holds a separator", c.value)
		}
		if c.header != headerAuthorization && c.header != headerAPIKey {
			t.Fatalf("accepted credential from header %q", c.header)
		}
		if authorization != "" && apiKey != "" {
			t.Fatalf("accepted %+v although both headers were sent", c)
		}
		if mode&3 == 3 {
			t.Fatalf("accepted %+v although the header was sent twice", c)
		}
	})
}

func BenchmarkFindCredential(b *testing.B) {
	h := mapHeaders("authorization", "Bearer "+testToken, "user-agent", "bench")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, reason := findCredential(h); reason != "" {
				b.Error(reason)
				return
			}
		}
	})
}
