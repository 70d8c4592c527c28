package loadgen

import (
	"context"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/partnergate/partnergate/authz"
	"github.com/partnergate/partnergate/internal/wire"
)

// Baseline is an ext_authz server that does no work: it answers every
// Check with the same OK response partnergate gives an allowed API key
// (four identity headers, the credential removed, dynamic metadata), built
// and encoded once. It is the floor partnergate is measured against, and
// is served as partnergate is ([authz.Register]), so it sends that
// encoding without marshalling, as partnergate sends its memoised allows.
type Baseline struct {
	resp authz.Response
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
	enc, err := wire.Encode(msg)
	if err != nil {
		panic(err) // a fixed message of valid strings
	}
	return &Baseline{resp: authz.Response{Message: msg, Wire: enc, Allowed: true}}
}

// Respond answers OK. The response is shared and never mutated.
func (b *Baseline) Respond(context.Context, *authv3.CheckRequest) (authz.Response, error) {
	return b.resp, nil
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
func (b *Baseline) Conventional() *Conventional { return &Conventional{resp: b.resp.Message} }

// Check answers OK. The response is shared and never mutated.
func (c *Conventional) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return c.resp, nil
}
