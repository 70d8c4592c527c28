package extauthz

import (
	"context"
	"testing"
	"time"

	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc/codes"

	"github.com/partnergate/partnergate/authz"
)

// TestAttackReproductionsRefused replays an outside attack run's requests
// through Check with a valid key: tenant-selector spellings that name
// another tenant are 403 tenant_mismatch, and path forms an upstream
// would normalise to another route are 400 bad_request with the usual
// JSON body, before any credential is looked at.
func TestAttackReproductionsRefused(t *testing.T) {
	f := newFixture(t, nil)
	srv, err := newAuthz(authz.Options{Index: f.index, Keys: f.format, Hasher: f.hasher, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	acme := bearerOf(f.keys["acme"])
	ext := map[string]string{"required_scopes": "orders:read"}
	tests := []struct {
		name     string
		path     string
		reason   authz.Reason
		http     typev3.StatusCode
		code     codes.Code
		noLookup bool
	}{
		{"selector-dotless-i", "/v1/orders?partner%C4%B1d=globex", authz.ReasonTenantMismatch, typev3.StatusCode_Forbidden, codes.PermissionDenied, false},
		{"selector-fullwidth", "/v1/orders?%EF%BD%90artnerId=globex", authz.ReasonTenantMismatch, typev3.StatusCode_Forbidden, codes.PermissionDenied, false},
		{"selector-trailing-tab", "/v1/orders?partnerId%09=globex", authz.ReasonTenantMismatch, typev3.StatusCode_Forbidden, codes.PermissionDenied, false},
		{"selector-double-encoded", "/v1/orders?partner%255fid=globex", authz.ReasonTenantMismatch, typev3.StatusCode_Forbidden, codes.PermissionDenied, false},
		{"selector-matrix", "/v1/orders;partnerId=globex", authz.ReasonTenantMismatch, typev3.StatusCode_Forbidden, codes.PermissionDenied, false},
		{"path-overlong-dots", "/v1/orders/%c0%ae%c0%ae/admin", authz.ReasonBadRequest, typev3.StatusCode_BadRequest, codes.InvalidArgument, true},
		{"path-fullwidth-dots", "/v1/orders/%EF%BC%8E%EF%BC%8E/admin", authz.ReasonBadRequest, typev3.StatusCode_BadRequest, codes.InvalidArgument, true},
		{"path-dots-space", "/v1/orders/..%20/admin", authz.ReasonBadRequest, typev3.StatusCode_BadRequest, codes.InvalidArgument, true},
		{"path-three-dots", "/v1/orders/.../admin", authz.ReasonBadRequest, typev3.StatusCode_BadRequest, codes.InvalidArgument, true},
		{"path-encoded-traversal", "/v1/reports/..%2f..%2fadmin", authz.ReasonBadRequest, typev3.StatusCode_BadRequest, codes.InvalidArgument, true},
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
