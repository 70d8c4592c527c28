package extauthz

// Test strategy for the token path: real tokens are signed with test RSA
// and EC keys and verified by the real jwtverify.Verifier against a real
// JWKS served by httptest; Check runs over real gRPC on loopback. One table
// row per failure the token path must catch, each asserting the internal
// reason and the verifier's detail through the authz.Auditor, plus the public
// reason and HTTP status Envoy would send. Revocation is asserted with the
// verifier's token cache on, so a cached verification is shown not to skip
// it. The clock is injected and shared by verifier and server; nothing
// sleeps.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/partnergate/partnergate/authz"
	"github.com/partnergate/partnergate/internal/jwtverify"
	"github.com/partnergate/partnergate/internal/partner"
)

// Token state of the fake index; the API key fixture has none.
type tokenState struct {
	mu      sync.Mutex
	clients map[[2]string]string
	revoked map[[2]string]bool
}

var tokenStates sync.Map // *fakeIndex → *tokenState

func (f *fakeIndex) tokens() *tokenState {
	v, _ := tokenStates.LoadOrStore(f, &tokenState{clients: map[[2]string]string{}, revoked: map[[2]string]bool{}})
	return v.(*tokenState)
}

func (f *fakeIndex) Client(issuer, clientID string) (string, bool) {
	ts := f.tokens()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	id, ok := ts.clients[[2]string{issuer, clientID}]
	return id, ok
}

func (f *fakeIndex) TokenRevoked(issuer, jti string) bool {
	ts := f.tokens()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.revoked[[2]string{issuer, jti}]
}

func (f *fakeIndex) addClient(issuer, clientID, partnerID string) {
	ts := f.tokens()
	ts.mu.Lock()
	ts.clients[[2]string{issuer, clientID}] = partnerID
	ts.mu.Unlock()
}

func (f *fakeIndex) revoke(issuer, jti string) {
	ts := f.tokens()
	ts.mu.Lock()
	ts.revoked[[2]string{issuer, jti}] = true
	ts.mu.Unlock()
}

func (f *fakeIndex) setPartner(p *partner.Partner) {
	f.mu.Lock()
	f.partners[p.ID] = p
	f.mu.Unlock()
}

// signer is a test IdP's signing key.
type signer struct {
	kid    string
	method jwt.SigningMethod
	priv   crypto.Signer
}

var (
	testRSA  = sync.OnceValue(func() *rsa.PrivateKey { k, _ := rsa.GenerateKey(rand.Reader, 2048); return k })
	testRSA2 = sync.OnceValue(func() *rsa.PrivateKey { k, _ := rsa.GenerateKey(rand.Reader, 2048); return k })
	testEC   = sync.OnceValue(func() *ecdsa.PrivateKey { k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader); return k })
)

// jwksServer is a real JWKS endpoint whose keys a test replaces.
type jwksServer struct {
	srv  *httptest.Server
	body atomic.Pointer[[]byte]
}

func newJWKSServer(t testing.TB, keys ...signer) *jwksServer {
	t.Helper()
	j := &jwksServer{}
	j.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*j.body.Load())
	}))
	t.Cleanup(j.srv.Close)
	j.publish(t, keys...)
	return j
}

func (j *jwksServer) publish(t testing.TB, keys ...signer) {
	t.Helper()
	set := jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{}}
	for _, k := range keys {
		jwk, err := jwkset.NewJWKFromKey(k.priv.Public(), jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: jwkset.ALG(k.method.Alg()), USE: jwkset.UseSig},
		})
		if err != nil {
			t.Fatal(err)
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	j.body.Store(&b)
}

