package loadgen

import (
	"context"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/partnergate/partnergate/internal/extauthz"
)

// Baseline is an ext_authz server that does no work: it answers every
// Check with the same OK response partnergate gives an allowed API key
// (four identity headers, the credential removed, dynamic metadata), built
// and encoded once. It is the floor partnergate is measured against, and
// is served as partnergate is ([extauthz.NewFixed]), so it sends that
// encoding without marshalling, as partnergate sends its memoised allows.
type Baseline struct {
	msg   *authv3.CheckResponse
	fixed *extauthz.Server
}

// NewBaseline returns a Baseline answering as for partnerID's key keyID.
func NewBaseline(partnerID, keyID string) *Baseline {
	set := func(k, v string) *corev3.HeaderValueOption {
		return &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: k, Value: v},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		}
	}
	msg := &authv3.CheckResponse{
		Status: &rpcstatus.Status{},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
			Headers: []*corev3.HeaderValueOption{
				set("x-partner-id", partnerID),
				set("x-partner-scopes", Scope),
				set("x-partner-credential", keyID),
				set("x-partner-tier", "standard"),
			},
			HeadersToRemove: []string{"authorization"},
		}},
		DynamicMetadata: &structpb.Struct{Fields: map[string]*structpb.Value{
			"partner_id":    structpb.NewStringValue(partnerID),
			"tier":          structpb.NewStringValue("standard"),
			"credential_id": structpb.NewStringValue(keyID),
		}},
	}
	fixed, err := extauthz.NewFixed(msg)
	if err != nil {
		panic(err) // a fixed message of valid strings
	}
	return &Baseline{msg: msg, fixed: fixed}
}

// Answer is [extauthz.Server.Answer] for the baseline.
func (b *Baseline) Answer(ctx context.Context, req *authv3.CheckRequest) (any, bool, error) {
	return b.fixed.Answer(ctx, req)
}

// Register registers the baseline's Authorization service on g, which
// must be made with [app.CheckTransport]'s options, as partnergate's is.
func (b *Baseline) Register(g grpc.ServiceRegistrar) { b.fixed.Register(g) }

// Check answers OK, as the served baseline does. The response is shared
// and never mutated.
func (b *Baseline) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return b.fixed.Check(ctx, req)
}

// Conventional is the Baseline as one writes a do-nothing ext_authz server
// with go-control-plane: it implements the generated Authorization service
// and returns the same response, which grpc-go's default codec marshals on
// every call. Served with grpc-go's default settings, it is the floor a
// partner edge meets with any Go ext_authz server; [Baseline], served as
// partnergate is, is the stricter one the targets are measured against.
type Conventional struct {
	authv3.UnimplementedAuthorizationServer
	resp *authv3.CheckResponse
}

// Conventional returns b's response as a conventional server.
func (b *Baseline) Conventional() *Conventional { return &Conventional{resp: b.msg} }

// Check answers OK. The response is shared and never mutated.
func (c *Conventional) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return c.resp, nil
}
