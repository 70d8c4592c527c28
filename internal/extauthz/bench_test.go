package extauthz

import (
	"context"
	"testing"
	"time"

	"github.com/partnergate/partnergate/authz"
)

// BenchmarkCheck measures the handler in process, without gRPC: the cost
// partnergate adds on top of the wire.
func BenchmarkCheck(b *testing.B) {
	f := newFixture(b, nil)
	srv, err := newAuthz(authz.Options{Index: f.index, Keys: f.format, Hasher: f.hasher, Now: func() time.Time { return testNow }})
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name  string
		hdrs  map[string]string
		allow bool
	}{
		{"apikey-allow", bearerOf(f.keys["acme"]), true},
		{"apikey-deny-unknown", bearerOf(mustGenerate(b, f.format)), false},
		{"apikey-deny-garbage", map[string]string{"x-api-key": "pg_test_not-a-key"}, false},
	}
	for _, c := range cases {
		req := request("GET", "/v1/orders?limit=10", c.hdrs, nil)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					resp, err := srv.Check(ctx, req)
					if err != nil || (resp.GetOkResponse() != nil) != c.allow {
						b.Fatalf("unexpected result: %v %v", resp, err)
					}
				}
			})
		})
	}
	benchTokens(b)
}

// benchTokens adds jwt-rs256 and jwt-es256, each with the verifier's token
// cache off (every Check verifies the signature) and on.
func benchTokens(b *testing.B) {
	for _, cache := range []struct {
		name string
		size int
	}{{"cache-off", 0}, {"cache-on", 1024}} {
		tf := newTokenFixture(b, cache.size)
		for _, k := range []struct {
			name string
			key  signer
		}{{"jwt-rs256", tf.rsa}, {"jwt-es256", tf.ec}} {
			c := tf.claims()
			c["exp"] = tf.clock.Now().Add(time.Hour).Unix()
			req := request("GET", "/v1/orders?limit=10", map[string]string{"authorization": "Bearer " + sign(b, k.key, c, nil)}, nil)
			b.Run(k.name+"/"+cache.name, func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					ctx := context.Background()
					for pb.Next() {
						resp, err := tf.srv.Check(ctx, req)
						if err != nil || resp.GetOkResponse() == nil {
							b.Fatalf("unexpected result: %v %v", resp, err)
						}
					}
				})
			})
		}
	}
}