// testClock moves only when told.
type testClock struct{ ns atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

const (
	tokAudience = "https://api.partnergate.test"
	tokClient   = "acme-billing"
)

// tokenFixture is an API key fixture plus an IdP, a verifier trusting it,
// and a server that takes tokens.
type tokenFixture struct {
	*fixture
	idp    *jwksServer
	issuer string
	clock  *testClock
	srv    *Server
	rsa    signer
	ec     signer
}

func newTokenFixture(t testing.TB, cacheSize int) *tokenFixture {
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
	v, err := jwtverify.New(context.Background(), []jwtverify.IssuerConfig{{
		Issuer:                tf.issuer,
		JWKSURL:               tf.idp.srv.URL + "/jwks",
		Audiences:             []string{tokAudience},
		Leeway:                30 * time.Second,
		ClientClaim:           "azp",
		RefreshUnknownKIDRate: time.Second,
		// A rotation is picked up by the request that meets it, however
		// loaded the machine; the bound itself is jwtverify's to test.
		UnknownKIDWait: 5 * time.Second,
	}}, jwtverify.Options{Now: tf.clock.Now, CacheSize: cacheSize, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	if err := v.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.index.addClient(tf.issuer, tokClient, "acme")
	f.index.addClient(tf.issuer, "umbra-client", "umbra")
	tf.srv, err = newAuthz(authz.Options{
		Index: f.index, Keys: f.format, Hasher: f.hasher, Tokens: v,
		Auditor: f.audit, Now: tf.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.client = serve(t, tf.srv)
	return tf
}

// claims returns the claims of a good token for tokClient.
func (tf *tokenFixture) claims() jwt.MapClaims {
	now := tf.clock.Now()
	return jwt.MapClaims{
		"iss": tf.issuer, "aud": tokAudience, "azp": tokClient, "sub": "service-account-" + tokClient,
		"scope": "orders:read orders:write", "jti": "jti-1",
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	}
}

func sign(t testing.TB, k signer, c jwt.MapClaims, edit func(*jwt.Token)) string {
	t.Helper()
	tok := jwt.NewWithClaims(k.method, c)
	tok.Header["kid"] = k.kid
	if edit != nil {
		edit(tok)
	}
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCheckToken(t *testing.T) {
	tf := newTokenFixture(t, 0)
	other := signer{"rsa-1", jwt.SigningMethodRS256, testRSA2()} // right kid, wrong key
	rsaPub, err := x509.MarshalPKIXPublicKey(testRSA().Public())
	if err != nil {
		t.Fatal(err)
	}
	hsConfusion := func() string { // the public key's PEM used as an HS256 secret
		secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaPub})
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, tf.claims())
		tok.Header["kid"] = "rsa-1"
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	algNone := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, tf.claims())
		tok.Header["kid"] = "rsa-1"
		s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	with := func(k signer, edit func(jwt.MapClaims)) func() string {
		return func() string {
			c := tf.claims()
			edit(c)
			return sign(t, k, c, nil)
		}
	}
	now := tf.clock.Now()

	tests := []struct {
		name   string
		setup  func()
		token  func() string
		route  string // required scopes
		reason authz.Reason
		detail string
		scopes string // on allow
	}{
		{name: "allow-rs256", token: with(tf.rsa, func(jwt.MapClaims) {}), reason: authz.ReasonAllowed, scopes: "orders:read orders:write"},
		{name: "allow-es256", token: with(tf.ec, func(jwt.MapClaims) {}), reason: authz.ReasonAllowed, scopes: "orders:read orders:write"},
		{name: "wrong-key", token: with(other, func(jwt.MapClaims) {}), reason: authz.ReasonInvalidToken, detail: "bad_signature"},
		{name: "alg-none", token: algNone, reason: authz.ReasonInvalidToken, detail: "algorithm_not_allowed"},
		{name: "rs256-key-as-hs256-secret", token: hsConfusion, reason: authz.ReasonInvalidToken, detail: "algorithm_not_allowed"},
		{name: "wrong-iss", token: with(tf.rsa, func(c jwt.MapClaims) { c["iss"] = "https://evil.example.com/realms/partners" }), reason: authz.ReasonInvalidToken, detail: "unknown_issuer"},
		{name: "wrong-aud", token: with(tf.rsa, func(c jwt.MapClaims) { c["aud"] = "https://other-api.example.com" }), reason: authz.ReasonInvalidToken, detail: "audience_mismatch"},
		{name: "expired-beyond-leeway", token: with(tf.rsa, func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(-10*time.Minute).Unix(), now.Add(-31*time.Second).Unix()
		}), reason: authz.ReasonInvalidToken, detail: "expired"},
		{name: "expired-within-leeway-accepted", token: with(tf.rsa, func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(-10*time.Minute).Unix(), now.Add(-20*time.Second).Unix()
		}), reason: authz.ReasonAllowed, scopes: "orders:read orders:write"},
		{name: "nbf-in-future", token: with(tf.rsa, func(c jwt.MapClaims) { c["nbf"] = now.Add(2 * time.Minute).Unix() }), reason: authz.ReasonInvalidToken, detail: "not_yet_valid"},
		{name: "missing-client-claim", token: with(tf.rsa, func(c jwt.MapClaims) { delete(c, "azp") }), reason: authz.ReasonInvalidToken, detail: "missing_client"},
		{name: "unregistered-client", token: with(tf.rsa, func(c jwt.MapClaims) { c["azp"] = "stranger" }), reason: authz.ReasonUnregisteredClient},
		{name: "scope-beyond-grants-dropped", token: with(tf.ec, func(c jwt.MapClaims) { c["azp"] = "globex-client"; c["scope"] = "orders:read orders:write" }),
			setup: func() { tf.index.addClient(tf.issuer, "globex-client", "globex") }, reason: authz.ReasonAllowed, scopes: "orders:read"},
		{name: "scope-beyond-grants-refused", token: with(tf.ec, func(c jwt.MapClaims) { c["azp"] = "globex-client"; c["scope"] = "orders:read orders:write" }),
			route: "orders:write", reason: authz.ReasonInsufficientScope},
		{name: "token-lacks-scope", token: with(tf.rsa, func(c jwt.MapClaims) { c["scope"] = "orders:read" }), route: "orders:write", reason: authz.ReasonInsufficientScope},
		{name: "revoked-jti", setup: func() { tf.index.revoke(tf.issuer, "jti-revoked") },
			token: with(tf.rsa, func(c jwt.MapClaims) { c["jti"] = "jti-revoked" }), reason: authz.ReasonRevokedToken},
		{name: "revoked-jti-of-other-issuer-ignored", setup: func() { tf.index.revoke("https://other.example.com/", "jti-elsewhere") },
			token: with(tf.rsa, func(c jwt.MapClaims) { c["jti"] = "jti-elsewhere" }), reason: authz.ReasonAllowed, scopes: "orders:read orders:write"},
		{name: "issued-before-cutoff", setup: func() {
			tf.index.setPartner(&partner.Partner{ID: "cutco", Tier: "free", Scopes: partner.Scopes{"orders:read"}, State: partner.Active, TokensNotBefore: now.Add(-time.Minute)})
			tf.index.addClient(tf.issuer, "cutco-client", "cutco")
		}, token: with(tf.rsa, func(c jwt.MapClaims) { c["azp"] = "cutco-client"; c["iat"] = now.Add(-2 * time.Minute).Unix() }), reason: authz.ReasonTokenBeforeCutoff},
		{name: "issued-after-cutoff-accepted", token: with(tf.rsa, func(c jwt.MapClaims) { c["azp"] = "cutco-client" }), reason: authz.ReasonAllowed, scopes: "orders:read"},
		{name: "suspended-partner", token: with(tf.rsa, func(c jwt.MapClaims) { c["azp"] = "umbra-client" }), reason: authz.ReasonPartnerSuspended},
		{name: "jwt-in-x-api-key-is-not-a-token", token: with(tf.rsa, func(jwt.MapClaims) {}), reason: authz.ReasonMalformedCredential},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			tok := tc.token()
			hdrs := map[string]string{"authorization": "Bearer " + tok}
			if tc.name == "jwt-in-x-api-key-is-not-a-token" {
				hdrs = map[string]string{"x-api-key": tok}
			}
			var ext map[string]string
			if tc.route != "" {
				ext = map[string]string{"required_scopes": tc.route}
			}
			resp, err := tf.client.Check(context.Background(), request("GET", "/v1/orders", hdrs, ext))
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			d := tf.audit.get()
			if d.Reason != tc.reason || d.Detail != tc.detail {
				t.Fatalf("reason = %s (%q), want %s (%q)", d.Reason, d.Detail, tc.reason, tc.detail)
			}
			if tc.reason == authz.ReasonAllowed {
				ok := resp.GetOkResponse()
				if ok == nil {
					t.Fatalf("not allowed: %v", resp)
				}
				got := map[string]string{}
				for _, h := range ok.GetHeaders() {
					got[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
				}
				if got[authz.HeaderPartnerScopes] != tc.scopes || got[authz.HeaderPartnerCredential] != d.CredentialID || d.CredentialID == "" {
					t.Errorf("headers = %v, want scopes %q and the client id as credential", got, tc.scopes)
				}
				if md := resp.GetDynamicMetadata().GetFields()[MetadataCredentialID].GetStringValue(); md != d.CredentialID {
					t.Errorf("metadata credential_id = %q, want %q", md, d.CredentialID)
				}
				return
			}
			wantHTTP, wantPublic := 401, authz.PublicInvalidCredentials
			if code(tc.reason) == codes.PermissionDenied {
				wantHTTP, wantPublic = 403, tc.reason.Public()
			}
			den := resp.GetDeniedResponse()
			if den == nil || int(den.GetStatus().GetCode()) != wantHTTP || resp.GetStatus().GetMessage() != wantPublic {
				t.Errorf("denial = %v, want HTTP %d with %q", resp, wantHTTP, wantPublic)
			}
		})
	}
}

