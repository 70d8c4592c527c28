package extauthz

import (
	"context"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
)

// response is one Check's answer.
type response struct {
	// message is the CheckResponse.
	message *authv3.CheckResponse
	// wire is message encoded, or nil. The allow memo's responses carry
	// it, made when the response is, so that a partner's repeated
	// requests are answered without marshalling.
	wire *encoded
	// allowed reports whether message allows the request.
	allowed bool
}

// reply is what the service sends for r: its encoding when it has one,
// else its message.
func (r response) reply() any {
	if r.wire != nil {
		return r.wire
	}
	return r.message
}

// serviceDesc is the generated service description
// (authv3.Authorization_ServiceDesc) with its own Check handler, which can
// reply with an [encoded] message. TestServiceDescAnswersAsGenerated holds
// it to answering exactly as the generated one does.
var serviceDesc = func() grpc.ServiceDesc {
	d := authv3.Authorization_ServiceDesc
	d.Methods = []grpc.MethodDesc{{MethodName: "Check", Handler: checkHandler}}
	return d
}()

// service is what Register registers: an AuthorizationServer, as the
// service description requires, over respond.
type service struct {
	authv3.UnimplementedAuthorizationServer
	respond respondFunc
}

func (s service) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	r, err := s.respond(ctx, req)
	return r.message, err
}

// checkHandler is the generated Check handler but for the reply, which
// is the response's encoding when it has one.
func checkHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	req := new(authv3.CheckRequest)
	if err := dec(req); err != nil {
		return nil, err
	}
	s := srv.(service)
	if interceptor != nil {
		info := &grpc.UnaryServerInfo{Server: srv, FullMethod: authv3.Authorization_Check_FullMethodName}
		return interceptor(ctx, req, info, func(ctx context.Context, req any) (any, error) {
			return s.Check(ctx, req.(*authv3.CheckRequest))
		})
	}
	r, err := s.respond(ctx, req)
	if err != nil {
		return nil, err
	}
	return r.reply(), nil
}
