package forwardauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/partnergate/partnergate/authz"
)

// Decider makes the decision, the one the gRPC Check server makes;
// *authz.Decider implements it.
type Decider interface {
	Decide(ctx context.Context, r authz.Request) (authz.Decision, error)
	// Realm names the protection space of WWW-Authenticate challenges.
	Realm() string
}

var _ Decider = (*authz.Decider)(nil)

// Metrics records each decision's latency by outcome, with the Check
// server's; *telemetry.Metrics implements it.
type Metrics interface {
	ObserveCheck(took time.Duration, allowed bool, err error)
}

// Tracing starts a span per decision; *telemetry.Tracing implements it.
type Tracing interface {
	// Enabled reports whether spans are recorded.
	Enabled() bool
	// StartCheck starts the span of a check of the request whose headers
	// request carries, and returns the function that ends it with the
	// check's error.
	StartCheck(ctx context.Context, request propagation.TextMapCarrier) (context.Context, func(error))
}

// Options configures a [Handler].
type Options struct {
	// Decider is required.
	Decider Decider
	// Trusted are the proxies whose forwarded headers are honoured; the
	// zero value trusts none.
	Trusted Trusted
	// Ready reports whether the server can decide; nil means always.
	// ReadyPath answers it.
	Ready func() bool
	// Metrics observes each decision's latency and outcome; nil observes
	// nothing.
	Metrics Metrics
	// Tracing records a span per decision, continuing the trace of the
	// request the proxy authorizes; nil or disabled records none.
	Tracing Tracing
	// Logger receives broken proxy requests and recovered panics; nil
	// discards them.
	Logger *slog.Logger
}

// Handler is the HTTP forward-auth server: an [http.Handler] that answers
// each question a proxy asks with the decision and the headers and body
// the gRPC Check server would give. It holds no lock and is safe for
// concurrent use.
type Handler struct {
	decider Decider
	realm   string
	trusted Trusted
	ready   func() bool
	metrics Metrics
	tracing Tracing
	log     *slog.Logger
}

var _ http.Handler = (*Handler)(nil)

// New validates opts and returns a Handler.
func New(opts Options) (*Handler, error) {
	if opts.Decider == nil {
		return nil, errors.New("forwardauth: Options.Decider is required")
	}
	h := &Handler{
		decider: opts.Decider,
		realm:   opts.Decider.Realm(),
		trusted: opts.Trusted,
		ready:   opts.Ready,
		metrics: opts.Metrics,
		log:     opts.Logger,
	}
	if opts.Tracing != nil && opts.Tracing.Enabled() {
		h.tracing = opts.Tracing
	}
	if h.ready == nil {
		h.ready = func() bool { return true }
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h, nil
}

// ServeHTTP implements [http.Handler]. The path is matched as sent, never
// cleaned: a redirect to a cleaned path would be a status no proxy reads
// as allow or deny.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case path == AuthorizePath:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// Every proxy asks with GET; anything else is a config to fix,
			// and 405 fails closed at all of them.
			w.Header()["Allow"] = []string{"GET, HEAD"}
			w.Header()["Cache-Control"] = noStore
			http.Error(w, "partnergate: ask GET /authorize", http.StatusMethodNotAllowed)
			return
		}
		h.authorize(w, r, modeAuthorize)
	case strings.HasPrefix(path, EnvoyPrefix+"/"):
		h.authorize(w, r, modeEnvoy)
	case path == ReadyPath && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		w.Header()["Cache-Control"] = noStore
		if !h.ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	default:
		http.NotFound(w, r)
	}
}

// authorize answers one question of a proxy in mode m.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, m mode) {
	peer := peerAddr(r)
	trusted := h.trusted.Contains(peer)
	var o original
	var err error
	if m == modeAuthorize {
		o, err = readAuthorize(r, peer, trusted)
	} else {
		o, err = readEnvoy(r, EnvoyPrefix, peer, trusted)
	}
	if err != nil {
		// The proxy's config is broken (or someone who is no proxy asks
		// Envoy's path): refuse, saying which part, never the values,
		// which may carry a credential in a query string.
		h.log.Warn("forwarded request unreadable: check the proxy's config (docs/proxies.md)",
			"peer", peer.String(), "trusted", trusted, "mode", m.String())
		d := authz.Decision{Reason: authz.ReasonBadRequest}
		writeDeny(w, m, h.status(&d, m), d.Reason.Public(), "", d.Body())
		return
	}
	d, err := h.decide(r, o.request(r))
	switch {
	case err != nil:
		writeFault(w, faultStatus(err))
	case d.Allowed():
		id := identity(d.Identity())
		for i := range id {
			id[i].Name = canonical(id[i].Name)
		}
		var remove []string
		if m == modeEnvoy {
			remove = removals(r.Header, &id)
		}
		writeAllow(w, m, &id, remove)
	default:
		writeDeny(w, m, h.status(&d, m), d.Reason.Public(), authz.Challenge(h.realm, &d), d.Body())
	}
}

// decide is the decision, observed as the Check server observes its own
// (latency and outcome into the same metrics, a Check span continuing
// the trace of the request being authorized, whose headers the proxy
// forwarded), with a panic turned into [authz.ErrInternal]: a bug fails
// one request closed instead of killing the process, and is observed as
// an error.
func (h *Handler) decide(r *http.Request, req authz.Request) (d authz.Decision, err error) {
	ctx := r.Context()
	var end func(error)
	if h.tracing != nil {
		ctx, end = h.tracing.StartCheck(ctx, propagation.HeaderCarrier(r.Header))
	}
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("panic in handler", "method", "forwardauth.Decide", "panic", fmt.Sprint(p))
			d, err = authz.Decision{}, authz.ErrInternal
		}
		if h.metrics != nil {
			h.metrics.ObserveCheck(time.Since(start), err == nil && d.Allowed(), err)
		}
		if end != nil {
			end(err)
		}
	}()
	return h.decider.Decide(ctx, req)
}

// request is the transport-neutral request to decide.
func (o *original) request(r *http.Request) authz.Request {
	req := authz.Request{
		Method:         o.method,
		Scheme:         o.scheme,
		Host:           o.host,
		Path:           o.uri,
		Headers:        authz.MultiHeaders(r.Header),
		RequiredScopes: o.scopes,
	}
	if o.client.IsValid() {
		req.SourceAddr = o.client.String()
	}
	return req
}

// status is the HTTP status of a denial: the gRPC server's, but for a
// 400, which GET /authorize answers as 403 (nginx turns any status but
// 401 and 403 into a 500).
func (h *Handler) status(d *authz.Decision, m mode) int {
	s := d.Reason.Status()
	if s != http.StatusUnauthorized && s != http.StatusForbidden && m == modeAuthorize {
		return http.StatusForbidden
	}
	return s
}

// faultStatus is the status of a fault: 503 for what a retry elsewhere
// may cure (a cold or stale cache, an issuer's keys not loaded), 500 for
// anything else.
func faultStatus(err error) int {
	switch {
	case errors.Is(err, authz.ErrNotReady), errors.Is(err, authz.ErrStale), errors.Is(err, authz.ErrKeysUnavailable),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
