package forwardauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/partnergate/partnergate/authz"
)

// Decider makes the decision, the one the gRPC Check server makes;
// *authz.Decider implements it.
type Decider interface {
	Decide(ctx context.Context, r authz.Request) (authz.Decision, error)
}

// DecideFunc adapts a function to a [Decider], as [http.HandlerFunc] does
// a handler.
type DecideFunc func(ctx context.Context, r authz.Request) (authz.Decision, error)

// Decide implements [Decider].
func (f DecideFunc) Decide(ctx context.Context, r authz.Request) (authz.Decision, error) {
	return f(ctx, r)
}

// Options configures a [Handler].
type Options struct {
	// Decider is required.
	Decider Decider
	// Trusted are the proxies whose forwarded headers are honoured; the
	// zero value trusts none.
	Trusted Trusted
	// Realm names the protection space in WWW-Authenticate; it must be
	// the decider's (default "partnergate").
	Realm string
	// Ready reports whether the server can decide; nil means always.
	// ReadyPath answers it.
	Ready func() bool
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
	trusted Trusted
	ready   func() bool
	log     *slog.Logger

	challengeMissing, challengeInvalid, challengeScope string
}

var _ http.Handler = (*Handler)(nil)

// New validates opts and returns a Handler.
func New(opts Options) (*Handler, error) {
	if opts.Decider == nil {
		return nil, errors.New("forwardauth: Options.Decider is required")
	}
	realm := opts.Realm
	if realm == "" {
		realm = "partnergate"
	}
	h := &Handler{
		decider: opts.Decider,
		trusted: opts.Trusted,
		ready:   opts.Ready,
		log:     opts.Logger,
		// RFC 6750 §3: the challenge of the gRPC server's denials.
		challengeMissing: `Bearer realm="` + realm + `"`,
		challengeInvalid: `Bearer realm="` + realm + `", error="invalid_token"`,
		challengeScope:   `Bearer realm="` + realm + `", error="insufficient_scope", scope="`,
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
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			// A bug denies one request (the proxy fails closed on 500)
			// instead of killing the process.
			h.log.Error("panic in handler", "path", r.URL.Path, "panic", fmt.Sprint(p))
			writeFault(w, http.StatusInternalServerError)
		}
	}()
	path := r.URL.Path
	switch {
	case path == AuthorizePath:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// Every proxy asks with GET; anything else is a config to fix,
			// and 405 fails closed at all of them.
			w.Header()["Allow"] = []string{"GET, HEAD"}
			writeFault(w, http.StatusMethodNotAllowed)
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
		v := verdict{status: h.status(authz.PublicBadRequest, m), public: authz.PublicBadRequest}
		v.write(w, m)
		return
	}
	d, err := h.decider.Decide(r.Context(), o.request(r))
	if err != nil {
		writeFault(w, faultStatus(err))
		return
	}
	v := h.verdict(&d, m)
	if m == modeEnvoy && v.allowed {
		v.remove = removals(r.Header, &v)
	}
	v.write(w, m)
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

// verdict turns d into the answer: the gRPC server's status, headers and
// body, but for a 400, which GET /authorize answers as 403 (nginx turns
// any status but 401 and 403 into a 500).
func (h *Handler) verdict(d *authz.Decision, m mode) verdict {
	if d.Allowed() {
		v := verdict{allowed: true}
		v.identity = [4]struct{ name, value string }{
			{HeaderPartnerID, d.PartnerID},
			{HeaderPartnerScopes, d.Scopes},
			{HeaderPartnerCredential, d.CredentialID},
			{HeaderPartnerTier, d.Tier},
		}
		return v
	}
	public := d.Reason.Public()
	v := verdict{status: h.status(public, m), public: public, requestID: d.RequestID}
	switch {
	case d.Reason == authz.ReasonMissingCredential:
		v.challenge = h.challengeMissing
	case public == authz.PublicInvalidCredentials:
		v.challenge = h.challengeInvalid
	case public == authz.PublicInsufficientScope:
		v.challenge = h.challengeScope + d.Required + `"`
	}
	return v
}

// status is the HTTP status of a denial with the public reason.
func (h *Handler) status(public string, m mode) int {
	switch public {
	case authz.PublicInvalidCredentials:
		return http.StatusUnauthorized
	case authz.PublicBadRequest:
		if m == modeEnvoy {
			return http.StatusBadRequest
		}
	}
	return http.StatusForbidden
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

func (m mode) String() string {
	if m == modeEnvoy {
		return "envoy"
	}
	return "authorize"
}
