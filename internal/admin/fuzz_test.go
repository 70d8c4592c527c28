package admin_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/partnergate/partnergate/internal/admin"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// FuzzAuthenticate feeds arbitrary authorization values to the
// authenticator: nothing but the bootstrap token itself is admitted, and
// nothing panics.
func FuzzAuthenticate(f *testing.F) {
	const token = "pgadm_FUZZTOKENFUZZTOKENFUZZTOKENFUZZTOKENFUZZTOKENFUZ"
	for _, seed := range []string{
		"Bearer " + token,       // the one value admitted
		"bearer " + token,       // scheme case does not matter
		"Bearer " + token + " ", // trailing space: another token
		"Basic " + token,
		"Bearer pgop_AAAAAAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", // operator-shaped
		"Bearer a.b.c", // JWT-shaped
		"Bearer ",
		"",
		"\x00\xff",
	} {
		f.Add(seed)
	}
	a := &admin.Authenticator{Bootstrap: admin.HashToken(token), Throttle: &admin.Throttle{Rate: 1e9, Burst: 1 << 30}}
	unary, _ := a.Interceptors()
	info := &grpc.UnaryServerInfo{FullMethod: adminv1.Admin_WhoAmI_FullMethodName}
	f.Fuzz(func(t *testing.T, value string) {
		ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", value))
		admitted := false
		_, err := unary(ctx, nil, info, func(ctx context.Context, _ any) (any, error) {
			admitted = admin.PrincipalFrom(ctx) != nil
			return nil, nil
		})
		scheme, rest, _ := strings.Cut(value, " ")
		want := strings.EqualFold(scheme, "Bearer") && rest == token // RFC 7235 §2.1: the scheme is case-insensitive
		if admitted != want {
			t.Fatalf("authorization %q: admitted %v, want %v (err %v)", value, admitted, want, err)
		}
		if !admitted && status.Code(err) != codes.Unauthenticated {
			t.Fatalf("authorization %q: %v, want Unauthenticated", value, err)
		}
	})
}
