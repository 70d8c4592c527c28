// Test strategy: the handler is driven through net/http/httptest with a
// decider that answers a fixed Decision (or fault) and records what it
// was asked, so every mapping is pinned on its own: each denial's status,
// challenge and body in both modes; allow headers in both modes, with
// Envoy's removal list; faults as 5xx and never a body with their cause;
// the routes and methods; and what reaches the decision from a trusted
// proxy and from anyone else. internal/app's tests compare the answers
// with the gRPC server's for the same requests, through the real decider.
package forwardauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/partnergate/partnergate/authz"
)

// fixed is a decider that answers d (or err) and records the requests.
type fixed struct {
	d    authz.Decision
	err  error
	seen []authz.Request
}

func (f *fixed) Decide(_ context.Context, r authz.Request) (authz.Decision, error) {
	f.seen = append(f.seen, r)
	return f.d, f.err
}

func (f *fixed) Realm() string { return "pg" }

func newHandler(t *testing.T, dec Decider, trusted ...string) *Handler {
	t.Helper()
	tr, err := ParseTrusted("k", trusted)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{Decider: dec, Trusted: tr})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// serve sends a request from 192.0.2.1 (httptest's RemoteAddr).
func serve(h http.Handler, method, target string, header http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

var forwarded = http.Header{"X-Original-Uri": {"/v1/orders"}, "X-Original-Method": {"GET"}}

func TestDenials(t *testing.T) {
	tests := []struct {
		name      string
		d         authz.Decision
		target    string // "/authorize" or an Envoy path
		status    int
		challenge string
		body      string
	}{
		{"missing", authz.Decision{Reason: authz.ReasonMissingCredential, RequestID: "r1"}, "/authorize",
			401, `Bearer realm="pg"`, `{"error":"invalid_credentials","request_id":"r1"}`},
		{"malformed", authz.Decision{Reason: authz.ReasonMalformedCredential}, "/authorize",
			401, `Bearer realm="pg", error="invalid_token"`, `{"error":"invalid_credentials"}`},
		{"revoked-envoy", authz.Decision{Reason: authz.ReasonRevokedCredential, RequestID: "r2"}, "/envoy/v1/orders",
			401, `Bearer realm="pg", error="invalid_token"`, `{"error":"invalid_credentials","request_id":"r2"}`},
		{"insufficient-scope", authz.Decision{Reason: authz.ReasonInsufficientScope, Required: "reports:read audit:read"}, "/authorize",
			403, `Bearer realm="pg", error="insufficient_scope", scope="reports:read audit:read"`, `{"error":"insufficient_scope"}`},
		{"scope-claim-missing", authz.Decision{Reason: authz.ReasonScopeClaimMissing, Required: "a"}, "/envoy/a",
			403, `Bearer realm="pg", error="insufficient_scope", scope="a"`, `{"error":"insufficient_scope"}`},
		{"tenant", authz.Decision{Reason: authz.ReasonTenantMismatch}, "/authorize", 403, "", `{"error":"tenant_mismatch"}`},
		{"suspended", authz.Decision{Reason: authz.ReasonPartnerSuspended}, "/envoy/a", 403, "", `{"error":"partner_suspended"}`},
		{"route", authz.Decision{Reason: authz.ReasonRouteNotAllowed}, "/authorize", 403, "", `{"error":"route_not_allowed"}`},
		// nginx turns any status but 401 and 403 into a 500; Envoy passes
		// the gRPC server's 400 on.
		{"bad-request-authorize", authz.Decision{Reason: authz.ReasonBadRequest}, "/authorize", 403, "", `{"error":"bad_request"}`},
		{"bad-request-envoy", authz.Decision{Reason: authz.ReasonBadRequest}, "/envoy/a", 400, "", `{"error":"bad_request"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(newHandler(t, &fixed{d: tt.d}, "192.0.2.0/24"), "GET", tt.target, forwarded)
			if w.Code != tt.status || w.Body.String() != tt.body {
				t.Errorf("got %d %s, want %d %s", w.Code, w.Body, tt.status, tt.body)
			}
			if got := w.Header().Values("Www-Authenticate"); tt.challenge == "" && len(got) != 0 || tt.challenge != "" && (len(got) != 1 || got[0] != tt.challenge) {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenge)
			}
			if w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("headers %v", w.Header())
			}
			for k := range w.Header() {
				if strings.HasPrefix(strings.ToLower(k), "x-partner-") {
					t.Errorf("a denial carries %s", k)
				}
			}
			wantErr := ""
			if tt.target == "/authorize" {
				wantErr = tt.d.Reason.Public()
			}
			if got := w.Header().Get(HeaderError); got != wantErr {
				t.Errorf("%s = %q, want %q", HeaderError, got, wantErr)
			}
		})
	}
}

func TestAllow(t *testing.T) {
	d := authz.Decision{Reason: authz.ReasonAllowed, PartnerID: "acme", Scopes: "orders:read", CredentialID: "k1", CredentialHeader: "x-api-key"}
	req := http.Header{
		"X-Api-Key":      {"secret"},
		"X-Partner-Id":   {"acme"},
		"X-Partner-Role": {"admin"},
		"X-Partner-Tier": {"platinum"}, // the allow has no tier: removed, not kept
	}
	for k, v := range forwarded {
		req[k] = v
	}
	t.Run("authorize", func(t *testing.T) {
		w := serve(newHandler(t, &fixed{d: d}, "192.0.2.0/24"), "GET", "/authorize", req)
		if w.Code != 200 || w.Body.Len() != 0 {
			t.Fatalf("got %d %q", w.Code, w.Body)
		}
		want := map[string]string{"X-Partner-Id": "acme", "X-Partner-Scopes": "orders:read", "X-Partner-Credential": "k1", "X-Partner-Tier": ""}
		for k, v := range want {
			if got, ok := w.Header()[k]; !ok || len(got) != 1 || got[0] != v {
				t.Errorf("%s = %q, want [%q] (every identity header is sent, for Caddy)", k, got, v)
			}
		}
		if w.Header().Get(HeaderEnvoyRemove) != "" || w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("headers %v", w.Header())
		}
	})
	t.Run("envoy", func(t *testing.T) {
		w := serve(newHandler(t, &fixed{d: d}, "192.0.2.0/24"), "GET", "/envoy/v1/orders", req)
		if w.Code != 200 {
			t.Fatalf("got %d", w.Code)
		}
		if _, ok := w.Header()["X-Partner-Tier"]; ok {
			t.Error("an empty identity header is sent to Envoy; it is removed instead")
		}
		if got, want := w.Header().Get(HeaderEnvoyRemove), "x-api-key,x-partner-role,x-partner-tier"; got != want {
			t.Errorf("%s = %q, want %q: the credential and every x-partner-* header the allow does not set", HeaderEnvoyRemove, got, want)
		}
	})
}

func TestFaults(t *testing.T) {
	for _, tt := range []struct {
		err    error
		status int
	}{
		{authz.ErrNotReady, 503},
		{authz.ErrStale, 503},
		{authz.ErrKeysUnavailable, 503},
		{context.Canceled, 503},
		{authz.ErrInternal, 500},
		{errors.New("pepper version 7 missing for key k1"), 500},
	} {
		for _, target := range []string{"/authorize", "/envoy/v1/orders"} {
			w := serve(newHandler(t, &fixed{err: tt.err}, "192.0.2.0/24"), "GET", target, forwarded)
			if w.Code != tt.status {
				t.Errorf("%s %v: status %d, want %d", target, tt.err, w.Code, tt.status)
			}
			if strings.Contains(w.Body.String(), "pepper") || strings.Contains(w.Body.String(), "partnergate:") {
				t.Errorf("%s %v: the body tells the cause: %s", target, tt.err, w.Body)
			}
			for k := range w.Header() {
				if strings.HasPrefix(strings.ToLower(k), "x-partner") {
					t.Errorf("a fault carries %s", k)
				}
			}
		}
	}
}

type panicking struct{}

func (panicking) Decide(context.Context, authz.Request) (authz.Decision, error) { panic("bug") }
func (panicking) Realm() string                                                 { return "pg" }

func TestRoutes(t *testing.T) {
	allow := &fixed{d: authz.Decision{Reason: authz.ReasonAllowed, PartnerID: "acme"}}
	ready := true
	h, err := New(Options{Decider: allow, Ready: func() bool { return ready }})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		method, target string
		status         int
	}{
		{"GET", "/", 404},
		{"GET", "/authorize/x", 404},
		{"GET", "/envoyx/a", 404},
		{"GET", "/envoy", 404},
		{"POST", "/authorize", 405},
		{"GET", "/readyz", 200},
		{"POST", "/envoy/v1/orders", 200},
		// Never redirected to a cleaned path: a 301 is no answer a proxy
		// reads as allow or deny.
		{"GET", "/envoy/v1/../admin", 200},
		{"GET", "/envoy//v1", 200},
	} {
		w := serve(h, tt.method, tt.target, nil)
		if w.Code != tt.status {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.target, w.Code, tt.status)
		}
	}
	ready = false
	if w := serve(h, "GET", "/readyz", nil); w.Code != 503 {
		t.Errorf("/readyz while not ready: %d", w.Code)
	}
	if w := serve(newHandler(t, panicking{}), "GET", "/envoy/a", nil); w.Code != 500 {
		t.Errorf("a panicking decider: %d, want 500", w.Code)
	}
}

func TestWhatTheDecisionSees(t *testing.T) {
	header := http.Header{
		"X-Original-Uri":                {"/v1/orders?partnerId=acme"},
		"X-Original-Method":             {"DELETE"},
		"X-Forwarded-Host":              {"api.example.com"},
		"X-Forwarded-Proto":             {"https"},
		"X-Forwarded-For":               {"203.0.113.9, 198.51.100.7"},
		"X-Partnergate-Required-Scopes": {"orders:write"},
		"X-Api-Key":                     {"pk_secret"},
	}
	tests := []struct {
		name, target string
		trusted      []string
		want         authz.Request
	}{
		{"authorize-trusted", "/authorize", []string{"192.0.2.0/24"},
			authz.Request{Method: "DELETE", Scheme: "https", Host: "api.example.com", Path: "/v1/orders?partnerId=acme", SourceAddr: "198.51.100.7", RequiredScopes: "orders:write"}},
		{"authorize-untrusted", "/authorize", []string{"10.0.0.0/8"},
			authz.Request{Method: "GET", Host: "example.com", Path: "/authorize", SourceAddr: "192.0.2.1"}},
		{"envoy-trusted", "/envoy/v2/x?y=1", []string{"192.0.2.1"},
			authz.Request{Method: "GET", Scheme: "https", Host: "example.com", Path: "/v2/x?y=1", SourceAddr: "198.51.100.7", RequiredScopes: "orders:write"}},
		{"envoy-untrusted", "/envoy/v2/x?y=1", nil,
			authz.Request{Method: "GET", Host: "example.com", Path: "/v2/x?y=1", SourceAddr: "192.0.2.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fixed{d: authz.Decision{Reason: authz.ReasonRouteNotAllowed}}
			serve(newHandler(t, f, tt.trusted...), "GET", tt.target, header)
			if len(f.seen) != 1 {
				t.Fatalf("decided %d times", len(f.seen))
			}
			got := f.seen[0]
			if key, n := got.Headers.Get("x-api-key"); key != "pk_secret" || n != 1 {
				t.Errorf("the credential header reads %q (%d)", key, n)
			}
			got.Headers = nil
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("decided (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBrokenForwardedRequestIsDenied(t *testing.T) {
	f := &fixed{d: authz.Decision{Reason: authz.ReasonAllowed}}
	w := serve(newHandler(t, f, "192.0.2.0/24"), "GET", "/authorize", http.Header{"X-Original-Uri": {"/a"}, "X-Forwarded-Uri": {"/b"}, "X-Original-Method": {"GET"}})
	if w.Code != 403 || w.Body.String() != `{"error":"bad_request"}` || len(f.seen) != 0 {
		t.Errorf("contradicting spellings: %d %s, decided %d times", w.Code, w.Body, len(f.seen))
	}
}

// observed records what the handler reports to its Metrics.
type observed struct {
	allowed []bool
	errs    []error
}

func (o *observed) ObserveCheck(_ time.Duration, allowed bool, err error) {
	o.allowed = append(o.allowed, allowed)
	o.errs = append(o.errs, err)
}

func TestDecisionsAreObserved(t *testing.T) {
	for _, tt := range []struct {
		name    string
		dec     Decider
		allowed bool
		err     error
	}{
		{"allow", &fixed{d: authz.Decision{Reason: authz.ReasonAllowed}}, true, nil},
		{"deny", &fixed{d: authz.Decision{Reason: authz.ReasonTenantMismatch}}, false, nil},
		{"fault", &fixed{err: authz.ErrStale}, false, authz.ErrStale},
		{"panic", panicking{}, false, authz.ErrInternal},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := &observed{}
			tr, _ := ParseTrusted("k", []string{"192.0.2.0/24"})
			h, err := New(Options{Decider: tt.dec, Trusted: tr, Metrics: m})
			if err != nil {
				t.Fatal(err)
			}
			serve(h, "GET", "/authorize", forwarded)
			if len(m.allowed) != 1 || m.allowed[0] != tt.allowed || !errors.Is(m.errs[0], tt.err) || (tt.err == nil) != (m.errs[0] == nil) {
				t.Errorf("observed %v %v, want [%v] [%v]", m.allowed, m.errs, tt.allowed, tt.err)
			}
		})
	}
	// A forwarded request that cannot be read is no decision.
	m := &observed{}
	h, _ := New(Options{Decider: &fixed{}, Metrics: m})
	serve(h, "GET", "/envoyx", nil)
	if len(m.allowed) != 0 {
		t.Errorf("a 404 was observed as a decision")
	}
}

// TestIdentityHeadersAreAuthz keeps the exported names the canonical
// forms of authz's identity headers.
func TestIdentityHeadersAreAuthz(t *testing.T) {
	for got, want := range map[string]string{
		HeaderPartnerID: authz.HeaderPartnerID, HeaderPartnerScopes: authz.HeaderPartnerScopes,
		HeaderPartnerCredential: authz.HeaderPartnerCredential, HeaderPartnerTier: authz.HeaderPartnerTier,
	} {
		if got != textproto.CanonicalMIMEHeaderKey(want) {
			t.Errorf("%s is not authz's %s", got, want)
		}
	}
}
