package extauthz

import (
	"context"
	"fmt"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/partnergate/partnergate/internal/pkitest"
)

// BenchmarkPossession measures what proof of possession adds to a Check
// in process, each case against the plain bearer token of the same run:
// a token bound to the client certificate Envoy forwards (the certificate
// read once, then from the reader's cache), and a DPoP token with a fresh
// proof per Check (proofs are minted before the timer starts, since each
// jti is accepted once). The verifier's token cache is on, as deployed.
func BenchmarkPossession(b *testing.B) {
	tf := newBoundFixture(b, 1024, nil)
	ca := pkitest.NewCA(b, "bench CA")
	leaf := ca.Issue(b, pkitest.Names{Subject: "acme", URIs: []string{"spiffe://partners.example/acme"}})
	key := newDPoPKey(b)
	claims := func(cnf map[string]string) string {
		c := tf.claims()
		c["exp"] = tf.clock.Now().Add(time.Hour).Unix()
		if cnf != nil {
			c["cnf"] = cnf
		}
		return sign(b, tf.ec, c, nil)
	}
	bearer := claims(nil)
	bound := claims(map[string]string{"x5t#S256": x5t(leaf)})
	dpopTok := claims(map[string]string{"jkt": key.jkt})

	run := func(b *testing.B, req func(i int) *authv3.CheckRequest) {
		b.ReportAllocs()
		ctx := context.Background()
		b.ResetTimer()
		for i := range b.N {
			resp, err := tf.srv.Check(ctx, req(i))
			if err != nil || resp.GetOkResponse() == nil {
				b.Fatalf("unexpected result: %v %v", resp, err)
			}
		}
	}
	b.Run("bearer-es256", func(b *testing.B) {
		r := request("GET", "/v1/orders?limit=10", map[string]string{"authorization": "Bearer " + bearer}, nil)
		run(b, func(int) *authv3.CheckRequest { return r })
	})
	b.Run("cert-bound-es256", func(b *testing.B) {
		r := withPeer(request("GET", "/v1/orders?limit=10", map[string]string{"authorization": "Bearer " + bound}, nil), leaf)
		run(b, func(int) *authv3.CheckRequest { return r })
	})
	b.Run("dpop-es256", func(b *testing.B) {
		reqs := make([]*authv3.CheckRequest, b.N)
		for i := range reqs {
			reqs[i] = request("GET", "/v1/orders?limit=10", map[string]string{
				"authorization": "DPoP " + dpopTok,
				"dpop":          key.proof(b, tf.clock.Now(), dpopTok, fmt.Sprint(b.N, "-", i), nil),
			}, nil)
		}
		run(b, func(i int) *authv3.CheckRequest { return reqs[i] })
	})
}
