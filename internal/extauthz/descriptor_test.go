package extauthz

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/partnergate/partnergate/authz"
	"github.com/partnergate/partnergate/internal/grpctest"
	"github.com/partnergate/partnergate/internal/logtest"
	"github.com/partnergate/partnergate/internal/telemetry"
)

// The forked service descriptor answers exactly as the generated one
// does: the same server, registered once with the generated
// Authorization_ServiceDesc (grpc-go's own codec marshalling every reply)
// and once as partnergate serves it (Register, the pre-encoded codec),
// gives each client the same response, status and metadata over real
// gRPC on loopback, for an allow (from the memo, sent as its encoding), a
// denial and a fault.
func TestServiceDescAnswersAsGenerated(t *testing.T) {
	f := newFixture(t, nil)
	srv, err := newAuthz(authz.Options{Index: f.index, Keys: f.format, Hasher: f.hasher, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	generated := grpc.NewServer()
	authv3.RegisterAuthorizationServer(generated, srv)
	forked := grpc.NewServer(ServerOption())
	srv.Register(forked)
	clients := map[string]authv3.AuthorizationClient{
		"generated": authv3.NewAuthorizationClient(grpctest.Serve(t, generated)),
		"forked":    authv3.NewAuthorizationClient(grpctest.Serve(t, forked)),
	}
	type answer struct {
		resp              *authv3.CheckResponse
		code              string
		header, trailer   metadata.MD
		contentTypeHeader []string
	}
	call := func(t *testing.T, c authv3.AuthorizationClient, req *authv3.CheckRequest) answer {
		var a answer
		var err error
		a.resp, err = c.Check(context.Background(), req, grpc.Header(&a.header), grpc.Trailer(&a.trailer))
		a.code = status.Convert(err).String()
		a.contentTypeHeader = a.header.Get("content-type")
		a.header.Delete("date")
		return a
	}
	allow := request("GET", "/v1/orders", bearerOf(f.keys["acme"]), nil)
	for _, tc := range []struct {
		name    string
		req     *authv3.CheckRequest
		before  func()
		allowed bool
		fault   bool
	}{
		{"allow-first-sight", allow, nil, true, false},
		{"allow-from-memo", allow, nil, true, false},
		{"deny", request("GET", "/v1/orders", bearerOf(f.keys["revoked"]), nil), nil, false, false},
		{"deny-scope", request("POST", "/v1/orders", bearerOf(f.keys["acme-read"]), map[string]string{ContextKeyRequiredScopes: "orders:write"}), nil, false, false},
		{"fault", allow, func() { f.index.ready.Store(false) }, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			want := call(t, clients["generated"], tc.req)
			got := call(t, clients["forked"], tc.req)
			if !proto.Equal(got.resp, want.resp) {
				t.Errorf("forked answered\n %v\ngenerated\n %v", got.resp, want.resp)
			}
			if got.code != want.code {
				t.Errorf("forked status %s, generated %s", got.code, want.code)
			}
			if !equalMD(got.header, want.header) || !equalMD(got.trailer, want.trailer) {
				t.Errorf("metadata differs: forked %v %v, generated %v %v", got.header, got.trailer, want.header, want.trailer)
			}
			if tc.fault != (want.resp == nil) || tc.allowed != (want.resp.GetOkResponse() != nil) {
				t.Errorf("generated answered %v (%s); want allowed %v, fault %v", want.resp, want.code, tc.allowed, tc.fault)
			}
		})
	}
}

func equalMD(a, b metadata.MD) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w := b[k]
		if strings.Join(v, "\x00") != strings.Join(w, "\x00") {
			return false
		}
	}
	return true
}

// A panic in the handler is an INTERNAL error, logged with the method,
// and observed as an error: Envoy fails closed on one request instead of
// the process dying.
func TestRecoverTurnsAPanicIntoInternal(t *testing.T) {
	var logs logtest.Buffer
	m, err := telemetry.NewMetrics(telemetry.MetricsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	srv, err := New(Options{Decider: panicking{}, Metrics: m, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Check(context.Background(), &authv3.CheckRequest{})
	if resp != nil || status.Code(err).String() != "Internal" || status.Convert(err).Message() != authz.ErrInternal.Error() {
		t.Fatalf("Check = %v, %v; want no response and Internal", resp, err)
	}
	if !strings.Contains(logs.String(), `msg="panic in handler" method=/envoy.service.auth.v3.Authorization/Check panic="index out of range"`) {
		t.Errorf("log lacks the panic: %s", logs.String())
	}
}

type panicking struct{}

func (panicking) Decide(context.Context, authz.Request) (authz.Decision, error) {
	panic("index out of range")
}
func (panicking) Realm() string { return "partnergate" }

// BenchmarkObserveCheck measures what observing adds to every Check with
// tracing off: two clock reads, the outcome and one histogram record.
func BenchmarkObserveCheck(b *testing.B) {
	m, err := telemetry.NewMetrics(telemetry.MetricsOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	ok := response{message: &authv3.CheckResponse{}, allowed: true}
	check := observe(m, &telemetry.Tracing{}, func(context.Context, *authv3.CheckRequest) (response, error) {
		return ok, nil
	})
	req := &authv3.CheckRequest{}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := check(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
