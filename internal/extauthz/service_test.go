package extauthz

import (
	"context"
	"fmt"
	"sync"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/partnergate/partnergate/authz"
	"github.com/partnergate/partnergate/internal/grpctest"
)

// Register sends a response's encoding as it is, and its message under an
// interceptor. The two differ here on purpose, to tell which was sent.
func TestRegisterSendsTheEncoding(t *testing.T) {
	message := buildAllow(&identity{values: [authz.IdentityHeaders]string{"acme", "orders:read", "message", "gold"}}, []string{"x-api-key"})
	encoded, err := encode(buildAllow(&identity{values: [authz.IdentityHeaders]string{"acme", "orders:read", "encoding", "gold"}}, []string{"x-api-key"}))
	if err != nil {
		t.Fatal(err)
	}
	respond := func(context.Context, *authv3.CheckRequest) (response, error) {
		return response{message: message, wire: encoded, allowed: true}, nil
	}
	var intercepted any
	for _, tc := range []struct {
		name string
		opts []grpc.ServerOption
		want string
	}{
		{"plain", nil, "encoding"},
		{"interceptor", []grpc.ServerOption{grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			resp, err := h(ctx, req)
			intercepted = resp
			return resp, err
		})}, "message"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := serveFunc(t, respond, tc.opts...)
			resp, err := client.Check(context.Background(), &authv3.CheckRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.GetDynamicMetadata().GetFields()[MetadataCredentialID].GetStringValue(); got != tc.want {
				t.Errorf("sent the response naming %q, want %q", got, tc.want)
			}
		})
	}
	if m, ok := intercepted.(*authv3.CheckResponse); !ok || !proto.Equal(m, message) {
		t.Errorf("the interceptor saw %T %v, want the message", intercepted, intercepted)
	}
}

// One encoding goes out on many calls at once, intact on each: grpc-go
// only reads it (run with -race, this also shows it never writes to it).
func TestRegisterSharesTheEncodingAcrossCalls(t *testing.T) {
	msg := buildAllow(&identity{values: [authz.IdentityHeaders]string{"acme", "orders:read", "AbCdEfGhIjKl", "gold"}}, []string{"authorization"})
	encoded, err := encode(msg)
	if err != nil {
		t.Fatal(err)
	}
	client := serveFunc(t, func(context.Context, *authv3.CheckRequest) (response, error) {
		return response{message: msg, wire: encoded, allowed: true}, nil
	})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for range 50 {
				resp, err := client.Check(context.Background(), &authv3.CheckRequest{})
				if err != nil {
					errs <- err
					return
				}
				if !proto.Equal(resp, msg) {
					errs <- fmt.Errorf("received %v, want %v", resp, msg)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// serveFunc serves respond as the Check server does, with opts added.
func serveFunc(t testing.TB, respond respondFunc, opts ...grpc.ServerOption) authv3.AuthorizationClient {
	t.Helper()
	gs := grpc.NewServer(append([]grpc.ServerOption{ServerOption()}, opts...)...)
	gs.RegisterService(&serviceDesc, service{respond: respond})
	return authv3.NewAuthorizationClient(grpctest.Serve(t, gs))
}
