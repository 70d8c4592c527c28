package authz

// Test strategy: the decision order is driven through Decide with
// transport-neutral Requests against a hand-written in-memory Index, the
// way every transport calls it. One table row per deny reason asserts the
// precise internal reason (from the Decision and from the Auditor, which
// must see each decision once), what every transport answers with
// (status, public code, body, challenge), that every presented-but-bad
// credential is answered alike, and whether the index was asked at all.
// The token path runs against a fake TokenVerifier, so that each step
// after verification (registry, partner, revocation, cutoff, scopes) is
// one row; the real verifier is exercised in internal/extauthz's tests.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/jwtverify"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/policy"
)

func TestDecideAllow(t *testing.T) {
	f := newFixture(t, nil, nil)
	key := f.keys["acme"]
	d, err := f.dec.Decide(context.Background(), request("GET", "/v1/orders?limit=10", bearerOf(key), nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Decision{
		Reason: ReasonAllowed, RequestID: "req-123", PartnerID: "acme", Tier: "gold", CredentialID: key.ID(),
		CredentialHeader: "authorization", CredentialVersion: 7, Scopes: "orders:read orders:write", Required: "orders:read",
		Method: "GET", Path: "/v1/orders?limit=10", ClientAddr: "203.0.113.7", apiKey: true,
	}
	if d != want {
		t.Errorf("Decide =\n %+v\nwant\n %+v", d, want)
	}
	if got, n := f.audit.get(); n != 1 || got != d {
		t.Errorf("audited %d decisions, the last %+v; want this one once", n, got)
	}
	wantIdentity := [IdentityHeaders]Header{
		{"x-partner-id", "acme"}, {"x-partner-scopes", "orders:read orders:write"},
		{"x-partner-credential", key.ID()}, {"x-partner-tier", "gold"},
	}
	if got := d.Identity(); got != wantIdentity {
		t.Errorf("Identity = %v, want %v", got, wantIdentity)
	}
	if d.Reason.Status() != 200 {
		t.Errorf("status %d", d.Reason.Status())
	}
}

func TestDecideDenials(t *testing.T) {
	pol, err := policy.Parse([]byte(`
routes:
  - methods: [GET]
    path: /v1/reports/**
    scopes: [reports:read]
  - path: /v1/ping
    any_partner: true
`))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, pol, nil)
	acme := f.keys["acme"]
	tampered := []byte(acme.Reveal())
	tampered[len("pg_test_")+apikey.IDLen+5] ^= 1 // flips a secret char; checksum now wrong
	wrongSecret := secretSwapped(t, f, acme)
	none := route("")

	tests := []struct {
		name        string
		req         Request
		reason      Reason
		wantLookups int64 // -1: don't care
	}{
		{"missing-credential", request("GET", "/v1/orders", nil, nil), ReasonMissingCredential, 0},
		{"both-headers", request("GET", "/v1/orders", map[string]string{"authorization": "Bearer " + acme.Reveal(), "x-api-key": acme.Reveal()}, nil), ReasonMalformedCredential, 0},
		{"repeated-authorization", request("GET", "/v1/orders", map[string]string{"authorization": "Bearer " + acme.Reveal() + ",Bearer " + acme.Reveal()}, nil), ReasonMalformedCredential, 0},
		{"basic-scheme", request("GET", "/v1/orders", map[string]string{"authorization": "Basic " + acme.Reveal()}, nil), ReasonMalformedCredential, 0},
		{"garbage", request("GET", "/v1/orders", map[string]string{"x-api-key": "hunter2"}, nil), ReasonMalformedCredential, 0},
		{"opaque-token", request("GET", "/v1/orders", map[string]string{"authorization": "Bearer ory_at_Zm9vYmFy.c2ln"}, nil), ReasonOpaqueToken, 0},
		{"wrong-checksum-no-lookup", request("GET", "/v1/orders", map[string]string{"x-api-key": string(tampered)}, nil), ReasonMalformedCredential, 0},
		{"unknown-key", request("GET", "/v1/orders", bearerOf(mustGenerate(t, f.format)), nil), ReasonUnknownCredential, 1},
		{"wrong-secret", request("GET", "/v1/orders", map[string]string{"x-api-key": wrongSecret}, nil), ReasonWrongSecret, 1},
		{"revoked", request("GET", "/v1/orders", bearerOf(f.keys["revoked"]), nil), ReasonRevokedCredential, 1},
		{"expired", request("GET", "/v1/orders", bearerOf(f.keys["expired"]), nil), ReasonExpiredCredential, 1},
		{"partner-gone", request("GET", "/v1/orders", bearerOf(f.keys["orphan"]), nil), ReasonUnknownPartner, 1},
		{"partner-suspended", request("GET", "/v1/orders", bearerOf(f.keys["suspended"]), nil), ReasonPartnerSuspended, 1},
		{"insufficient-scope", request("POST", "/v1/orders", bearerOf(f.keys["acme-read"]), route("orders:write")), ReasonInsufficientScope, 1},
		{"all-scopes-required", request("POST", "/v1/orders", bearerOf(acme), route("orders:read orders:write orders:admin")), ReasonInsufficientScope, 1},
		{"scope-not-granted-to-partner", request("GET", "/v1/orders", bearerOf(f.keys["globex"]), route("orders:write")), ReasonInsufficientScope, 1},
		{"tenant-header-other-partner", request("GET", "/v1/orders", merge(bearerOf(acme), map[string]string{"x-partner-id": "globex"}), nil), ReasonTenantMismatch, 1},
		{"tenant-query-other-partner", request("GET", "/v1/orders?partnerId=globex", bearerOf(acme), nil), ReasonTenantMismatch, 1},
		{"tenant-query-snake-case", request("GET", "/v1/orders?limit=5&partner_id=globex", bearerOf(acme), nil), ReasonTenantMismatch, 1},
		{"tenant-query-second-value", request("GET", "/v1/orders?partner_id=acme&partner_id=globex", bearerOf(acme), nil), ReasonTenantMismatch, 1},
		{"tenant-matrix-parameter", request("GET", "/v1/orders;partnerId=globex", bearerOf(acme), nil), ReasonTenantMismatch, 1},
		{"route-without-scopes-denied", request("GET", "/v1/unknown", bearerOf(acme), none), ReasonRouteNotAllowed, 1},
		{"policy-scope-missing", request("GET", "/v1/reports/2026", bearerOf(acme), none), ReasonInsufficientScope, 1},
		{"policy-non-canonical-path", request("GET", "/v1/reports%2f2026", bearerOf(acme), none), ReasonRouteNotAllowed, 1},
		{"broken-route-config", request("GET", "/v1/orders", bearerOf(acme), route(`orders:read"`)), ReasonRouteNotAllowed, 1},
		{"bad-path-before-credential", request("GET", "/v1/orders/%c0%ae%c0%ae/admin", bearerOf(acme), nil), ReasonBadRequest, 0},
	}
	var first401 string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.index.lookups.Load()
			_, n0 := f.audit.get()
			d, err := f.dec.Decide(context.Background(), tt.req)
			if err != nil {
				t.Fatalf("Decide returned a fault, want a denial: %v", err)
			}
			if d.Allowed() || d.Reason != tt.reason {
				t.Fatalf("reason = %s, want %s", d.Reason, tt.reason)
			}
			if got, n := f.audit.get(); n != n0+1 || got != d {
				t.Errorf("audited %d decisions (last %s); want this one once", n-n0, got.Reason)
			}
			if tt.wantLookups >= 0 {
				if got := f.index.lookups.Load() - before; got != tt.wantLookups {
					t.Errorf("index look-ups = %d, want %d", got, tt.wantLookups)
				}
			}
			var body struct{ Error, RequestID string }
			if err := json.Unmarshal([]byte(d.Body()), &body); err != nil {
				t.Fatalf("body %q is not JSON: %v", d.Body(), err)
			}
			if body.Error != tt.reason.Public() || !strings.Contains(d.Body(), `"request_id":"req-123"`) {
				t.Errorf("body = %s, want error %q and the request id", d.Body(), tt.reason.Public())
			}
			challenge := Challenge(f.dec.Realm(), &d)
			switch status := tt.reason.Status(); status {
			case 401:
				if !strings.HasPrefix(challenge, `Bearer realm="partnergate"`) {
					t.Errorf("401 challenge %q", challenge)
				}
				// Every presented-but-bad credential looks the same.
				if tt.reason != ReasonMissingCredential {
					answer := fmt.Sprint(status, challenge, d.Body())
					if first401 == "" {
						first401 = answer
					} else if answer != first401 {
						t.Errorf("401 answers differ by reason, leaking why:\n %s\n %s", first401, answer)
					}
				}
			case 403:
				if want := d.Reason.Public() == PublicInsufficientScope; want != strings.Contains(challenge, `error="insufficient_scope", scope="`+d.Required+`"`) {
					t.Errorf("403 challenge %q for %s", challenge, d.Reason)
				}
			case 400:
				if challenge != "" {
					t.Errorf("400 challenge %q", challenge)
				}
			default:
				t.Errorf("status %d for a denial", status)
			}
			if strings.Contains(challenge+d.Body(), "pg_test_") {
				t.Error("the answer echoes a credential")
			}
		})
	}
}

