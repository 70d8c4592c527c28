package loadgen

import (
	"context"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

// Baseline is an ext_authz server that does no work: it answers every
// Check with the same OK response partnergate gives an allowed API key
// (four identity headers, the credential removed, dynamic metadata), built
// once. It is the floor partnergate is measured against.
type Baseline struct {
	authv3.UnimplementedAuthorizationServer
	resp *authv3.CheckResponse
}

var _ authv3.AuthorizationServer = (*Baseline)(nil)

// NewBaseline returns a Baseline answering as for partnerID's key keyID.
func NewBaseline(partnerID, keyID string) *Baseline {
	set := func(k, v string) *corev3.HeaderValueOption {
		return &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: k, Value: v},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		}
	}
	return &Baseline{resp: &authv3.CheckResponse{
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
	}}
}

// Check answers OK. The response is shared and never mutated.
func (b *Baseline) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return b.resp, nil
}
