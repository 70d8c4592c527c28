// Test strategy: every token here is real — signed with RSA, ECDSA or
// Ed25519 test keys and checked against a real JWKS served over HTTP by an
// httptest server whose keys, availability and speed each test controls.
// Nothing is mocked; time comes from an injected clock, so expiry, leeway,
// rate limits and cache lifetimes are exact. One table holds one row per way
// a token can fail, each asserting the sentinel with errors.Is and its
// stable Reason code, beside the near misses that must pass (expiry within
// leeway, a kid rotated in at the IdP). Separate tests cover what needs a
// sequence of steps: IdP outages before and after start, the unknown-kid
// rate limit and negative cache, a refresh wait bounded by the request's
// context, the verified-token cache (hits skip the signature, entries never
// outlive exp, withdrawn keys end them), certificate binding, discovery,
// shared secrets, and the client-credentials tokens of Keycloak, Auth0,
// Okta, Microsoft Entra ID and Ory Hydra. The unverified peek and
// LooksLikeJWT are fuzzed (fuzz_test.go); Verify is benchmarked with the
// cache on and off (bench_test.go).
package jwtverify

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/partnergate/partnergate/internal/logtest"
	"github.com/partnergate/partnergate/internal/partner"
)

func TestVerifyRefusals(t *testing.T) {
	good := rsaKey("k1")
	tests := []struct {
		name string
		// keys the IdP publishes at start; default: good.
		keys []*testKey
		cfg  func(*IssuerConfig)
		// token builds the token, possibly changing the IdP first.
		token func(t *testing.T, e *env) string
		// want is nil for a token that must be accepted.
		want   error
		reason string
	}{
		{
			name: "accepted",
			token: func(t *testing.T, e *env) string {
				return sign(t, good, nil, e.claims())
			},
		},
		{
			name: "wrong-key",
			token: func(t *testing.T, e *env) string {
				return sign(t, rsaKey2("k1"), nil, e.claims())
			},
			want: ErrSignature, reason: "bad_signature",
		},
		{
			name: "alg-none",
			token: func(t *testing.T, e *env) string {
				tok := jwt.NewWithClaims(jwt.SigningMethodNone, e.claims())
				tok.Header["kid"] = "k1"
				s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
				if err != nil {
					t.Fatal(err)
				}
				return s
			},
			want: ErrAlgorithm, reason: "algorithm_not_allowed",
		},
		{
			name: "rs256-public-key-as-hs256-secret",
			token: func(t *testing.T, e *env) string {
				der, err := x509.MarshalPKIXPublicKey(good.public())
				if err != nil {
					t.Fatal(err)
				}
				secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
				tok := jwt.NewWithClaims(jwt.SigningMethodHS256, e.claims())
				tok.Header["kid"] = "k1"
				s, err := tok.SignedString(secret)
				if err != nil {
					t.Fatal(err)
				}
				return s
			},
			want: ErrAlgorithm, reason: "algorithm_not_allowed",
		},
		{
			name: "alg-outside-allow-list",
			keys: []*testKey{good, {kid: "p384", method: jwt.SigningMethodES384, priv: p384Priv(), jwkAlg: "ES384"}},
			token: func(t *testing.T, e *env) string {
				return sign(t, &testKey{kid: "p384", method: jwt.SigningMethodES384, priv: p384Priv()}, nil, e.claims())
			},
			want: ErrAlgorithm, reason: "algorithm_not_allowed",
		},
		{
			name: "jwk-alg-differs-from-header",
			keys: []*testKey{good},
			cfg:  func(c *IssuerConfig) { c.Algorithms = []string{"RS256", "PS256"} },
			token: func(t *testing.T, e *env) string {
				return sign(t, &testKey{kid: "k1", method: jwt.SigningMethodPS256, priv: rsaPriv()}, nil, e.claims())
			},
			want: ErrAlgorithm, reason: "algorithm_not_allowed",
		},
		{
			name: "rsa-key-without-alg-and-several-rsa-algs",
			keys: []*testKey{{kid: "k1", method: jwt.SigningMethodRS256, priv: rsaPriv()}},
			cfg:  func(c *IssuerConfig) { c.Algorithms = []string{"RS256", "PS256"} },
			token: func(t *testing.T, e *env) string {
				return sign(t, good, nil, e.claims())
			},
			want: ErrAlgorithm, reason: "algorithm_not_allowed",
		},
		{
			name: "es256-header-on-rsa-kid",
			keys: []*testKey{{kid: "k1", method: jwt.SigningMethodRS256, priv: rsaPriv()}},
			token: func(t *testing.T, e *env) string {
				return sign(t, &testKey{kid: "k1", method: jwt.SigningMethodES256, priv: ecPriv()}, nil, e.claims())
			},
			want: ErrAlgorithm, reason: "algorithm_not_allowed",
		},
		{
			name: "unknown-issuer",
			token: func(t *testing.T, e *env) string {
				return sign(t, good, nil, edit(e.claims(), map[string]any{"iss": "https://idp.evil.example"}))
			},
			want: ErrUnknownIssuer, reason: "unknown_issuer",
		},
		{
			name: "issuer-differs-by-trailing-slash",
			token: func(t *testing.T, e *env) string {
				return sign(t, good, nil, edit(e.claims(), map[string]any{"iss": e.cfg.Issuer + "/"}))
			},
			want: ErrUnknownIssuer, reason: "unknown_issuer",
		},
		{
			name: "missing-iss",
			token: func(t *testing.T, e *env) string {
				return sign(t, good, nil, edit(e.claims(), map[string]any{"iss": nil}))
			},
			want: ErrUnknownIssuer, reason: "unknown_issuer",
		},
		{
			name: "wrong-aud",
			token: func(t *testing.T, e *env) string {
				return sign(t, good, nil, edit(e.claims(), map[string]any{"aud": []string{"https://other.example", "account"}}))
			},
			want: ErrAudience, reason: "audience_mismatch",
		},
		{
			name: "missing-aud",
			token: func(t *testing.T, e *env) string {
				return sign(t, good, nil, edit(e.claims(), map[string]any{"aud": nil}))
			},
			want: ErrAudience, reason: "audience_mismatch",
		},
		{
			name: "expired-beyond-leeway",
			token: func(t *testing.T, e *env) string {
				return sign(t, good, nil, edit(e.claims(), map[string]any{"exp": e.clock.Now().Add(-31 * time.Second).Unix()}))
			},
			want: ErrExpired, reason: "expired",
		},
		{
			name: "expired-within-leeway",
			token: func(t *testing.T, e *env) string {
				return sign(t, good, nil, edit(e.claims(), map[string]any{"exp": e.clock.Now().Add(-29 * time.Second).Unix()}))
			},
		},
		{
			name: "missing-exp",
			token: func(t *testing.T, e *env) string {
				return sign(t, good, nil, edit(e.claims(), map[string]any{"exp": nil}))
			},
			want: ErrMissingClaim, reason: "missing_claim",
		},
		{
			name: "missing-iat",
			token: func(t *testing.T, e *env) string {
				return sign(t, good, nil, edit(e.claims(), map[string]any{"iat": nil}))
			},
			want: ErrMissingClaim, reason: "missing_claim",
		},
		{
			name: "nbf-in-future",
			token: func(t *testing.T, e *env) string {
				return sign(t, good, nil, edit(e.claims(), map[string]any{"nbf": e.clock.Now().Add(time.Minute).Unix()}))
			},
			want: ErrNotYetValid, reason: "not_yet_valid",
		},
		{
			name: "iat-in-future",
			token: func(t *testing.T, e *env) string {
				return sign(t, good, nil, edit(e.claims(), map[string]any{"iat": e.clock.Now().Add(24 * time.Hour).Unix()}))
			},
			want: ErrIssuedInFuture, reason: "issued_in_future",
		},
		{
			name: "unknown-kid-then-rotated-in",
			token: func(t *testing.T, e *env) string {
				next := ecKey("k2")
				e.idp.publish(t, good, next) // the IdP rotates; the verifier has not refreshed
				return sign(t, next, nil, e.claims())
			},
		},
		{
			name: "unknown-kid-never-published",
			token: func(t *testing.T, e *env) string {
				return sign(t, rsaKey("k-unpublished"), nil, e.claims())
			},
			want: ErrUnknownKey, reason: "unknown_kid",
		},
		{
			name: "encryption-key-used-to-sign",
			keys: []*testKey{good, {kid: "enc1", method: jwt.SigningMethodRS256, priv: rsaPriv2(), use: "enc"}},
			token: func(t *testing.T, e *env) string {
				return sign(t, rsaKey2("enc1"), nil, e.claims())
			},
			want: ErrUnknownKey, reason: "unknown_kid",
		},
		{
			name: "missing-kid",
			token: func(t *testing.T, e *env) string {
				return sign(t, good, map[string]any{"kid": nil}, e.claims())
			},
			want: ErrMissingKeyID, reason: "missing_kid",
		},
		{
			name: "jku-header",
			token: func(t *testing.T, e *env) string {
				return sign(t, good, map[string]any{"jku": "https://attacker.example/jwks"}, e.claims())
			},
			want: ErrForbiddenHeader, reason: "forbidden_header",
		},
		{
			name: "x5u-header",
			token: func(t *testing.T, e *env) string {
				return sign(t, good, map[string]any{"x5u": "https://attacker.example/cert.pem"}, e.claims())
			},
			want: ErrForbiddenHeader, reason: "forbidden_header",
		},
		{
			name: "embedded-jwk-header",
			token: func(t *testing.T, e *env) string {
				return sign(t, good, map[string]any{"jwk": map[string]string{"kty": "RSA", "n": "AQAB", "e": "AQAB"}}, e.claims())
			},
			want: ErrForbiddenHeader, reason: "forbidden_header",
		},
		{
			name: "x5c-header",
			token: func(t *testing.T, e *env) string {
				return sign(t, good, map[string]any{"x5c": []string{"MIIB"}}, e.claims())
			},
			want: ErrForbiddenHeader, reason: "forbidden_header",
		},
		{
			name: "crit-header",
			token: func(t *testing.T, e *env) string {
				return sign(t, good, map[string]any{"crit": []string{"b64"}, "b64": false}, e.claims())
			},
			want: ErrForbiddenHeader, reason: "forbidden_header",
		},
		{
			name: "missing-client-claim",
			token: func(t *testing.T, e *env) string {
				return sign(t, good, nil, edit(e.claims(), map[string]any{"client_id": nil}))
			},
			want: ErrMissingClient, reason: "missing_client",
		},
		{
			name: "client-claim-not-a-string",
			token: func(t *testing.T, e *env) string {
				return sign(t, good, nil, edit(e.claims(), map[string]any{"client_id": 42}))
			},
			want: ErrMissingClient, reason: "missing_client",
		},
		{
			name: "client-claim-with-line-break",
			token: func(t *testing.T, e *env) string {
				return sign(t, good, nil, edit(e.claims(), map[string]any{"client_id": "acme\r\nx-partner-id: other"}))
			},
			want: ErrMissingClient, reason: "missing_client",
		},
		{
			name: "id-token-typ-jwt-when-at-jwt-required",
			cfg:  func(c *IssuerConfig) { c.RequireType = "at+jwt" },
			token: func(t *testing.T, e *env) string {
				return sign(t, good, map[string]any{"typ": "JWT"}, edit(e.claims(), map[string]any{"nonce": "n-0S6", "auth_time": e.clock.Now().Unix()}))
			},
			want: ErrType, reason: "wrong_type",
		},
		{
			name: "missing-typ-when-at-jwt-required",
			cfg:  func(c *IssuerConfig) { c.RequireType = "at+jwt" },
			token: func(t *testing.T, e *env) string {
				return sign(t, good, map[string]any{"typ": nil}, e.claims())
			},
			want: ErrType, reason: "wrong_type",
		},
		{
			name: "typ-application-at-jwt-any-case",
			cfg:  func(c *IssuerConfig) { c.RequireType = "at+jwt" },
			token: func(t *testing.T, e *env) string {
				return sign(t, good, map[string]any{"typ": "application/AT+JWT"}, e.claims())
			},
		},
		{
			name: "oversize",
			cfg:  func(c *IssuerConfig) { c.MaxTokenBytes = 2048 },
			token: func(t *testing.T, e *env) string {
				return sign(t, good, nil, edit(e.claims(), map[string]any{"pad": strings.Repeat("x", 2048)}))
			},
			want: ErrTooLarge, reason: "too_large",
		},
		{
			name: "not-a-jwt",
			token: func(t *testing.T, e *env) string {
				return "pg_live_3kTMd8Qw0aZx_secret"
			},
			want: ErrMalformed, reason: "malformed",
		},
		{
			name: "header-not-base64url",
			token: func(t *testing.T, e *env) string {
				tok := sign(t, good, nil, e.claims())
				return "e@J" + tok[3:]
			},
			want: ErrMalformed, reason: "malformed",
		},
		{
			name: "scope-neither-string-nor-array",
			token: func(t *testing.T, e *env) string {
				return sign(t, good, nil, edit(e.claims(), map[string]any{"scope": map[string]int{"a": 1}}))
			},
			want: ErrMalformed, reason: "malformed",
		},
		{
			name: "certificate-bound-without-certificate",
			token: func(t *testing.T, e *env) string {
				return sign(t, good, nil, edit(e.claims(), map[string]any{"cnf": map[string]string{"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}}))
			},
			want: ErrBinding, reason: "binding_mismatch",
		},
		{
			name: "dpop-bound-token",
			token: func(t *testing.T, e *env) string {
				return sign(t, good, nil, edit(e.claims(), map[string]any{"cnf": map[string]string{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}))
			},
			want: ErrBinding, reason: "binding_mismatch",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := tt.keys
			if keys == nil {
				keys = []*testKey{good}
			}
			e := newEnv(t, keys, func(c *IssuerConfig, _ *Options) {
				if tt.cfg != nil {
					tt.cfg(c)
				}
			})
			if err := e.v.Ready(context.Background()); err != nil {
				t.Fatalf("Ready: %v", err)
			}
			p, err := e.v.Verify(context.Background(), tt.token(t, e))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v (reason %s), want success", err, Reason(err))
				}
				if p.ClientID != "acme-billing" || p.Issuer != e.cfg.Issuer {
					t.Errorf("principal = %+v", p)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error = %v, want %v", err, tt.want)
			}
			if got := Reason(err); got != tt.reason {
				t.Errorf("Reason = %q, want %q", got, tt.reason)
			}
			if p != nil {
				t.Errorf("principal %+v returned with an error", p)
			}
		})
	}
}

func TestVerifyAlgorithms(t *testing.T) {
	keys := []*testKey{rsaKey("rs"), ecKey("es"), edKey("ed")}
	e := newEnv(t, keys, nil)
	for _, k := range keys {
		t.Run(k.method.Alg(), func(t *testing.T) {
			p, err := e.v.Verify(context.Background(), sign(t, k, nil, e.claims()))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := &Principal{
				Issuer:    e.cfg.Issuer,
				ClientID:  "acme-billing",
				Scopes:    partner.Scopes{"orders:read", "orders:write"},
				ScopeList: "orders:read orders:write",
				JTI:       "tok-1",
				Subject:   "acme-billing",
				IssuedAt:  e.clock.Now(),
				ExpiresAt: e.clock.Now().Add(5 * time.Minute),
			}
			if diff := cmp.Diff(want, p); diff != "" {
				t.Errorf("principal (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIdPDownAfterStart(t *testing.T) {
	k1 := rsaKey("k1")
	e := newEnv(t, []*testKey{k1}, nil)
	if err := e.v.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	loaded := e.v.Status()[0].LastRefresh
	e.idp.down.Store(true)

	// A refresh now fails; the last good keys must stay.
	e.clock.Advance(time.Minute)
	if err := e.v.issuers[e.cfg.Issuer].keys.refresh(context.Background()); err == nil {
		t.Fatal("refresh against a down IdP succeeded")
	}
	if _, err := e.v.Verify(context.Background(), sign(t, k1, nil, e.claims())); err != nil {
		t.Fatalf("known kid during outage: %v", err)
	}
	_, err := e.v.Verify(context.Background(), sign(t, ecKey("k2"), nil, e.claims()))
	if !errors.Is(err, ErrUnknownKey) || Reason(err) != "unknown_kid" {
		t.Fatalf("unknown kid during outage: %v (reason %q), want unknown_kid", err, Reason(err))
	}
	st := e.v.Status()[0]
	if st.LastError == nil || !st.LastRefresh.Equal(loaded) || st.Keys != 1 {
		t.Errorf("status during outage = %+v; want the load time %v kept, 1 key, an error", st, loaded)
	}
}

func TestIdPDownAtStart(t *testing.T) {
	k1 := rsaKey("k1")
	p := newIdP(t, k1)
	p.down.Store(true)
	clk := newClock()
	cfg := IssuerConfig{Issuer: p.url(), JWKSURL: p.jwksURL(), Audiences: []string{testAudience}, UnknownKIDWait: testUnknownKIDWait}
	var logs logtest.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	v, err := New(context.Background(), []IssuerConfig{cfg}, Options{Now: clk.Now, Logger: log})
	if err != nil {
		t.Fatalf("New must not fail for an unreachable IdP: %v", err)
	}
	defer v.Close()
	if got := logs.String(); !strings.Contains(got, "level=ERROR") || !strings.Contains(got, "JWKS unreachable") ||
		!strings.Contains(got, "issuer="+p.url()) || !strings.Contains(got, "url="+p.jwksURL()) {
		t.Errorf("log lacks an error naming the issuer and its JWKS URL:\n%s", got)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = v.Ready(ctx)
	if !errors.Is(err, ErrKeysUnavailable) || !strings.Contains(err.Error(), p.url()) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Ready = %v; want ErrKeysUnavailable naming the issuer and the cause", err)
	}
	e := &env{idp: p, clock: clk, cfg: cfg, v: v}
	tok := sign(t, k1, nil, e.claims())
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrKeysUnavailable) || Reason(err) != "keys_unavailable" {
		t.Fatalf("Verify before keys = %v (reason %q), want keys_unavailable", err, Reason(err))
	}

	// The IdP comes back; the next unknown-kid refresh slot loads the keys.
	p.down.Store(false)
	clk.Advance(DefaultRefreshUnknownKIDRate)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("Verify after the IdP recovered: %v", err)
	}
	if err := v.Ready(context.Background()); err != nil {
		t.Fatalf("Ready after recovery: %v", err)
	}
}

func TestUnknownKIDRateLimitAndNegativeCache(t *testing.T) {
	k1 := rsaKey("k1")
	e := newEnv(t, []*testKey{k1}, nil)
	ctx := context.Background()
	base := e.idp.requests.Load()
	fetches := func() int64 { return e.idp.requests.Load() - base }
	verify := func(k *testKey) error {
		_, err := e.v.Verify(ctx, sign(t, k, nil, e.claims()))
		return err
	}

	// A bogus kid costs one refresh, then is remembered as absent.
	if err := verify(ecKey("bogus")); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("bogus kid: %v", err)
	}
	if fetches() != 1 {
		t.Fatalf("fetches = %d, want 1", fetches())
	}
	// Another unknown kid inside the rate window fails fast, no fetch.
	if err := verify(ecKey("other")); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("second kid: %v", err)
	}
	if fetches() != 1 {
		t.Fatalf("fetches = %d inside the rate window, want 1", fetches())
	}
	// After the window, the remembered bogus kid still costs nothing, so
	// the slot is left for a real rotation.
	e.clock.Advance(DefaultRefreshUnknownKIDRate)
	if err := verify(ecKey("bogus")); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("bogus kid again: %v", err)
	}
	if fetches() != 1 {
		t.Fatalf("fetches = %d for a remembered kid, want 1", fetches())
	}
	rotated := ecKey("k2")
	e.idp.publish(t, k1, rotated)
	if err := verify(rotated); err != nil {
		t.Fatalf("rotated kid: %v", err)
	}
	if fetches() != 2 {
		t.Fatalf("fetches = %d, want 2", fetches())
	}
	// The negative entry expires after ten windows.
	e.clock.Advance(negativeFactor * DefaultRefreshUnknownKIDRate)
	_ = verify(ecKey("bogus"))
	if fetches() != 3 {
		t.Fatalf("fetches = %d after the negative entry expired, want 3", fetches())
	}
}

func TestUnknownKIDWaitBoundedByContext(t *testing.T) {
	k1 := rsaKey("k1")
	e := newEnv(t, []*testKey{k1}, nil)
	release := make(chan struct{})
	e.idp.hold.Store(&release)
	defer close(release)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := e.v.Verify(ctx, sign(t, ecKey("k2"), nil, e.claims()))
	if !errors.Is(err, context.DeadlineExceeded) || Reason(err) != "deadline_exceeded" {
		t.Fatalf("Verify = %v (reason %q), want the request's deadline", err, Reason(err))
	}
	// Known keys never wait for a refresh in flight.
	if _, err := e.v.Verify(context.Background(), sign(t, k1, nil, e.claims())); err != nil {
		t.Fatalf("known kid while a refresh hangs: %v", err)
	}
}

// TestHungIdPCostsUnknownKIDNotTimeout holds every JWKS request open, as
// an IdP stopped with SIGSTOP does (it accepts connections and never
// answers): a token with an unknown kid is refused as unknown_kid once
// unknown_kid_wait has passed, well before the request's own deadline,
// and a token with a known kid is verified meanwhile.
func TestHungIdPCostsUnknownKIDNotTimeout(t *testing.T) {
	k1 := rsaKey("k1")
	e := newEnv(t, []*testKey{k1}, func(c *IssuerConfig, _ *Options) { c.UnknownKIDWait = 50 * time.Millisecond })
	if err := e.v.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	e.idp.hold.Store(&release)
	defer close(release)

	// The request's own budget is far longer than the wait: only the
	// bound can end these Verifies with unknown_kid.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	steps := []struct {
		name string
		key  *testKey
		want string // reason; empty means verified
	}{
		{"unknown-kid-starts-a-refresh", ecKey("k2"), "unknown_kid"},
		{"unknown-kid-joins-the-hung-refresh", ecKey("k3"), "unknown_kid"},
		{"known-kid-never-waits", k1, ""},
	}
	for i, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if i == 1 {
				// Past the rate window a new kid may start a refresh; the
				// hung one is still in flight, so it joins that.
				e.clock.Advance(DefaultRefreshUnknownKIDRate)
			}
			_, err := e.v.Verify(ctx, sign(t, st.key, nil, e.claims()))
			if ctx.Err() != nil {
				t.Fatalf("Verify ran into the request's deadline: %v", err)
			}
			if st.want == "" {
				if err != nil {
					t.Fatalf("Verify = %v; want verified while the IdP hangs", err)
				}
				return
			}
			if !errors.Is(err, ErrUnknownKey) || Reason(err) != st.want {
				t.Fatalf("Verify = %v (reason %q), want %s", err, Reason(err), st.want)
			}
		})
	}
}

