package extauthz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/partnergate/partnergate/authz"
	"github.com/partnergate/partnergate/internal/clientaddr"
	"github.com/partnergate/partnergate/internal/peercert"
)

// Decider makes the decision; *authz.Decider implements it.
type Decider interface {
	Decide(ctx context.Context, req authz.Request) (authz.Decision, error)
	// Realm names the protection space of WWW-Authenticate challenges.
	Realm() string
}

var _ Decider = (*authz.Decider)(nil)

// Metrics records each Check's latency by outcome; *telemetry.Metrics
// implements it.
type Metrics interface {
	ObserveCheck(took time.Duration, allowed bool, err error)
}

// Tracing starts a span per Check; *telemetry.Tracing implements it.
type Tracing interface {
	// Enabled reports whether spans are recorded.
	Enabled() bool
	// StartCheck starts the span of a Check of the request whose headers
	// request carries, and returns the function that ends it with the
	// Check's error.
	StartCheck(ctx context.Context, request propagation.TextMapCarrier) (context.Context, func(error))
}

// Options configures a [Server].
type Options struct {
	// Decider is required.
	Decider Decider
	// Metrics observes each Check's latency and outcome; nil observes
	// nothing.
	Metrics Metrics
	// Tracing records a span per Check; nil or disabled records none.
	Tracing Tracing
	// Source says where the client address comes from: the zero value is
	// Envoy's attributes.source.address (the peer that connected), or an
	// x-forwarded-for entry past trusted hops, counted from the right as
	// Envoy's xff_num_trusted_hops counts it. No other header is read.
	Source clientaddr.Resolver
	// Logger receives recovered panics; nil discards them.
	Logger *slog.Logger
	// PeerCertificates reads the client certificates Envoy forwards; nil
	// means a [peercert.Reader] with its default cache.
	PeerCertificates *peercert.Reader
	// AllowResponses is how many credentials' allow responses are kept
	// built and encoded, one per API key in use, one per OAuth2 client
	// (default 16,384). Past it, an allow builds and encodes its response
	// again.
	AllowResponses int
}

// Server answers Envoy's Check. It is safe for concurrent use.
type Server struct {
	decider Decider
	source  clientaddr.Resolver
	realm   string
	allowed *allowMemo
	deny    denyHeaders
	peers   *peercert.Reader
	// respond is what the service answers with: [Server.respond]
	// observed and recovered, or a fixed answer ([NewFixed]).
	respond respondFunc
}

// respondFunc answers one Check.
type respondFunc = func(context.Context, *authv3.CheckRequest) (response, error)

var _ authv3.AuthorizationServer = (*Server)(nil)

// New validates opts and returns a Server.
func New(opts Options) (*Server, error) {
	if opts.Decider == nil {
		return nil, errors.New("extauthz: Options.Decider is required")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{decider: opts.Decider, source: opts.Source, realm: opts.Decider.Realm(), allowed: newAllowMemo(opts.AllowResponses), peers: opts.PeerCertificates}
	if s.peers == nil {
		s.peers = peercert.NewReader(peercert.Options{})
	}
	s.deny = newDenyHeaders(s.realm)
	s.respond = observe(opts.Metrics, opts.Tracing, recoverPanic(s.answer, log))
	return s, nil
}

// NewFixed returns a Server that answers every Check with resp, encoded
// once, sent as partnergate sends its memoised allows: the do-nothing
// floor a load benchmark measures partnergate against.
func NewFixed(resp *authv3.CheckResponse) (*Server, error) {
	r := response{message: resp, allowed: resp.GetOkResponse() != nil}
	enc, err := encode(resp)
	if err != nil {
		return nil, err
	}
	r.wire = enc
	return &Server{respond: func(context.Context, *authv3.CheckRequest) (response, error) { return r, nil }}, nil
}

// Register registers the Authorization service on g. Allow responses
// from the memo are sent as their encoding, so g must be made with
// [ServerOption]; under a unary interceptor, which may read the reply,
// the message is sent instead.
func (s *Server) Register(g grpc.ServiceRegistrar) {
	g.RegisterService(&serviceDesc, service{respond: s.respond})
}

// Check decides one request. Denials are returned in the response; only
// faults are returned as errors.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	r, err := s.respond(ctx, req)
	return r.message, err
}

// Answer is Check as the service answers it, without the transport: the
// reply the Check server sends (the response's encoding, for [Codec],
// when it has one, else the CheckResponse) and whether it allows the
// request. It is for measuring the handler on its own.
func (s *Server) Answer(ctx context.Context, req *authv3.CheckRequest) (reply any, allowed bool, err error) {
	r, err := s.respond(ctx, req)
	if err != nil {
		return nil, false, err
	}
	return r.reply(), r.allowed, nil
}

// answer decides req and builds its response.
func (s *Server) answer(ctx context.Context, req *authv3.CheckRequest) (response, error) {
	h := requestHeaders(req.GetAttributes().GetRequest().GetHttp())
	d, err := s.decider.Decide(ctx, checkRequest(req, h, s.source, s.peers))
	if err != nil {
		return response{}, faultStatus(err)
	}
	if d.Allowed() {
		return s.allow(&d, h), nil
	}
	return response{message: s.denial(&d)}, nil
}

// faultStatus maps a fault of the decision to the gRPC error Envoy fails
// closed on (failure_mode_allow: false): UNAVAILABLE for what a retry on
// another replica may cure, the context's own code, INTERNAL otherwise.
// The message never carries the cause.
func faultStatus(err error) error {
	for _, unavailable := range []error{authz.ErrNotReady, authz.ErrStale, authz.ErrKeysUnavailable} {
		if errors.Is(err, unavailable) {
			return status.Error(codes.Unavailable, unavailable.Error())
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Internal, authz.ErrInternal.Error())
}

// recoverPanic returns respond with a panic turned into an Internal error,
// so that a bug denies one request (Envoy fails closed) instead of killing
// the process; wrapped inside the observer, the panic is observed as an
// error. It wraps the handler rather than intercepting the RPC: grpc-go
// allocates two objects per call to run a unary interceptor.
func recoverPanic(respond respondFunc, log *slog.Logger) respondFunc {
	return func(ctx context.Context, req *authv3.CheckRequest) (resp response, err error) {
		defer func() {
			if r := recover(); r != nil {
				log.Error("panic in handler", "method", authv3.Authorization_Check_FullMethodName, "panic", fmt.Sprint(r))
				resp, err = response{}, status.Error(codes.Internal, authz.ErrInternal.Error())
			}
		}()
		return respond(ctx, req)
	}
}

// observe returns respond observed: each call's latency and outcome into
// m, and, with tracing enabled, a Check span that continues the trace of
// the RPC or, when Envoy does not trace its ext_authz call, of the HTTP
// request being authorized (whose headers the span reads). m and t may
// each be nil.
func observe(m Metrics, t Tracing, respond respondFunc) respondFunc {
	tracing := t != nil && t.Enabled()
	if m == nil && !tracing {
		return respond
	}
	return func(ctx context.Context, req *authv3.CheckRequest) (response, error) {
		var end func(error)
		if tracing {
			ctx, end = t.StartCheck(ctx, traceCarrier{requestHeaders(req.GetAttributes().GetRequest().GetHttp())})
		}
		start := time.Now()
		resp, err := respond(ctx, req)
		if m != nil {
			m.ObserveCheck(time.Since(start), resp.allowed, err)
		}
		if end != nil {
			end(err)
		}
		return resp, err
	}
}
