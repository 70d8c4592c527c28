package authz

import (
	"context"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
)

// RespondFunc is the signature of [Server.Respond], and of what wraps it
// on the Check server (observing, recovering from panics).
type RespondFunc = func(context.Context, *authv3.CheckRequest) (Response, error)

// Register registers the Authorization service on g, answering Check with
// respond. A response with an encoding ([Response.Wire]) is sent as
// those bytes, so g must marshal with the wire package's codec
// (wire.ServerOption); under a unary interceptor, which may read the
// reply, the message is sent instead.
func Register(g grpc.ServiceRegistrar, respond RespondFunc) {
	g.RegisterService(&serviceDesc, service{respond: respond})
}

// serviceDesc is the generated service description with its own Check
// handler, which can reply with a wire.Message.
var serviceDesc = func() grpc.ServiceDesc {
	d := authv3.Authorization_ServiceDesc
	d.Methods = []grpc.MethodDesc{{MethodName: "Check", Handler: checkHandler}}
	return d
}()

// service is what Register registers: an AuthorizationServer, as the
// service description requires, over respond.
type service struct {
	authv3.UnimplementedAuthorizationServer
	respond RespondFunc
}

func (s service) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	r, err := s.respond(ctx, req)
	return r.Message, err
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
	return r.Reply(), nil
}