func TestCache(t *testing.T) {
	k1 := rsaKey("k1")
	newCached := func(t *testing.T) (*env, *issuer) {
		e := newEnv(t, []*testKey{k1}, func(_ *IssuerConfig, o *Options) {
			o.CacheSize = 1000
			o.CacheTTL = time.Minute
		})
		return e, e.v.issuers[e.cfg.Issuer]
	}
	ctx := context.Background()

	t.Run("hit-skips-signature", func(t *testing.T) {
		e, is := newCached(t)
		tok := sign(t, k1, nil, e.claims())
		first, err := e.v.Verify(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			p, err := e.v.Verify(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(first, p); diff != "" {
				t.Fatalf("cached principal differs:\n%s", diff)
			}
			// Principals are read-only: a hit shares the cached one
			// instead of copying it on every request.
			if p != first {
				t.Fatal("cache hit copied its principal")
			}
		}
		if n := is.keyLookups.Load(); n != 1 {
			t.Errorf("signature checks = %d, want 1", n)
		}
	})
	t.Run("never-outlives-exp", func(t *testing.T) {
		e, is := newCached(t)
		tok := sign(t, k1, nil, edit(e.claims(), map[string]any{"exp": e.clock.Now().Add(20 * time.Second).Unix()}))
		if _, err := e.v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		// Past exp but within the leeway: the parser still accepts it, but
		// only after checking the signature again.
		e.clock.Advance(25 * time.Second)
		if _, err := e.v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if n := is.keyLookups.Load(); n != 2 {
			t.Errorf("signature checks = %d after exp, want 2 (no cache hit)", n)
		}
		e.clock.Advance(time.Minute)
		if _, err := e.v.Verify(ctx, tok); !errors.Is(err, ErrExpired) {
			t.Fatalf("after exp + leeway: %v, want ErrExpired", err)
		}
	})
	t.Run("never-outlives-ttl", func(t *testing.T) {
		e, is := newCached(t)
		tok := sign(t, k1, nil, e.claims())
		_, _ = e.v.Verify(ctx, tok)
		e.clock.Advance(time.Minute)
		if _, err := e.v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if n := is.keyLookups.Load(); n != 2 {
			t.Errorf("signature checks = %d after the TTL, want 2", n)
		}
	})
	t.Run("withdrawn-key-ends-entries", func(t *testing.T) {
		e, _ := newCached(t)
		tok := sign(t, k1, nil, e.claims())
		if _, err := e.v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		e.idp.publish(t, ecKey("k2")) // the IdP withdraws k1
		if err := e.v.issuers[e.cfg.Issuer].keys.refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := e.v.Verify(ctx, tok); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("token under a withdrawn key: %v, want ErrUnknownKey", err)
		}
	})
	t.Run("binding-checked-on-every-hit", func(t *testing.T) {
		e, _ := newCached(t)
		tp := thumb("a DER certificate stands here")
		tok := sign(t, k1, nil, edit(e.claims(), map[string]any{"cnf": map[string]string{"x5t#S256": tp}}))
		p, err := e.v.VerifyPeer(ctx, tok, Binding{CertThumbprint: tp})
		if err != nil {
			t.Fatal(err)
		}
		if p.CertThumbprint != tp {
			t.Errorf("CertThumbprint = %q, want %q", p.CertThumbprint, tp)
		}
		if _, err := e.v.Verify(ctx, tok); !errors.Is(err, ErrBinding) {
			t.Errorf("cached bound token without certificate: %v, want ErrBinding", err)
		}
		if _, err := e.v.VerifyPeer(ctx, tok, Binding{CertThumbprint: thumb("another certificate")}); !errors.Is(err, ErrBinding) {
			t.Errorf("cached bound token with another certificate: %v, want ErrBinding", err)
		}
	})
	t.Run("dpop-binding-checked-on-every-hit", func(t *testing.T) {
		e, is := newCached(t)
		keyA := thumb("dpop key A")
		tok := sign(t, k1, nil, edit(e.claims(), map[string]any{"cnf": map[string]string{"jkt": keyA}}))
		if _, err := e.v.VerifyPeer(ctx, tok, Binding{DPoP: true, DPoPKey: keyA}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.v.VerifyPeer(ctx, tok, Binding{DPoP: true, DPoPKey: thumb("dpop key B")}); !errors.Is(err, ErrBinding) {
			t.Errorf("cached DPoP-bound token with another key's proof: %v, want ErrBinding", err)
		}
		if _, err := e.v.Verify(ctx, tok); !errors.Is(err, ErrBinding) {
			t.Errorf("cached DPoP-bound token as a bearer token: %v, want ErrBinding", err)
		}
		if n := is.keyLookups.Load(); n != 1 {
			t.Errorf("%d signature verifications, want 1: the refusals must come from the cache", n)
		}
	})
	t.Run("keyed-on-certificate", func(t *testing.T) {
		// An unbound token verified with one certificate is cached apart
		// from the same token with another certificate or none.
		e, is := newCached(t)
		tok := sign(t, k1, nil, e.claims())
		for _, b := range []Binding{{CertThumbprint: thumb("a")}, {CertThumbprint: thumb("b")}, {}} {
			if _, err := e.v.VerifyPeer(ctx, tok, b); err != nil {
				t.Fatal(err)
			}
		}
		if n := is.keyLookups.Load(); n != 3 {
			t.Errorf("%d signature verifications for one token under three certificates, want 3", n)
		}
		if _, err := e.v.VerifyPeer(ctx, tok, Binding{CertThumbprint: thumb("a")}); err != nil {
			t.Fatal(err)
		}
		if n := is.keyLookups.Load(); n != 3 {
			t.Errorf("the same token and certificate again verified the signature again (%d)", n)
		}
	})
}

// thumb is the RFC 8705 thumbprint of der.
func thumb(der string) string {
	sum := sha256.Sum256([]byte(der))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// TestBinding: one row per sender-constraint rule (RFC 8705 §3, RFC 9449
// §7.1), with and without the cache, each asserting the reason code.
func TestBinding(t *testing.T) {
	k1 := ecKey("k1")
	certA, certB := thumb("certificate A"), thumb("certificate B")
	keyA, keyB := thumb("dpop key A"), thumb("dpop key B")
	x5t := map[string]any{"cnf": map[string]string{"x5t#S256": certA}}
	jkt := map[string]any{"cnf": map[string]string{"jkt": keyA}}
	tests := []struct {
		name   string
		cfg    func(*IssuerConfig)
		claims map[string]any
		b      Binding
		reason string // "" allows
	}{
		{name: "unbound-bearer", b: Binding{}},
		{name: "unbound-bearer-with-certificate", b: Binding{CertThumbprint: certA}},
		{name: "cert-bound-right-certificate", claims: x5t, b: Binding{CertThumbprint: certA}},
		{name: "cert-bound-wrong-certificate", claims: x5t, b: Binding{CertThumbprint: certB}, reason: "binding_mismatch"},
		{name: "cert-bound-no-certificate", claims: x5t, b: Binding{}, reason: "binding_mismatch"},
		{name: "cert-bound-thumbprint-not-a-digest", claims: map[string]any{"cnf": map[string]string{"x5t#S256": "abc"}}, b: Binding{CertThumbprint: "abc"}, reason: "binding_mismatch"},
		{name: "cnf-unknown-method", claims: map[string]any{"cnf": map[string]any{"jwk": map[string]string{"kty": "EC"}}}, reason: "binding_mismatch"},
		{name: "cnf-empty", claims: map[string]any{"cnf": map[string]string{}}, reason: "binding_mismatch"},
		{name: "require-certificate-bound-unbound", cfg: func(c *IssuerConfig) { c.RequireCertificateBound = true }, b: Binding{CertThumbprint: certA}, reason: "unbound_token"},
		{name: "require-certificate-bound-bound", cfg: func(c *IssuerConfig) { c.RequireCertificateBound = true }, claims: x5t, b: Binding{CertThumbprint: certA}},
		{name: "dpop-bound-right-key", claims: jkt, b: Binding{DPoP: true, DPoPKey: keyA}},
		{name: "dpop-bound-wrong-key", claims: jkt, b: Binding{DPoP: true, DPoPKey: keyB}, reason: "binding_mismatch"},
		{name: "dpop-bound-no-proof-key", claims: jkt, b: Binding{DPoP: true}, reason: "binding_mismatch"},
		{name: "dpop-bound-as-bearer", claims: jkt, b: Binding{}, reason: "binding_mismatch"},
		{name: "dpop-proof-unbound-token", b: Binding{DPoP: true, DPoPKey: keyA}, reason: "binding_mismatch"},
		{name: "require-dpop-bearer", cfg: func(c *IssuerConfig) { c.RequireDPoP = true }, b: Binding{}, reason: "unbound_token"},
		{name: "require-dpop-unbound-with-proof", cfg: func(c *IssuerConfig) { c.RequireDPoP = true }, b: Binding{DPoP: true, DPoPKey: keyA}, reason: "unbound_token"},
		{name: "require-dpop-bound", cfg: func(c *IssuerConfig) { c.RequireDPoP = true }, claims: jkt, b: Binding{DPoP: true, DPoPKey: keyA}},
	}
	for _, cached := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/cached=%v", tt.name, cached), func(t *testing.T) {
				e := newEnv(t, []*testKey{k1}, func(c *IssuerConfig, o *Options) {
					if tt.cfg != nil {
						tt.cfg(c)
					}
					if cached {
						o.CacheSize = 100
					}
				})
				tok := sign(t, k1, nil, edit(e.claims(), tt.claims))
				// Twice: the second answer may come from the cache.
				for range 2 {
					_, err := e.v.VerifyPeer(context.Background(), tok, tt.b)
					if got := Reason(err); got != tt.reason {
						t.Fatalf("VerifyPeer: reason %q (%v), want %q", got, err, tt.reason)
					}
				}
			})
		}
	}
}

