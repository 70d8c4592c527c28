package authz

// Test strategy: proof of possession end to end over real gRPC. A test CA
// issues client certificates; CheckRequests carry them in source.principal
// and source.certificate exactly as Envoy fills them (the URI SAN, and the
// URL-encoded PEM); access tokens carrying cnf are signed by test keys
// served from a real JWKS endpoint. Each row asserts the audited reason
// and detail, and every denial is the one generic 401 outside.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/partnergate/partnergate/internal/jwtverify"
	"github.com/partnergate/partnergate/internal/peercert"
	"github.com/partnergate/partnergate/internal/pkitest"
)

// newBoundFixture is newTokenFixture with edit applied to the issuer.
func newBoundFixture(t testing.TB, cacheSize int, edit func(*jwtverify.IssuerConfig)) *tokenFixture {
	t.Helper()
	f := newFixture(t, nil)
	tf := &tokenFixture{
		fixture: f,
		clock:   &testClock{},
		rsa:     signer{"rsa-1", jwt.SigningMethodRS256, testRSA()},
		ec:      signer{"ec-1", jwt.SigningMethodES256, testEC()},
	}
	tf.clock.ns.Store(testNow.UnixNano())
	tf.idp = newJWKSServer(t, tf.rsa, tf.ec)
	tf.issuer = tf.idp.srv.URL + "/realms/partners"
	cfg := jwtverify.IssuerConfig{
		Issuer: tf.issuer, JWKSURL: tf.idp.srv.URL + "/jwks", Audiences: []string{tokAudience},
		ClientClaim: "azp", UnknownKIDWait: 5 * time.Second,
	}
	if edit != nil {
		edit(&cfg)
	}
	v, err := jwtverify.New(context.Background(), []jwtverify.IssuerConfig{cfg},
		jwtverify.Options{Now: tf.clock.Now, CacheSize: cacheSize, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	if err := v.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.index.addClient(tf.issuer, tokClient, "acme")
	tf.srv, err = New(Options{Index: f.index, Keys: f.format, Hasher: f.hasher, Tokens: v, Auditor: f.audit, Now: tf.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.client = serve(t, tf.srv)
	return tf
}

// withPeer returns r as Envoy sends it for a TLS connection whose client
// presented leaf: source.principal is its URI SAN, source.certificate its
// URL-encoded PEM.
func withPeer(r *authv3.CheckRequest, leaf *pkitest.Leaf) *authv3.CheckRequest {
	if leaf == nil {
		return r
	}
	src := r.GetAttributes().GetSource()
	if len(leaf.Cert.URIs) > 0 {
		src.Principal = leaf.Cert.URIs[0].String()
	} else if len(leaf.Cert.DNSNames) > 0 {
		src.Principal = leaf.Cert.DNSNames[0]
	}
	src.Certificate = peercert.Encode(leaf.PEM)
	return r
}

func x5t(leaf *pkitest.Leaf) string {
	sum := sha256.Sum256(leaf.DER)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestCheckCertificateBoundToken(t *testing.T) {
	ca := pkitest.NewCA(t, "partners CA")
	certA := ca.Issue(t, pkitest.Names{Subject: "acme", URIs: []string{"spiffe://partners.example/acme"}})
	certB := ca.Issue(t, pkitest.Names{Subject: "globex", URIs: []string{"spiffe://partners.example/globex"}})
	requireBound := func(c *jwtverify.IssuerConfig) { c.RequireCertificateBound = true }

	tests := []struct {
		name    string
		issuer  func(*jwtverify.IssuerConfig)
		boundTo *pkitest.Leaf // nil: an unbound token
		peer    *pkitest.Leaf // the connection's client certificate
		reason  Reason
		detail  string
	}{
		{name: "bound-right-certificate", boundTo: certA, peer: certA, reason: ReasonAllowed},
		{name: "bound-wrong-certificate", boundTo: certA, peer: certB, reason: ReasonInvalidToken, detail: "binding_mismatch"},
		{name: "bound-no-certificate", boundTo: certA, reason: ReasonInvalidToken, detail: "binding_mismatch"},
		{name: "unbound-with-certificate", peer: certA, reason: ReasonAllowed},
		{name: "unbound-no-certificate", reason: ReasonAllowed},
		{name: "require-bound-unbound-refused", issuer: requireBound, peer: certA, reason: ReasonInvalidToken, detail: "unbound_token"},
		{name: "require-bound-bound-allowed", issuer: requireBound, boundTo: certA, peer: certA, reason: ReasonAllowed},
	}
	for _, cacheSize := range []int{0, 100} {
		for _, tc := range tests {
			t.Run(tc.name+cacheName(cacheSize), func(t *testing.T) {
				tf := newBoundFixture(t, cacheSize, tc.issuer)
				c := tf.claims()
				if tc.boundTo != nil {
					c["cnf"] = map[string]string{"x5t#S256": x5t(tc.boundTo)}
				}
				tok := sign(t, tf.ec, c, nil)
				for range 2 { // the second may be answered from the cache
					checkTokenDecision(t, tf, withPeer(request("GET", "/v1/orders", map[string]string{"authorization": "Bearer " + tok}, nil), tc.peer), tc.reason, tc.detail)
				}
			})
		}
	}

	t.Run("cached-verification-with-another-certificate", func(t *testing.T) {
		tf := newBoundFixture(t, 100, nil)
		c := tf.claims()
		c["cnf"] = map[string]string{"x5t#S256": x5t(certA)}
		tok := sign(t, tf.ec, c, nil)
		req := func(peer *pkitest.Leaf) *authv3.CheckRequest {
			return withPeer(request("GET", "/v1/orders", map[string]string{"authorization": "Bearer " + tok}, nil), peer)
		}
		checkTokenDecision(t, tf, req(certA), ReasonAllowed, "")
		checkTokenDecision(t, tf, req(certB), ReasonInvalidToken, "binding_mismatch")
		checkTokenDecision(t, tf, req(nil), ReasonInvalidToken, "binding_mismatch")
		checkTokenDecision(t, tf, req(certA), ReasonAllowed, "")
	})
}

func cacheName(size int) string {
	if size == 0 {
		return "/uncached"
	}
	return "/cached"
}

// checkTokenDecision sends req and asserts the audited reason and detail,
// and that a denial is the generic 401.
func checkTokenDecision(t *testing.T, tf *tokenFixture, req *authv3.CheckRequest, reason Reason, detail string) {
	t.Helper()
	resp, err := tf.client.Check(context.Background(), req)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	d := tf.audit.get()
	if d.Reason != reason || d.Detail != detail {
		t.Fatalf("reason = %s (%q), want %s (%q)", d.Reason, d.Detail, reason, detail)
	}
	if reason == ReasonAllowed {
		if resp.GetOkResponse() == nil {
			t.Fatalf("not allowed: %v", resp)
		}
		return
	}
	den := resp.GetDeniedResponse()
	if den == nil || den.GetStatus().GetCode() != 401 || resp.GetStatus().GetMessage() != PublicInvalidCredentials {
		t.Fatalf("denial = %v, want the generic 401", resp)
	}
}
