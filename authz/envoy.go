package authz

import (
	"context"
	"encoding/pem"
	"errors"
	"net/url"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ContextKeyRequiredScopes is the per-route context extension that lists
// the scopes a route requires, space-separated, all required.
const ContextKeyRequiredScopes = "required_scopes"

var _ authv3.AuthorizationServer = (*Decider)(nil)

// Check decides one request. Denials are returned in the response; only
// faults are returned as errors.
func (s *Decider) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	r, err := s.Respond(ctx, req)
	return r.Message, err
}

// checkRequest adapts Envoy's CheckRequest to a [Request].
func checkRequest(req *authv3.CheckRequest, h envoyHeaders) Request {
	attrs := req.GetAttributes()
	http := attrs.GetRequest().GetHttp()
	src := attrs.GetSource()
	return Request{
		Method:          http.GetMethod(),
		Scheme:          http.GetScheme(),
		Host:            http.GetHost(),
		Path:            http.GetPath(),
		Headers:         h.accessor(),
		SourceAddr:      src.GetAddress().GetSocketAddress().GetAddress(),
		SourcePrincipal: src.GetPrincipal(),
		PeerCertificate: peerCertificate(src.GetCertificate()),
		RequiredScopes:  attrs.GetContextExtensions()[ContextKeyRequiredScopes],
		ID:              http.GetId(),
	}
}

// Respond is Check, answering with the response's encoding too when it
// has one ready: the Check server sends those bytes as they are.
func (s *Decider) Respond(ctx context.Context, req *authv3.CheckRequest) (Response, error) {
	h := requestHeaders(req.GetAttributes().GetRequest().GetHttp())
	r := checkRequest(req, h)
	d, err := s.Decide(ctx, r)
	if err != nil {
		return Response{}, faultStatus(err)
	}
	if d.Allowed() {
		resp, _ := s.allow(&d, h)
		return resp, nil
	}
	return Response{Message: s.deny(&d)}, nil
}

func (s *Decider) denyHeaders() *denyHeaders { return &s.envoyDeny }

// faultStatus maps a fault of Decide to the gRPC error Envoy fails closed
// on.
func faultStatus(err error) error {
	for _, unavailable := range []error{ErrNotReady, ErrStale, ErrKeysUnavailable} {
		if errors.Is(err, unavailable) {
			return status.Error(codes.Unavailable, unavailable.Error())
		}
	}
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Internal, ErrInternal.Error())
}

// peerCertificate returns the DER bytes of the client certificate Envoy
// forwards in attributes.source.certificate (URL-encoded PEM), or nil if
// there is none or it cannot be read: a certificate-bound token is then
// refused by the verifier, which is the safe outcome.
func peerCertificate(encoded string) []byte {
	if encoded == "" {
		return nil
	}
	raw, err := url.PathUnescape(encoded) // not QueryUnescape: "+" is base64, not a space
	if err != nil {
		return nil
	}
	block, _ := pem.Decode([]byte(raw))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil
	}
	return block.Bytes
}