func TestRequireBothRefused(t *testing.T) {
	c := IssuerConfig{Issuer: "https://idp.example", JWKSURL: "https://idp.example/jwks", Audiences: []string{"a"}, RequireCertificateBound: true, RequireDPoP: true}
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "require_dpop") {
		t.Errorf("Validate = %v, want an error naming require_dpop", err)
	}
}

func TestDiscovery(t *testing.T) {
	k1 := rsaKey("k1")
	t.Run("finds-jwks", func(t *testing.T) {
		p := newIdP(t, k1)
		p.discover(t, p.url())
		clk := newClock()
		cfg := IssuerConfig{Issuer: p.url(), Discovery: true, Audiences: []string{testAudience}, UnknownKIDWait: testUnknownKIDWait}
		v, err := New(context.Background(), []IssuerConfig{cfg}, Options{Now: clk.Now, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		if err := v.Ready(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := v.Status()[0].JWKSURL; got != p.jwksURL() {
			t.Errorf("JWKSURL = %q, want %q", got, p.jwksURL())
		}
		e := &env{idp: p, clock: clk, cfg: cfg, v: v}
		if _, err := v.Verify(context.Background(), sign(t, k1, nil, e.claims())); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("refuses-document-of-another-issuer", func(t *testing.T) {
		p := newIdP(t, k1)
		p.discover(t, "https://idp.evil.example")
		cfg := IssuerConfig{Issuer: p.url(), Discovery: true, Audiences: []string{testAudience}, UnknownKIDWait: testUnknownKIDWait}
		v, err := New(context.Background(), []IssuerConfig{cfg}, Options{Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := v.Ready(ctx); !errors.Is(err, ErrKeysUnavailable) || !strings.Contains(err.Error(), "does not match") {
			t.Fatalf("Ready = %v, want the issuer mismatch", err)
		}
	})
}

func TestSharedSecret(t *testing.T) {
	dir := t.TempDir()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	enc := base64.RawURLEncoding.EncodeToString(secret) // 43 bytes
	path := filepath.Join(dir, "secret")
	if err := os.WriteFile(path, []byte(enc+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	cfg := IssuerConfig{Issuer: "https://hs.example", SharedSecretFile: path, Audiences: []string{testAudience}}
	v, err := New(context.Background(), []IssuerConfig{cfg}, Options{Now: clk.Now, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := &env{clock: clk, cfg: cfg, v: v}
	hs := func(key []byte) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, e.claims())
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if _, err := v.Verify(context.Background(), hs([]byte(enc))); err != nil {
		t.Errorf("HS256 with the secret: %v", err)
	}
	if _, err := v.Verify(context.Background(), hs([]byte(enc+"x"))); !errors.Is(err, ErrSignature) {
		t.Errorf("HS256 with another secret: %v, want ErrSignature", err)
	}
	if _, err := v.Verify(context.Background(), sign(t, rsaKey("k1"), nil, e.claims())); !errors.Is(err, ErrAlgorithm) {
		t.Errorf("RS256 at a shared-secret issuer: %v, want ErrAlgorithm", err)
	}

	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("too-short"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.SharedSecretFile = short
	if _, err := New(context.Background(), []IssuerConfig{cfg}, Options{Logger: quietLogger()}); err == nil || !strings.Contains(err.Error(), "shared_secret_file") {
		t.Errorf("New with a 9-byte secret = %v, want a shared_secret_file error", err)
	}
}

func TestDroppedScopes(t *testing.T) {
	e := newEnv(t, []*testKey{rsaKey("k1")}, func(c *IssuerConfig, _ *Options) { c.ScopeClaim = "scp" })
	tok := sign(t, rsaKey("k1"), nil, edit(e.claims(), map[string]any{
		"scp": []string{"orders.read", "bad scope", "*", "orders.read", "offline_access"},
	}))
	p, err := e.v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(partner.Scopes{"offline_access", "orders.read"}, p.Scopes); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := IssuerConfig{Issuer: "https://idp.example", JWKSURL: "https://idp.example/jwks", Audiences: []string{"api"}}
	tests := []struct {
		name string
		cfgs Issuers
		// want lists a substring of each expected problem; nil means valid.
		want []string
	}{
		{name: "valid", cfgs: Issuers{ok}},
		{name: "valid-loopback-http", cfgs: Issuers{{Issuer: "x", JWKSURL: "http://127.0.0.1:8080/jwks", Audiences: []string{"a"}}}},
		{name: "unknown-kid-wait-negative", cfgs: Issuers{{Issuer: "x", JWKSURL: "https://idp.example/jwks", Audiences: []string{"a"}, UnknownKIDWait: -time.Millisecond}},
			want: []string{"issuers[0].unknown_kid_wait: must be between 0"}},
		{name: "unknown-kid-wait-too-long", cfgs: Issuers{{Issuer: "x", JWKSURL: "https://idp.example/jwks", Audiences: []string{"a"}, UnknownKIDWait: time.Minute}},
			want: []string{"issuers[0].unknown_kid_wait: must be between 0"}},
		{
			name: "everything-wrong-at-once",
			cfgs: Issuers{{
				JWKSURL: "http://idp.example/jwks", Algorithms: []string{"none", "HS256", "XS1"},
				Leeway: time.Hour, ClientClaim: "email", ScopeClaim: "groups", MaxTokenBytes: 1 << 20,
				RefreshInterval: time.Second, RefreshUnknownKIDRate: time.Millisecond, RequireType: "at jwt",
			}},
			want: []string{
				"issuers[0].issuer: required",
				"issuers[0].jwks_url: \"http://idp.example/jwks\" must be https",
				"issuers[0].audiences: at least one",
				`issuers[0].algorithms: "none" is never allowed`,
				"issuers[0].algorithms: HS256 needs shared_secret_file",
				`issuers[0].algorithms: unknown algorithm "XS1"`,
				"issuers[0].leeway",
				"issuers[0].client_claim",
				"issuers[0].scope_claim",
				"issuers[0].require_type",
				"issuers[0].max_token_bytes",
				"issuers[0].refresh_interval",
				"issuers[0].refresh_unknown_kid_rate",
			},
		},
		{
			name: "no-key-source",
			cfgs: Issuers{{Issuer: "https://idp.example", Audiences: []string{"api"}}},
			want: []string{"issuers[0].jwks_url: set exactly one"},
		},
		{
			name: "two-key-sources",
			cfgs: Issuers{{Issuer: "https://idp.example", JWKSURL: "https://idp.example/jwks", Discovery: true, Audiences: []string{"api"}}},
			want: []string{"issuers[0].jwks_url: set exactly one"},
		},
		{
			name: "asymmetric-alg-with-shared-secret",
			cfgs: Issuers{{Issuer: "i", SharedSecretFile: "/s", Algorithms: []string{"HS256", "RS256"}, Audiences: []string{"api"}}},
			want: []string{"issuers[0].algorithms: RS256 cannot be used with shared_secret_file"},
		},
		{
			name: "discovery-needs-https-issuer",
			cfgs: Issuers{{Issuer: "http://idp.example", Discovery: true, Audiences: []string{"api"}}},
			want: []string{"issuers[0].discovery"},
		},
		{
			name: "credentials-in-url",
			cfgs: Issuers{{Issuer: "i", JWKSURL: "https://user:pw@idp.example/jwks", Audiences: []string{"api"}}},
			want: []string{"issuers[0].jwks_url: must not carry credentials"},
		},
		{
			name: "duplicate-issuer",
			cfgs: Issuers{ok, ok},
			want: []string{"issuers[1].issuer: \"https://idp.example\" is already issuers[0]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfgs.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted an invalid config")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			var fe *partner.FieldError
			if !errors.As(err, &fe) {
				t.Errorf("no *partner.FieldError in %v", err)
			}
		})
	}
}

func TestReason(t *testing.T) {
	seen := map[string]error{}
	for _, r := range reasons {
		if prev, dup := seen[r.code]; dup {
			t.Errorf("reason %q used by %v and %v", r.code, prev, r.err)
		}
		seen[r.code] = r.err
		if got := Reason(errors.Join(errors.New("context"), r.err)); got != r.code {
			t.Errorf("Reason(wrapped %v) = %q, want %q", r.err, got, r.code)
		}
	}
	for _, tt := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("boom"), "internal"},
		{context.Canceled, "canceled"},
		{context.DeadlineExceeded, "deadline_exceeded"},
	} {
		if got := Reason(tt.err); got != tt.want {
			t.Errorf("Reason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestLooksLikeJWT(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"signed", "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln", true},
		{"unsigned", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.", true},
		{"api-key", "pg_live_3kTMd8Qw0aZx_Vb1c2d3e4f5", false},
		{"two-segments", "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0", false},
		{"four-segments", "eyJh.eyJp.c2ln.eA", false},
		{"empty-payload", "eyJhbGciOiJSUzI1NiJ9..c2ln", false},
		{"padding", "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0=.c2ln", false},
		{"standard-base64", "eyJhbGci+iJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln", false},
		{"not-json-object", "YWJj.eyJpc3MiOiJ4In0.c2ln", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LooksLikeJWT(tt.in); got != tt.want {
				t.Errorf("LooksLikeJWT(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
	tok := "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0." + strings.Repeat("c2ln", 64)
	if n := testing.AllocsPerRun(100, func() { LooksLikeJWT(tok) }); n != 0 {
		t.Errorf("LooksLikeJWT allocates %v times", n)
	}
}
