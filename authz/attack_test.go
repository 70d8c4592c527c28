package authz

import (
	"context"
	"testing"
	"time"

	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc/codes"
)

// TestAttackReproductionsRefused replays an outside attack run's requests
// through Check with a valid key: tenant-selector spellings that name
// another tenant are 403 tenant_mismatch, and path forms an upstream
// would normalise to another route are 400 bad_request with the usual
// JSON body, before any credential is looked at.
func TestAttackReproductionsRefused(t *testing.T) {
	f := newFixture(t, nil)
	srv, err := New(Options{Index: f.index, Keys: f.format, Hasher: f.hasher, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	acme := bearerOf(f.keys["acme"])
	ext := map[string]string{"required_scopes": "orders:read"}
	tests := []struct {
		name     string
		path     string
		reason   Reason
		http     typev3.StatusCode
		code     codes.Code
		noLookup bool
	}{
		{"selector-dotless-i", "/v1/orders?partner%C4%B1d=globex", ReasonTenantMismatch, typev3.StatusCode_Forbidden, codes.PermissionDenied, false},
		{"selector-fullwidth", "/v1/orders?%EF%BD%90artnerId=globex", ReasonTenantMismatch, typev3.StatusCode_Forbidden, codes.PermissionDenied, false},
		{"selector-trailing-tab", "/v1/orders?partnerId%09=globex", ReasonTenantMismatch, typev3.StatusCode_Forbidden, codes.PermissionDenied, false},
		{"selector-double-encoded", "/v1/orders?partner%255fid=globex", ReasonTenantMismatch, typev3.StatusCode_Forbidden, codes.PermissionDenied, false},
		{"selector-matrix", "/v1/orders;partnerId=globex", ReasonTenantMismatch, typev3.StatusCode_Forbidden, codes.PermissionDenied, false},
		{"path-overlong-dots", "/v1/orders/%c0%ae%c0%ae/admin", ReasonBadRequest, typev3.StatusCode_BadRequest, codes.InvalidArgument, true},
		{"path-fullwidth-dots", "/v1/orders/%EF%BC%8E%EF%BC%8E/admin", ReasonBadRequest, typev3.StatusCode_BadRequest, codes.InvalidArgument, true},
		{"path-dots-space", "/v1/orders/..%20/admin", ReasonBadRequest, typev3.StatusCode_BadRequest, codes.InvalidArgument, true},
		{"path-three-dots", "/v1/orders/.../admin", ReasonBadRequest, typev3.StatusCode_BadRequest, codes.InvalidArgument, true},
		{"path-encoded-traversal", "/v1/reports/..%2f..%2fadmin", ReasonBadRequest, typev3.StatusCode_BadRequest, codes.InvalidArgument, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.index.lookups.Load()
			req := request("GET", tt.path, acme, ext)
			resp, err := srv.Check(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			d := resp.GetDeniedResponse()
			if codes.Code(resp.GetStatus().GetCode()) != tt.code || d.GetStatus().GetCode() != tt.http {
				t.Fatalf("status %v, HTTP %v; want %v, %v", resp.GetStatus(), d.GetStatus(), tt.code, tt.http)
			}
			if want := `{"error":"` + tt.reason.Public() + `","request_id":"req-123"}`; d.GetBody() != want {
				t.Errorf("body %s, want %s", d.GetBody(), want)
			}
			if resp.GetStatus().GetMessage() != tt.reason.Public() {
				t.Errorf("status message %q", resp.GetStatus().GetMessage())
			}
			if tt.noLookup && f.index.lookups.Load() != before {
				t.Error("a refused path still looked the key up")
			}
		})
	}
}

// TestRequestIDDropsCredentials guards the request id, which is echoed in
// deny bodies, logs and spans: an API key or a JWT sent as x-request-id is
// dropped, while ordinary ids (UUIDs, Envoy's, tracing ones) are kept.
func TestRequestIDDropsCredentials(t *testing.T) {
	key := mustGenerate(t, newFixture(t, nil).format).Reveal()
	tests := []struct {
		name, id string
		keep     bool
	}{
		{"uuid", "6f1c2a0e-3b7d-4c55-9a1e-2f4b8d9c0a11", true},
		{"envoy-style", "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6", true},
		{"dotted", "req.2026-11-27:0001", true},
		{"api-key", key, false},
		{"key-secret-alone", key[len(key)-49:], false},
		{"jwt-segment", "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.e30", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := requestID("", mapHeaders("x-request-id", tt.id))
			if (got == tt.id) != tt.keep || !tt.keep && got != "" {
				t.Errorf("requestID(%q) = %q, keep %v", tt.id, got, tt.keep)
			}
		})
	}
}