func TestDecidePolicyAllows(t *testing.T) {
	pol, err := policy.Parse([]byte(`
routes:
  - methods: [GET]
    path: /v1/orders/**
    scopes: [orders:read]
  - path: /v1/ping
    any_partner: true
`))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, pol, nil)
	tests := []struct {
		name, method, path string
		key                string
		required           string
	}{
		{"rule-with-scope", "GET", "/v1/orders/42", "acme-read", "orders:read"},
		{"double-slash-and-case", "GET", "//V1/Orders//42/", "acme-read", "orders:read"},
		{"any-partner-rule", "POST", "/v1/ping", "globex", ""},
		{"expiry-in-future", "GET", "/v1/orders", "valid-until-later", "orders:read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := f.dec.Decide(context.Background(), request(tt.method, tt.path, bearerOf(f.keys[tt.key]), route("")))
			if err != nil {
				t.Fatal(err)
			}
			if !d.Allowed() || d.Required != tt.required {
				t.Fatalf("decision %s requiring %q, want allowed requiring %q", d.Reason, d.Required, tt.required)
			}
		})
	}
	open := newFixture(t, policy.Empty(policy.Authenticated), nil)
	if d, err := open.dec.Decide(context.Background(), request("GET", "/anything", bearerOf(open.keys["globex"]), route(""))); err != nil || !d.Allowed() {
		t.Fatalf("default authenticated: %s, %v; want allowed", d.Reason, err)
	}
}

