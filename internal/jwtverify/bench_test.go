package jwtverify

import (
	"context"
	"strings"
	"testing"
)

// BenchmarkVerify measures a full Verify of one RS256 or ES256 token,
// with the verified-token cache off (every call checks the signature) and
// on (every call after the first is a hit).
func BenchmarkVerify(b *testing.B) {
	for _, k := range []*testKey{rsaKey("rs"), ecKey("es")} {
		for _, cached := range []bool{false, true} {
			name := k.method.Alg() + "/cache=off"
			if cached {
				name = k.method.Alg() + "/cache=on"
			}
			b.Run(name, func(b *testing.B) {
				e := newEnv(b, []*testKey{k}, func(_ *IssuerConfig, o *Options) {
					if cached {
						o.CacheSize = 10000
					}
				})
				tok := sign(b, k, nil, e.claims())
				ctx := context.Background()
				if _, err := e.v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := e.v.Verify(ctx, tok); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// BenchmarkLooksLikeJWT measures the shape check that routes every
// Bearer credential, on an access token of typical size (RS256, ~700
// bytes) and on an API key.
func BenchmarkLooksLikeJWT(b *testing.B) {
	for _, tc := range []struct{ name, in string }{
		{"jwt-700B", "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzIn0." + strings.Repeat("eyJpc3MiOiJodHRwczovL2lkcCJ9", 12) + "." + strings.Repeat("c2lnbmF0dXJl", 28)},
		{"api-key", "pg_live_3kTMd8Qw0aZx_Vb1c2d3e4f5"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.in)))
			for b.Loop() {
				LooksLikeJWT(tc.in)
			}
		})
	}
}
