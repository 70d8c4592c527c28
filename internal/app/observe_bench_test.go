package app

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/partnergate/partnergate/internal/config"
	"github.com/partnergate/partnergate/internal/telemetry"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// BenchmarkCheckTracing measures an allowed API-key Check over real gRPC
// on loopback, through the whole server, with tracing off (the default:
// no OTEL_* variables) and on (every span sampled and batched to an
// exporter that discards it). The "on" case reports on/off, the ratio of
// the two in the same run.
func BenchmarkCheckTracing(b *testing.B) {
	var offNs float64
	for _, mode := range []string{"off", "on"} {
		b.Run(mode, func(b *testing.B) {
			check, req := benchServer(b, mode == "on")
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					resp, err := check.Check(ctx, req)
					if err != nil || resp.GetOkResponse() == nil {
						b.Fatalf("Check: %v %v", resp.GetStatus(), err)
					}
				}
			})
			b.StopTimer()
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if mode == "off" {
				offNs = ns
			} else if offNs > 0 {
				b.ReportMetric(ns/offNs, "on/off")
			}
		})
	}
}

// benchServer starts a server, issues a key, and returns a Check client
// with an allowed request.
func benchServer(b *testing.B, traced bool) (authv3.AuthorizationClient, *authv3.CheckRequest) {
	b.Helper()
	old := tracingFromEnv
	if traced {
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()), sdktrace.WithSampler(sdktrace.AlwaysSample()))
		tracingFromEnv = func(context.Context) (*telemetry.Tracing, error) { return telemetry.NewTracing(tp, tp.Shutdown), nil }
	} else {
		tracingFromEnv = func(ctx context.Context) (*telemetry.Tracing, error) {
			return telemetry.TracingFromEnv(ctx, func(string) string { return "" })
		}
	}
	defer func() { tracingFromEnv = old }()

	cfg := config.Default()
	cfg.Listen, cfg.AdminListen, cfg.MetricsListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Store = "sqlite://" + filepath.Join(b.TempDir(), "partnergate.db")
	cfg.AdminToken = testAdminToken
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := Start(ctx, &cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	b.Cleanup(func() { cancel(); _ = srv.Wait() })
	select {
	case <-srv.Ready():
	case <-time.After(10 * time.Second):
		b.Fatal("server not ready within 10s")
	}
	conn := func(addr string) *grpc.ClientConn {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		return c
	}
	admin := adminv1.NewAdminClient(conn(srv.AdminAddr.String()))
	actx := adminCtx()
	if _, err := admin.CreatePartner(actx, &adminv1.CreatePartnerRequest{Id: "acme", Scopes: []string{"orders:read"}}); err != nil {
		b.Fatal(err)
	}
	issued, err := admin.IssueKey(actx, &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true})
	if err != nil {
		b.Fatal(err)
	}
	req := checkRequest("bench", map[string]string{
		"x-api-key":   issued.GetSecret(),
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	})
	return authv3.NewAuthorizationClient(conn(srv.CheckAddr.String())), req
}
