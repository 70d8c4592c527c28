package authz

// Test strategy: Decide is driven with transport-neutral Requests, the
// way each transport builds them; the header accessors are checked
// against the two shapes transports carry (Envoy's merged map, Go's
// http.Header), for what "exactly one credential" needs: a repeat must
// be seen in either shape.

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestHeaderAccessors(t *testing.T) {
	multi := http.Header{}
	multi.Add("Authorization", "Bearer a")
	multi.Add("Authorization", "Bearer b")
	multi.Set("X-Api-Key", "k")
	multi.Set("X-Custom-Thing", "v")
	tests := []struct {
		name  string
		h     Headers
		ask   string
		value string
		n     int
	}{
		{"map-present", MapHeaders{"x-api-key": "k"}, "x-api-key", "k", 1},
		{"map-absent", MapHeaders{"x-api-key": "k"}, "authorization", "", 0},
		{"map-joined-repeat", MapHeaders{"authorization": "Bearer a,Bearer b"}, "authorization", "Bearer a,Bearer b", 1},
		{"multi-repeat", MultiHeaders(multi), "authorization", "Bearer a", 2},
		{"multi-once", MultiHeaders(multi), "x-api-key", "k", 1},
		{"multi-other-name", MultiHeaders(multi), "x-custom-thing", "v", 1},
		{"multi-absent", MultiHeaders(multi), "x-partner-id", "", 0},
		{"none", noHeaders{}, "authorization", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v, n := tt.h.Get(tt.ask); v != tt.value || n != tt.n {
				t.Errorf("Get(%q) = %q, %d; want %q, %d", tt.ask, v, n, tt.value, tt.n)
			}
		})
	}
}

// Asking either shape for the names the decision reads costs nothing.
func TestHeaderAccessorsDoNotAllocate(t *testing.T) {
	m := MapHeaders{"authorization": "Bearer x"}
	h := MultiHeaders(http.Header{"Authorization": {"Bearer x"}, "X-Request-Id": {"r"}})
	for _, acc := range []Headers{m, h} {
		n := testing.AllocsPerRun(100, func() {
			for _, name := range []string{headerAuthorization, headerAPIKey, headerPartnerID, headerRequestID} {
				acc.Get(name)
			}
		})
		if n != 0 {
			t.Errorf("%T: %v allocations per look-up round, want 0", acc, n)
		}
	}
}

// Decide gives the same decisions from either header shape, and a
// repeated credential is malformed in both.
func TestDecideFromEitherHeaderShape(t *testing.T) {
	f := newFixture(t, nil, nil)
	srv, err := New(Options{Index: f.index, Keys: f.format, Hasher: f.hasher, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	acme := f.keys["acme"]
	twice := http.Header{}
	twice.Add("X-Api-Key", acme.Reveal())
	twice.Add("X-Api-Key", acme.Reveal())
	tests := []struct {
		name    string
		h       Headers
		scopes  string
		want    Reason
		partner string
	}{
		{"map-allow", MapHeaders{"authorization": "Bearer " + acme.Reveal()}, "orders:read", ReasonAllowed, "acme"},
		{"multi-allow", MultiHeaders(http.Header{"Authorization": {"Bearer " + acme.Reveal()}}), "orders:read", ReasonAllowed, "acme"},
		{"multi-api-key-allow", MultiHeaders(http.Header{"X-Api-Key": {acme.Reveal()}}), "orders:read", ReasonAllowed, "acme"},
		{"map-joined-repeat", MapHeaders{"x-api-key": acme.Reveal() + "," + acme.Reveal()}, "orders:read", ReasonMalformedCredential, ""},
		{"multi-repeat", MultiHeaders(twice), "orders:read", ReasonMalformedCredential, ""},
		{"multi-both", MultiHeaders(http.Header{"X-Api-Key": {acme.Reveal()}, "Authorization": {"Bearer " + acme.Reveal()}}), "orders:read", ReasonMalformedCredential, ""},
		{"multi-tenant-repeat", MultiHeaders(http.Header{"X-Api-Key": {acme.Reveal()}, "X-Partner-Id": {"acme", "globex"}}), "orders:read", ReasonTenantMismatch, "acme"},
		{"no-headers", nil, "orders:read", ReasonMissingCredential, ""},
		{"scope-missing", MapHeaders{"x-api-key": acme.Reveal()}, "admin", ReasonInsufficientScope, "acme"},
		{"route-declares-nothing", MapHeaders{"x-api-key": acme.Reveal()}, "", ReasonRouteNotAllowed, "acme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := srv.Decide(context.Background(), Request{Method: "GET", Path: "/v1/orders", Headers: tt.h, RequiredScopes: tt.scopes})
			if err != nil {
				t.Fatal(err)
			}
			if d.Reason != tt.want || d.PartnerID != tt.partner {
				t.Errorf("Decide = %s for %q, want %s for %q", d.Reason, d.PartnerID, tt.want, tt.partner)
			}
		})
	}
}

// Faults are errors, never Decisions.
func TestDecideFaults(t *testing.T) {
	f := newFixture(t, nil, nil)
	srv, err := New(Options{Index: f.index, Keys: f.format, Hasher: f.hasher, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	req := Request{Method: "GET", Path: "/v1/orders", RequiredScopes: "orders:read", Headers: MapHeaders{"x-api-key": f.keys["acme"].Reveal()}}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if d, err := srv.Decide(ctx, req); !errors.Is(err, context.Canceled) || d.Allowed() {
		t.Errorf("cancelled: Decide = %s, %v; want context.Canceled", d.Reason, err)
	}
	f.index.ready.Store(false)
	if d, err := srv.Decide(context.Background(), req); !errors.Is(err, ErrNotReady) || d.Allowed() {
		t.Errorf("cold index: Decide = %s, %v; want ErrNotReady", d.Reason, err)
	}
}