// A partner's narrowed grants narrow every key at once.
func TestDecideEffectiveScopes(t *testing.T) {
	f := newFixture(t, nil, nil)
	f.index.partners["acme"] = &partner.Partner{ID: "acme", Tier: "free", Scopes: partner.Scopes{"orders:read"}, State: partner.Active,
		Limits: partner.Limits{PerSecond: 5}}
	d, err := f.dec.Decide(context.Background(), request("GET", "/v1/orders", bearerOf(f.keys["acme"]), nil))
	if err != nil || !d.Allowed() {
		t.Fatalf("Decide = %s, %v", d.Reason, err)
	}
	if d.Scopes != "orders:read" || d.Tier != "free" || d.Limits.PerSecond != 5 {
		t.Errorf("decision %+v, want the narrowed scopes, the new tier and the partner's limits", d)
	}
	if _, err := f.dec.Decide(context.Background(), request("POST", "/v1/orders", bearerOf(f.keys["acme"]), route("orders:write"))); err != nil {
		t.Fatal(err)
	}
	if d, _ := f.audit.get(); d.Reason != ReasonInsufficientScope {
		t.Errorf("a scope the partner lost: %s, want insufficient_scope", d.Reason)
	}
}

func TestDecideFaultsFailClosed(t *testing.T) {
	t.Run("stale", func(t *testing.T) {
		f := newFixture(t, nil, nil)
		f.index.ready.Store(false)
		f.index.stale.Store(true)
		if _, err := f.dec.Decide(context.Background(), request("GET", "/v1/orders", bearerOf(f.keys["acme"]), nil)); !errors.Is(err, ErrStale) {
			t.Errorf("stale index: %v, want ErrStale", err)
		}
		if _, n := f.audit.get(); n != 0 {
			t.Errorf("a fault was audited as a decision %d times", n)
		}
	})
	t.Run("pepper-missing", func(t *testing.T) {
		f := newFixture(t, nil, nil)
		other, err := apikey.NewHasher(2, map[int][]byte{2: []byte(strings.Repeat("q", 32))})
		if err != nil {
			t.Fatal(err)
		}
		dec, err := New(Options{Index: f.index, Keys: f.format, Hasher: other, Now: func() time.Time { return testNow }})
		if err != nil {
			t.Fatal(err)
		}
		d, err := dec.Decide(context.Background(), request("GET", "/v1/orders", bearerOf(f.keys["acme"]), nil))
		if !errors.Is(err, ErrInternal) || d.Allowed() || strings.Contains(err.Error(), f.keys["acme"].Reveal()) {
			t.Errorf("pepper missing: %s, %v; want ErrInternal without the key", d.Reason, err)
		}
	})
}