// TestCheckTokenKeyRotation: a token signed by a key the JWKS does not
// hold yet is refused; once the IdP publishes it, the next request after
// the refresh rate is allowed without restarting anything.
func TestCheckTokenKeyRotation(t *testing.T) {
	tf := newTokenFixture(t, 0)
	next := signer{"rsa-2", jwt.SigningMethodRS256, testRSA2()}
	tok := sign(t, next, tf.claims(), nil)
	check := func() authz.Decision {
		if _, err := tf.client.Check(context.Background(), request("GET", "/v1/orders", map[string]string{"authorization": "Bearer " + tok}, nil)); err != nil {
			t.Fatal(err)
		}
		return tf.audit.get()
	}
	if d := check(); d.Reason != authz.ReasonInvalidToken || d.Detail != "unknown_kid" {
		t.Fatalf("before rotation: %s (%q), want invalid_token (unknown_kid)", d.Reason, d.Detail)
	}
	tf.idp.publish(t, tf.rsa, tf.ec, next)
	// A kid a refresh proved absent is remembered for ten times the
	// refresh rate (1s here); the token is still fresh after that.
	tf.clock.Advance(11 * time.Second)
	if d := check(); d.Reason != authz.ReasonAllowed {
		t.Fatalf("after rotation: %s (%q), want allowed", d.Reason, d.Detail)
	}
}

