// Test strategy: the admin token guards every change to every partner's
// credentials, so it is tested over real gRPC on loopback, through the same
// interceptors a server installs. Every way of presenting a bad credential
// must yield the same Unauthenticated status with the same message (a caller
// learns nothing about why), the handler must not run (no audit event, no
// write), and a server configured with something that is not a SHA-256
// admits nothing.
package admin_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/partnergate/partnergate/internal/admin"
	"github.com/partnergate/partnergate/internal/store"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

func TestAuth(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		md   []string
		want codes.Code
	}{
		{"no-metadata", nil, codes.Unauthenticated},
		{"wrong-token", []string{"authorization", "Bearer " + admin.NewToken()}, codes.Unauthenticated},
		{"token-prefix-only", []string{"authorization", "Bearer " + e.token[:len(e.token)-1]}, codes.Unauthenticated},
		{"token-with-suffix", []string{"authorization", "Bearer " + e.token + "x"}, codes.Unauthenticated},
		{"basic-scheme", []string{"authorization", "Basic " + e.token}, codes.Unauthenticated},
		{"no-scheme", []string{"authorization", e.token}, codes.Unauthenticated},
		{"empty-bearer", []string{"authorization", "Bearer "}, codes.Unauthenticated},
		{"two-authorization-values", []string{"authorization", "Bearer " + e.token, "authorization", "Bearer x"}, codes.Unauthenticated},
		{"token-in-other-header", []string{"x-api-key", e.token}, codes.Unauthenticated},
		{"right-token", []string{"authorization", "Bearer " + e.token}, codes.OK},
		{"right-token-lowercase-scheme", []string{"authorization", "bearer " + e.token}, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if tt.md != nil {
				ctx = metadata.AppendToOutgoingContext(ctx, tt.md...)
			}
			_, err := e.client.ListPartners(ctx, &adminv1.ListPartnersRequest{})
			st := wantCode(t, err, tt.want)
			if tt.want == codes.Unauthenticated && st.Message() != "missing or invalid admin token" {
				t.Errorf("message = %q, want the one generic message", st.Message())
			}
		})
	}
}

func TestAuthRejectedWriteChangesNothing(t *testing.T) {
	e := newEnv(t)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer wrong")
	_, err := e.client.CreatePartner(ctx, &adminv1.CreatePartnerRequest{Id: "acme"})
	wantCode(t, err, codes.Unauthenticated)
	if _, err := e.store.GetPartner(context.Background(), "acme"); err == nil {
		t.Fatal("partner created without a valid token")
	}
	evs, err := e.store.ListAudit(context.Background(), store.AuditFilter{})
	if err != nil || len(evs) != 0 {
		t.Fatalf("audit = %v, %v; want none", evs, err)
	}
}

func TestAuthInterceptorsRejectBadHash(t *testing.T) {
	token := admin.NewToken()
	tests := []struct {
		name string
		hash []byte
	}{
		{"nil-hash", nil},
		{"empty-hash", []byte{}},
		{"raw-token-not-hash", []byte(token)},
		{"truncated-hash", admin.HashToken(token)[:16]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			unary, _ := admin.AuthInterceptors(tt.hash)
			ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+token))
			called := false
			_, err := unary(ctx, nil, nil, func(context.Context, any) (any, error) { called = true; return nil, nil })
			wantCode(t, err, codes.Unauthenticated)
			if called {
				t.Fatal("handler ran")
			}
		})
	}
}

func TestNewToken(t *testing.T) {
	a, b := admin.NewToken(), admin.NewToken()
	if a == b {
		t.Fatal("two tokens are equal")
	}
	if !strings.HasPrefix(a, admin.TokenPrefix) || len(a) != len(admin.TokenPrefix)+52 {
		t.Fatalf("token %q: want %s and 52 base32 characters (256 bits)", a, admin.TokenPrefix)
	}
	if len(admin.HashToken(a)) != 32 {
		t.Fatal("HashToken is not a SHA-256")
	}
}