func TestNewRequiresDependencies(t *testing.T) {
	_, err := New(Options{})
	for _, want := range []string{"Index", "Keys", "Hasher"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(Options{}) = %v; want it to name %s", err, want)
		}
	}
}

// fakeTokens is a TokenVerifier that answers each token from a table.
type fakeTokens map[string]struct {
	p   *jwtverify.Principal
	err error
}

func (f fakeTokens) VerifyPeer(ctx context.Context, token string, _ jwtverify.Binding) (*jwtverify.Principal, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	a, ok := f[token]
	if !ok {
		return nil, jwtverify.ErrSignature
	}
	return a.p, a.err
}

// A JWT-looking bearer: three base64url segments.
func jwtish(name string) string { return "eyJhbGciOiJSUzI1NiJ9.eyJ" + name + "In0.c2ln" }

func TestDecideToken(t *testing.T) {
	const iss = "https://idp.example/realms/partners"
	good := func(edit func(*jwtverify.Principal)) *jwtverify.Principal {
		p := &jwtverify.Principal{Issuer: iss, ClientID: "acme-client", Scopes: partner.Scopes{"orders:read", "orders:write"},
			ScopeList: "orders:read orders:write", JTI: "jti-1", IssuedAt: testNow.Add(-time.Minute)}
		if edit != nil {
			edit(p)
		}
		return p
	}
	tokens := fakeTokens{
		jwtish("good"):      {p: good(nil)},
		jwtish("unreg"):     {p: good(func(p *jwtverify.Principal) { p.ClientID = "nobody" })},
		jwtish("suspended"): {p: good(func(p *jwtverify.Principal) { p.ClientID = "umbra-client" })},
		jwtish("revoked"):   {p: good(func(p *jwtverify.Principal) { p.JTI = "jti-revoked" })},
		jwtish("old"):       {p: good(func(p *jwtverify.Principal) { p.IssuedAt = testNow.Add(-2 * time.Hour) })},
		jwtish("wide"): {p: good(func(p *jwtverify.Principal) {
			p.Scopes = partner.Scopes{"orders:read", "admin"}
			p.ScopeList = "orders:read admin"
		})},
		jwtish("noscope"):    {p: good(func(p *jwtverify.Principal) { p.Scopes, p.ScopeList, p.ScopeClaimMissing = nil, "", true })},
		jwtish("expired"):    {err: fmt.Errorf("verify: %w", jwtverify.ErrExpired)},
		jwtish("nokeys"):     {err: fmt.Errorf("verify: %w", jwtverify.ErrKeysUnavailable)},
		jwtish("unexpected"): {err: errors.New("something else")},
	}
	f := newFixture(t, nil, tokens)
	f.index.clients[[2]string{iss, "acme-client"}] = "acme"
	f.index.clients[[2]string{iss, "umbra-client"}] = "umbra"
	f.index.revoked[[2]string{iss, "jti-revoked"}] = true
	f.index.partners["acme"].TokensNotBefore = testNow.Add(-time.Hour)

	tests := []struct {
		name   string
		token  string
		scopes *string
		reason Reason
		detail string
		fault  error
		eff    string
	}{
		{"allowed", jwtish("good"), nil, ReasonAllowed, "", nil, "orders:read orders:write"},
		{"unregistered-client", jwtish("unreg"), nil, ReasonUnregisteredClient, "", nil, ""},
		{"partner-suspended", jwtish("suspended"), nil, ReasonPartnerSuspended, "", nil, ""},
		{"revoked-jti", jwtish("revoked"), nil, ReasonRevokedToken, "", nil, ""},
		{"before-cutoff", jwtish("old"), nil, ReasonTokenBeforeCutoff, "", nil, ""},
		{"scopes-cut-to-grants", jwtish("wide"), nil, ReasonAllowed, "", nil, "orders:read"},
		{"grant-not-held", jwtish("wide"), route("admin"), ReasonInsufficientScope, "", nil, "orders:read"},
		{"scope-claim-missing", jwtish("noscope"), nil, ReasonScopeClaimMissing, "", nil, ""},
		{"refused-by-verifier", jwtish("expired"), nil, ReasonInvalidToken, "expired", nil, ""},
		{"unknown-signature", jwtish("forged"), nil, ReasonInvalidToken, "bad_signature", nil, ""},
		{"issuer-keys-unavailable", jwtish("nokeys"), nil, "", "", ErrKeysUnavailable, ""},
		{"verifier-internal-error", jwtish("unexpected"), nil, "", "", ErrInternal, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := f.dec.Decide(context.Background(), request("GET", "/v1/orders", map[string]string{"authorization": "Bearer " + tc.token}, tc.scopes))
			if tc.fault != nil {
				if !errors.Is(err, tc.fault) || d.Allowed() {
					t.Fatalf("Decide = %s, %v; want fault %v", d.Reason, err, tc.fault)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Reason != tc.reason || d.Detail != tc.detail {
				t.Fatalf("reason = %s (%q), want %s (%q)", d.Reason, d.Detail, tc.reason, tc.detail)
			}
			if tc.eff != "" && d.Scopes != tc.eff {
				t.Errorf("effective scopes %q, want %q", d.Scopes, tc.eff)
			}
			if d.Allowed() && (d.CredentialID != "acme-client" || d.APIKey() || d.CredentialVersion != 0 || d.CredentialHeader != "authorization") {
				t.Errorf("allowed token decision %+v", d)
			}
		})
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.dec.Decide(ctx, request("GET", "/v1/orders", map[string]string{"authorization": "Bearer " + jwtish("good")}, nil)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
}

// secretSwapped returns a well-formed key with k's id but another secret.
func secretSwapped(t testing.TB, f *fixture, k apikey.Key) string {
	other := mustGenerate(t, f.format).Reveal()
	prefix := len("pg_test_")
	body := k.Reveal()[:prefix+apikey.IDLen] + other[prefix+apikey.IDLen:len(other)-apikey.ChecksumLen]
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	sum := crc32.ChecksumIEEE([]byte(body))
	var out [apikey.ChecksumLen]byte
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = alphabet[sum%62]
		sum /= 62
	}
	if _, err := f.format.Parse(body + string(out[:])); err != nil {
		t.Fatalf("swapped key does not parse: %v", err)
	}
	return body + string(out[:])
}
