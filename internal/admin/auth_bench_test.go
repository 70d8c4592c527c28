package admin_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/partnergate/partnergate/internal/admin"
	"github.com/partnergate/partnergate/internal/partner"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// BenchmarkAdminAuth measures one admin call from one source over real
// gRPC with a right and with a wrong operator token, on the real clock,
// with a throttle of 1,000 failures a second (the default is 1): the
// wrong token's time per call is the bucket's refill time, the right
// one's the call itself.
func BenchmarkAdminAuth(b *testing.B) {
	for _, bc := range []struct {
		name  string
		wrong bool
	}{{"right-token", false}, {"wrong-token", true}} {
		b.Run(bc.name, func(b *testing.B) {
			e := newBenchEnv(b)
			tok := e.benchOperator(b)
			if bc.wrong {
				tok = e.otherSecret(b, tok)
			}
			ctx := metadataCtx(tok)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				_, err := e.client.WhoAmI(ctx, &adminv1.WhoAmIRequest{})
				if (err != nil) != bc.wrong {
					b.Fatalf("WhoAmI = %v", err)
				}
			}
		})
	}
}

func newBenchEnv(b *testing.B) *env {
	b.Helper()
	return newEnvWith(b, &admin.Throttle{Rate: 1000, Burst: 10, MaxDelay: time.Second})
}

func metadataCtx(token string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
}

func (e *env) benchOperator(b *testing.B) string {
	b.Helper()
	ctx := metadataCtx(e.token)
	resp, err := e.client.CreateOperator(ctx, &adminv1.CreateOperatorRequest{Name: "bench", Role: string(partner.RoleViewer)})
	if err != nil {
		b.Fatal(err)
	}
	return resp.GetSecret()
}
