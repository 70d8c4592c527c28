package extauthz

// Test strategy: proof of possession end to end over real gRPC. A test CA
// issues client certificates; CheckRequests carry them in source.principal
// and source.certificate exactly as Envoy fills them (the URI SAN, and the
// URL-encoded PEM); access tokens carrying cnf are signed by test keys
// served from a real JWKS endpoint. Each row asserts the audited reason
// and detail, and every denial is the one generic 401 outside.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/partnergate/partnergate/authz"
	"github.com/partnergate/partnergate/internal/dpop"
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
	proofs, err := dpop.New(dpop.Options{Now: tf.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	tf.srv, err = newAuthz(authz.Options{Index: f.index, Keys: f.format, Hasher: f.hasher, Tokens: v, Proofs: proofs, Auditor: f.audit, Now: tf.clock.Now})
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
		reason  authz.Reason
		detail  string
	}{
		{name: "bound-right-certificate", boundTo: certA, peer: certA, reason: authz.ReasonAllowed},
		{name: "bound-wrong-certificate", boundTo: certA, peer: certB, reason: authz.ReasonInvalidToken, detail: "binding_mismatch"},
		{name: "bound-no-certificate", boundTo: certA, reason: authz.ReasonInvalidToken, detail: "binding_mismatch"},
		{name: "unbound-with-certificate", peer: certA, reason: authz.ReasonAllowed},
		{name: "unbound-no-certificate", reason: authz.ReasonAllowed},
		{name: "require-bound-unbound-refused", issuer: requireBound, peer: certA, reason: authz.ReasonInvalidToken, detail: "unbound_token"},
		{name: "require-bound-bound-allowed", issuer: requireBound, boundTo: certA, peer: certA, reason: authz.ReasonAllowed},
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
		checkTokenDecision(t, tf, req(certA), authz.ReasonAllowed, "")
		checkTokenDecision(t, tf, req(certB), authz.ReasonInvalidToken, "binding_mismatch")
		checkTokenDecision(t, tf, req(nil), authz.ReasonInvalidToken, "binding_mismatch")
		checkTokenDecision(t, tf, req(certA), authz.ReasonAllowed, "")
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
func checkTokenDecision(t *testing.T, tf *tokenFixture, req *authv3.CheckRequest, reason authz.Reason, detail string) *authv3.CheckResponse {
	t.Helper()
	resp, err := tf.client.Check(context.Background(), req)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	d := tf.audit.get()
	if d.Reason != reason || d.Detail != detail {
		t.Fatalf("reason = %s (%q), want %s (%q)", d.Reason, d.Detail, reason, detail)
	}
	if reason == authz.ReasonAllowed {
		if resp.GetOkResponse() == nil {
			t.Fatalf("not allowed: %v", resp)
		}
		return resp
	}
	den := resp.GetDeniedResponse()
	if den == nil || den.GetStatus().GetCode() != 401 || resp.GetStatus().GetMessage() != authz.PublicInvalidCredentials {
		t.Fatalf("denial = %v, want the generic 401", resp)
	}
	return resp
}

// dpopKey is a client's DPoP key.
type dpopKey struct {
	priv *ecdsa.PrivateKey
	jwk  map[string]any
	jkt  string
}

func newDPoPKey(t testing.TB) dpopKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	j, err := jwkset.NewJWKFromKey(priv.Public(), jwkset.JWKOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(j.Marshal())
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	jkt, err := dpop.Thumbprint(j.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	return dpopKey{priv: priv, jwk: m, jkt: jkt}
}

// proof mints k's proof for a GET of https://api.example.com/v1/orders
// with token, after edit.
func (k dpopKey) proof(t testing.TB, now time.Time, token, jti string, edit func(h map[string]any, c jwt.MapClaims)) string {
	t.Helper()
	sum := sha256.Sum256([]byte(token))
	c := jwt.MapClaims{"jti": jti, "htm": "GET", "htu": "https://api.example.com/v1/orders", "iat": now.Unix(),
		"ath": base64.RawURLEncoding.EncodeToString(sum[:])}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	tok.Header["typ"] = "dpop+jwt"
	tok.Header["jwk"] = k.jwk
	if edit != nil {
		edit(tok.Header, c)
	}
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCheckDPoP(t *testing.T) {
	client, other := newDPoPKey(t), newDPoPKey(t)
	requireDPoP := func(c *jwtverify.IssuerConfig) { c.RequireDPoP = true }
	type hdrs = map[string]string
	tests := []struct {
		name   string
		issuer func(*jwtverify.IssuerConfig)
		bound  string // the token's cnf jkt; "" unbound
		// headers returns the request's headers for token and a fresh
		// proof maker.
		headers func(t *testing.T, tf *tokenFixture, token string) hdrs
		reason  authz.Reason
		detail  string
		dpopWWW string // the WWW-Authenticate error of a DPoP challenge
	}{
		{name: "good", bound: client.jkt, reason: authz.ReasonAllowed, headers: func(t *testing.T, tf *tokenFixture, tok string) hdrs {
			return hdrs{"authorization": "DPoP " + tok, "dpop": client.proof(t, tf.clock.Now(), tok, "j1", nil)}
		}},
		{name: "typ-wrong", bound: client.jkt, reason: authz.ReasonInvalidDPoPProof, detail: "wrong_type", dpopWWW: "invalid_dpop_proof",
			headers: func(t *testing.T, tf *tokenFixture, tok string) hdrs {
				return hdrs{"authorization": "DPoP " + tok, "dpop": client.proof(t, tf.clock.Now(), tok, "j1", func(h map[string]any, _ jwt.MapClaims) { h["typ"] = "JWT" })}
			}},
		{name: "alg-hs256", bound: client.jkt, reason: authz.ReasonInvalidDPoPProof, detail: "algorithm_not_allowed", dpopWWW: "invalid_dpop_proof",
			headers: func(t *testing.T, tf *tokenFixture, tok string) hdrs {
				sum := sha256.Sum256([]byte(tok))
				p := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"jti": "j1", "htm": "GET", "htu": "https://api.example.com/v1/orders",
					"iat": tf.clock.Now().Unix(), "ath": base64.RawURLEncoding.EncodeToString(sum[:])})
				p.Header["typ"], p.Header["jwk"] = "dpop+jwt", client.jwk
				s, _ := p.SignedString([]byte("0123456789abcdef0123456789abcdef"))
				return hdrs{"authorization": "DPoP " + tok, "dpop": s}
			}},
		{name: "jwk-with-private-part", bound: client.jkt, reason: authz.ReasonInvalidDPoPProof, detail: "bad_key", dpopWWW: "invalid_dpop_proof",
			headers: func(t *testing.T, tf *tokenFixture, tok string) hdrs {
				return hdrs{"authorization": "DPoP " + tok, "dpop": client.proof(t, tf.clock.Now(), tok, "j1", func(h map[string]any, _ jwt.MapClaims) {
					d, err := client.priv.Bytes()
					if err != nil {
						t.Fatal(err)
					}
					jwk := map[string]any{"d": base64.RawURLEncoding.EncodeToString(d)}
					for k, v := range client.jwk {
						jwk[k] = v
					}
					h["jwk"] = jwk
				})}
			}},
		{name: "signed-by-another-key", bound: client.jkt, reason: authz.ReasonInvalidDPoPProof, detail: "bad_signature", dpopWWW: "invalid_dpop_proof",
			headers: func(t *testing.T, tf *tokenFixture, tok string) hdrs {
				return hdrs{"authorization": "DPoP " + tok, "dpop": other.proof(t, tf.clock.Now(), tok, "j1", func(h map[string]any, _ jwt.MapClaims) { h["jwk"] = client.jwk })}
			}},
		{name: "htm-wrong", bound: client.jkt, reason: authz.ReasonInvalidDPoPProof, detail: "htm_mismatch", dpopWWW: "invalid_dpop_proof",
			headers: func(t *testing.T, tf *tokenFixture, tok string) hdrs {
				return hdrs{"authorization": "DPoP " + tok, "dpop": client.proof(t, tf.clock.Now(), tok, "j1", func(_ map[string]any, c jwt.MapClaims) { c["htm"] = "POST" })}
			}},
		{name: "htu-other-host", bound: client.jkt, reason: authz.ReasonInvalidDPoPProof, detail: "htu_mismatch", dpopWWW: "invalid_dpop_proof",
			headers: func(t *testing.T, tf *tokenFixture, tok string) hdrs {
				return hdrs{"authorization": "DPoP " + tok, "dpop": client.proof(t, tf.clock.Now(), tok, "j1", func(_ map[string]any, c jwt.MapClaims) { c["htu"] = "https://other.example.com/v1/orders" })}
			}},
		{name: "htu-other-path", bound: client.jkt, reason: authz.ReasonInvalidDPoPProof, detail: "htu_mismatch", dpopWWW: "invalid_dpop_proof",
			headers: func(t *testing.T, tf *tokenFixture, tok string) hdrs {
				return hdrs{"authorization": "DPoP " + tok, "dpop": client.proof(t, tf.clock.Now(), tok, "j1", func(_ map[string]any, c jwt.MapClaims) { c["htu"] = "https://api.example.com/v1/refunds" })}
			}},
		{name: "iat-outside-window", bound: client.jkt, reason: authz.ReasonInvalidDPoPProof, detail: "iat_out_of_window", dpopWWW: "invalid_dpop_proof",
			headers: func(t *testing.T, tf *tokenFixture, tok string) hdrs {
				return hdrs{"authorization": "DPoP " + tok, "dpop": client.proof(t, tf.clock.Now(), tok, "j1", func(_ map[string]any, c jwt.MapClaims) { c["iat"] = tf.clock.Now().Add(-2 * time.Minute).Unix() })}
			}},
		{name: "ath-of-another-token", bound: client.jkt, reason: authz.ReasonInvalidDPoPProof, detail: "ath_mismatch", dpopWWW: "invalid_dpop_proof",
			headers: func(t *testing.T, tf *tokenFixture, tok string) hdrs {
				return hdrs{"authorization": "DPoP " + tok, "dpop": client.proof(t, tf.clock.Now(), "another token", "j1", nil)}
			}},
		{name: "jkt-of-another-key", bound: other.jkt, reason: authz.ReasonInvalidDPoPProof, detail: "binding_mismatch", dpopWWW: "invalid_dpop_proof",
			headers: func(t *testing.T, tf *tokenFixture, tok string) hdrs {
				return hdrs{"authorization": "DPoP " + tok, "dpop": client.proof(t, tf.clock.Now(), tok, "j1", nil)}
			}},
		{name: "no-proof", bound: client.jkt, reason: authz.ReasonInvalidDPoPProof, detail: "missing_proof", dpopWWW: "invalid_dpop_proof",
			headers: func(_ *testing.T, _ *tokenFixture, tok string) hdrs { return hdrs{"authorization": "DPoP " + tok} }},
		{name: "two-proofs", bound: client.jkt, reason: authz.ReasonInvalidDPoPProof, detail: "multiple_proofs", dpopWWW: "invalid_dpop_proof",
			headers: func(t *testing.T, tf *tokenFixture, tok string) hdrs {
				p := client.proof(t, tf.clock.Now(), tok, "j1", nil)
				return hdrs{"authorization": "DPoP " + tok, "dpop": p + "," + p}
			}},
		{name: "unbound-token-with-proof", reason: authz.ReasonInvalidDPoPProof, detail: "binding_mismatch", dpopWWW: "invalid_dpop_proof",
			headers: func(t *testing.T, tf *tokenFixture, tok string) hdrs {
				return hdrs{"authorization": "DPoP " + tok, "dpop": client.proof(t, tf.clock.Now(), tok, "j1", nil)}
			}},
		{name: "bound-token-as-bearer", bound: client.jkt, reason: authz.ReasonInvalidToken, detail: "binding_mismatch",
			headers: func(t *testing.T, tf *tokenFixture, tok string) hdrs {
				return hdrs{"authorization": "Bearer " + tok, "dpop": client.proof(t, tf.clock.Now(), tok, "j1", nil)}
			}},
		{name: "require-dpop-bearer", issuer: requireDPoP, reason: authz.ReasonInvalidToken, detail: "unbound_token",
			headers: func(_ *testing.T, _ *tokenFixture, tok string) hdrs { return hdrs{"authorization": "Bearer " + tok} }},
		{name: "require-dpop-good", issuer: requireDPoP, bound: client.jkt, reason: authz.ReasonAllowed,
			headers: func(t *testing.T, tf *tokenFixture, tok string) hdrs {
				return hdrs{"authorization": "DPoP " + tok, "dpop": client.proof(t, tf.clock.Now(), tok, "j1", nil)}
			}},
		{name: "api-key-with-dpop-scheme", reason: authz.ReasonMalformedCredential,
			headers: func(_ *testing.T, tf *tokenFixture, _ string) hdrs {
				return hdrs{"authorization": "DPoP " + tf.keys["acme"].Reveal()}
			}},
	}
	for _, cacheSize := range []int{0, 100} {
		for _, tc := range tests {
			t.Run(tc.name+cacheName(cacheSize), func(t *testing.T) {
				tf := newBoundFixture(t, cacheSize, tc.issuer)
				c := tf.claims()
				if tc.bound != "" {
					c["cnf"] = map[string]string{"jkt": tc.bound}
				}
				tok := sign(t, tf.ec, c, nil)
				resp := checkTokenDecision(t, tf, request("GET", "/v1/orders?page=2", tc.headers(t, tf, tok), nil), tc.reason, tc.detail)
				www := ""
				for _, h := range resp.GetDeniedResponse().GetHeaders() {
					if h.GetHeader().GetKey() == "www-authenticate" {
						www = h.GetHeader().GetValue()
					}
				}
				if tc.dpopWWW != "" && (!strings.HasPrefix(www, "DPoP ") || !strings.Contains(www, `error="`+tc.dpopWWW+`"`)) {
					t.Errorf("WWW-Authenticate = %q, want a DPoP challenge with error=%q", www, tc.dpopWWW)
				}
			})
		}
	}

	t.Run("htu-is-what-the-edge-saw", func(t *testing.T) {
		// The proof names https://api.example.com/v1/orders; the request
		// as Envoy saw it differs in one part at a time.
		tf := newBoundFixture(t, 0, nil)
		c := tf.claims()
		c["cnf"] = map[string]string{"jkt": client.jkt}
		tok := sign(t, tf.ec, c, nil)
		for i, edit := range []func(h *authv3.AttributeContext_HttpRequest){
			func(h *authv3.AttributeContext_HttpRequest) { h.Scheme = "http" },
			func(h *authv3.AttributeContext_HttpRequest) { h.Host = "other.example.com" },
			func(h *authv3.AttributeContext_HttpRequest) { h.Path = "/v1/orders/7" },
		} {
			r := request("GET", "/v1/orders", hdrs{"authorization": "DPoP " + tok, "dpop": client.proof(t, tf.clock.Now(), tok, fmt.Sprint("edge-", i), nil)}, nil)
			edit(r.GetAttributes().GetRequest().GetHttp())
			checkTokenDecision(t, tf, r, authz.ReasonInvalidDPoPProof, "htu_mismatch")
		}
	})
	t.Run("refused-token-with-dpop-is-challenged-with-dpop", func(t *testing.T) {
		tf := newBoundFixture(t, 0, nil)
		c := tf.claims()
		c["cnf"] = map[string]string{"jkt": client.jkt}
		c["aud"] = "https://elsewhere.example"
		tok := sign(t, tf.ec, c, nil)
		resp := checkTokenDecision(t, tf, request("GET", "/v1/orders", hdrs{"authorization": "DPoP " + tok, "dpop": client.proof(t, tf.clock.Now(), tok, "j1", nil)}, nil), authz.ReasonInvalidToken, "audience_mismatch")
		for _, h := range resp.GetDeniedResponse().GetHeaders() {
			if h.GetHeader().GetKey() == "www-authenticate" && h.GetHeader().GetValue() != `DPoP realm="partnergate", error="invalid_token"` {
				t.Errorf("WWW-Authenticate = %q, want the DPoP scheme with invalid_token", h.GetHeader().GetValue())
			}
		}
	})
	t.Run("replayed-jti", func(t *testing.T) {
		tf := newBoundFixture(t, 100, nil)
		c := tf.claims()
		c["cnf"] = map[string]string{"jkt": client.jkt}
		tok := sign(t, tf.ec, c, nil)
		h := hdrs{"authorization": "DPoP " + tok, "dpop": client.proof(t, tf.clock.Now(), tok, "once", nil)}
		checkTokenDecision(t, tf, request("GET", "/v1/orders", h, nil), authz.ReasonAllowed, "")
		checkTokenDecision(t, tf, request("GET", "/v1/orders", h, nil), authz.ReasonInvalidDPoPProof, "replayed_jti")
		h["dpop"] = client.proof(t, tf.clock.Now(), tok, "twice", nil)
		checkTokenDecision(t, tf, request("GET", "/v1/orders", h, nil), authz.ReasonAllowed, "")
	})
	t.Run("proof-for-invalid-token-takes-no-jti", func(t *testing.T) {
		// A key of one's own and no token must not fill the replay cache.
		tf := newBoundFixture(t, 0, nil)
		c := tf.claims()
		c["cnf"] = map[string]string{"jkt": client.jkt}
		good := sign(t, tf.ec, c, nil)
		c["aud"] = "https://elsewhere.example"
		bad := sign(t, tf.ec, c, nil)
		checkTokenDecision(t, tf, request("GET", "/v1/orders", hdrs{"authorization": "DPoP " + bad, "dpop": client.proof(t, tf.clock.Now(), bad, "same", nil)}, nil), authz.ReasonInvalidToken, "audience_mismatch")
		checkTokenDecision(t, tf, request("GET", "/v1/orders", hdrs{"authorization": "DPoP " + good, "dpop": client.proof(t, tf.clock.Now(), good, "same", nil)}, nil), authz.ReasonAllowed, "")
	})
}