// TestCheckTokenRevocationBeatsCache: with the verifier's cache on, a
// revocation, a cutoff, a suspension and a removed client each refuse the
// very next request carrying an already-verified token.
func TestCheckTokenRevocationBeatsCache(t *testing.T) {
	steps := []struct {
		name   string
		act    func(tf *tokenFixture)
		reason authz.Reason
	}{
		{"revoke-jti", func(tf *tokenFixture) { tf.index.revoke(tf.issuer, "jti-1") }, authz.ReasonRevokedToken},
		{"issued-before-cutoff", func(tf *tokenFixture) {
			p, _ := tf.index.Partner("acme")
			cp := *p
			cp.TokensNotBefore = tf.clock.Now()
			tf.index.setPartner(&cp)
		}, authz.ReasonTokenBeforeCutoff},
		{"suspend-partner", func(tf *tokenFixture) {
			p, _ := tf.index.Partner("acme")
			cp := *p
			cp.State = partner.Suspended
			tf.index.setPartner(&cp)
		}, authz.ReasonPartnerSuspended},
		{"remove-client", func(tf *tokenFixture) {
			ts := tf.index.tokens()
			ts.mu.Lock()
			delete(ts.clients, [2]string{tf.issuer, tokClient})
			ts.mu.Unlock()
		}, authz.ReasonUnregisteredClient},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			tf := newTokenFixture(t, 100)
			tok := sign(t, tf.rsa, tf.claims(), nil)
			req := request("GET", "/v1/orders", map[string]string{"authorization": "Bearer " + tok}, nil)
			for range 2 { // the second is a cache hit
				if _, err := tf.client.Check(context.Background(), req); err != nil || tf.audit.get().Reason != authz.ReasonAllowed {
					t.Fatalf("before: %v %s", err, tf.audit.get().Reason)
				}
			}
			tf.clock.Advance(time.Second)
			st.act(tf)
			if _, err := tf.client.Check(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			if got := tf.audit.get().Reason; got != st.reason {
				t.Errorf("after %s: reason %s, want %s", st.name, got, st.reason)
			}
		})
	}
}

// TestCheckTokenFaults: an issuer whose keys were never loaded is a fault
// of this replica, answered as a gRPC error so Envoy fails closed.
func TestCheckTokenFaults(t *testing.T) {
	f := newFixture(t, nil)
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer dead.Close()
	issuer := dead.URL + "/realms/partners"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	v, err := jwtverify.New(ctx, []jwtverify.IssuerConfig{{Issuer: issuer, JWKSURL: dead.URL + "/jwks", Audiences: []string{tokAudience}}},
		jwtverify.Options{Now: func() time.Time { return testNow }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	srv, err := newAuthz(authz.Options{Index: f.index, Keys: f.format, Hasher: f.hasher, Tokens: v, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	client := serve(t, srv)
	k := signer{"rsa-1", jwt.SigningMethodRS256, testRSA()}
	tok := sign(t, k, jwt.MapClaims{"iss": issuer, "aud": tokAudience, "azp": "x", "iat": testNow.Unix(), "exp": testNow.Add(time.Minute).Unix()}, nil)
	_, err = client.Check(context.Background(), request("GET", "/v1/orders", map[string]string{"authorization": "Bearer " + tok}, nil))
	if status.Code(err) != codes.Unavailable {
		t.Errorf("Check with unavailable keys: %v, want Unavailable", err)
	}
}

// TestRevocationGraceCoversLeeway: a revocation kept until exp plus the
// grace still refuses a token the verifier accepts within its leeway.
func TestRevocationGraceCoversLeeway(t *testing.T) {
	if partner.TokenRevocationGrace < jwtverify.MaxLeeway {
		t.Errorf("TokenRevocationGrace %s < jwtverify.MaxLeeway %s", partner.TokenRevocationGrace, jwtverify.MaxLeeway)
	}
}
