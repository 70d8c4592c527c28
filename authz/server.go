package authz

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/jwtverify"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/peercert"
	"github.com/partnergate/partnergate/internal/policy"
)

// Index is the hot, in-memory view of partners and keys that Check reads.
type Index interface {
	// Ready reports whether the index holds a full snapshot.
	Ready() bool
	// KeyMemo returns the record of a public key id, and memory the index
	// keeps with that record, or nil. Check keeps the key's allow response
	// there, one pointer from the record it has just read rather than
	// through a table of its own; the index must forget the memo with the
	// record, when the key is written.
	KeyMemo(ctx context.Context, id string) (rec partner.KeyRecord, memo *atomic.Value, ok bool)
	// Partner returns a partner by id.
	Partner(id string) (*partner.Partner, bool)
	// Client returns the partner that registered the OAuth2 client
	// (issuer, clientID).
	Client(issuer, clientID string) (partnerID string, ok bool)
	// TokenRevoked reports whether the access token (issuer, jti) is
	// revoked.
	TokenRevoked(issuer, jti string) bool
}

// Auditor receives every decision once it is made. It must not block,
// nor keep d once it returns: the Decision is reused for a later Check
// (keep [Decision.Clone] instead).
type Auditor interface {
	Decision(ctx context.Context, d *Decision)
}

// ContextKeyRequiredScopes is the per-route context extension that lists
// the scopes a route requires, space-separated, all required.
const ContextKeyRequiredScopes = "required_scopes"

// Options configures a [Server].
type Options struct {
	// Index is required.
	Index Index
	// Keys is the API key format; required.
	Keys apikey.Format
	// Hasher verifies key digests; required.
	Hasher *apikey.Hasher
	// Policy maps routes without required_scopes to scopes. Nil means the
	// empty policy that denies every such route.
	Policy *policy.Policy
	// Tokens verifies OAuth2 access tokens; nil refuses them (a JWT is
	// then a malformed API key).
	Tokens TokenVerifier
	// PeerCertificates reads the client certificate Envoy forwards;
	// nil means a [peercert.Reader] with its default cache.
	PeerCertificates *peercert.Reader
	// Proofs verifies DPoP proofs (RFC 9449); nil refuses the DPoP
	// scheme as a malformed credential.
	Proofs ProofVerifier
	// Auditor receives decisions; nil discards them.
	Auditor Auditor
	// Usage learns of each allowed API key; nil records nothing.
	Usage Usage
	// UsageResolution is the precision Usage keeps: uses of a key less
	// than this after the one last reported are not reported (0 reports
	// every use).
	UsageResolution time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Realm names the protection space in WWW-Authenticate (default
	// "partnergate").
	Realm  string
	Logger *slog.Logger
}

// Server implements envoy.service.auth.v3.Authorization.
type Server struct {
	authv3.UnimplementedAuthorizationServer

	index    Index
	keys     apikey.Format
	hasher   *apikey.Hasher
	policy   *policy.Policy
	tokens   TokenVerifier
	peers    *peercert.Reader
	proofs   ProofVerifier
	auditor  Auditor
	usage    Usage
	usageRes time.Duration
	now      func() time.Time
	realm    string
	log      *slog.Logger
	allowed  *allowMemo

	denyHeaders denyHeaders
}

var _ authv3.AuthorizationServer = (*Server)(nil)

// New validates opts and returns a Server.
func New(opts Options) (*Server, error) {
	var errs []error
	if opts.Index == nil {
		errs = append(errs, errors.New("authz: Options.Index is required"))
	}
	if opts.Keys.Prefix() == "" {
		errs = append(errs, errors.New("authz: Options.Keys is required"))
	}
	if opts.Hasher == nil {
		errs = append(errs, errors.New("authz: Options.Hasher is required"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s := &Server{
		index:    opts.Index,
		keys:     opts.Keys,
		hasher:   opts.Hasher,
		policy:   opts.Policy,
		tokens:   opts.Tokens,
		peers:    opts.PeerCertificates,
		proofs:   opts.Proofs,
		auditor:  opts.Auditor,
		usage:    opts.Usage,
		usageRes: opts.UsageResolution,
		now:      opts.Now,
		realm:    opts.Realm,
		log:      opts.Logger,
		allowed:  newAllowMemo(),
	}
	if s.policy == nil {
		s.policy = policy.Empty(policy.Deny)
	}
	if s.peers == nil {
		s.peers = peercert.NewReader(peercert.Options{})
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.realm == "" {
		s.realm = "partnergate"
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.denyHeaders = newDenyHeaders(s.realm)
	return s, nil
}

// errNotReady is returned while the index is cold, so Envoy fails closed
// and the health service keeps the replica out of rotation; errStale once
// a loaded index says it can no longer be trusted ([Staler]).
var (
	errNotReady = status.Error(codes.Unavailable, "partnergate: not ready")
	errStale    = status.Error(codes.Unavailable, "partnergate: cache stale")
)

// Staler is implemented by an [Index] that, once loaded, can stop being
// trusted: one cut off from its store for too long. Check then answers
// "cache stale" rather than the "not ready" of start-up, so the operator
// is told which of the two it is.
type Staler interface {
	// Stale reports whether the index may be missing changes.
	Stale() bool
}

// notReady returns the error for a Check the index is not ready for.
func (s *Server) notReady() error {
	if st, ok := s.index.(Staler); ok && st.Stale() {
		return errStale
	}
	return errNotReady
}

// Check decides one request. Denials are returned in the response; only
// faults are returned as errors.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	r, err := s.Respond(ctx, req)
	return r.Message, err
}

// Respond is Check, answering with the response's encoding too when it
// has one ready: the Check server sends those bytes as they are.
func (s *Server) Respond(ctx context.Context, req *authv3.CheckRequest) (Response, error) {
	if !s.index.Ready() {
		return Response{}, s.notReady()
	}
	d, err := s.decide(ctx, req)
	if err != nil {
		return Response{}, err
	}
	defer releaseDecision(d)
	// Never allow on a request Envoy has already given up on.
	if err := ctx.Err(); err != nil {
		return Response{}, status.FromContextError(err).Err()
	}
	if s.auditor != nil {
		s.auditor.Decision(ctx, d)
	}
	if d.Allowed() {
		r, e := s.allow(d, requestHeaders(req.GetAttributes().GetRequest().GetHttp()))
		s.recordUse(d, e)
		return r, nil
	}
	return Response{Message: s.deny(d)}, nil
}

// decide runs the decision order. It returns an error only for faults.
func (s *Server) decide(ctx context.Context, req *authv3.CheckRequest) (*Decision, error) {
	attrs := req.GetAttributes()
	http := attrs.GetRequest().GetHttp()
	h := requestHeaders(http)
	d := decisions.Get().(*Decision)
	d.RequestID = requestID(http, h)
	d.Method = http.GetMethod()
	d.Path = http.GetPath()
	d.ClientAddr = attrs.GetSource().GetAddress().GetSocketAddress().GetAddress()
	if policy.BadPath(d.Path) {
		// Whoever asks: an upstream that normalises this path would serve
		// another route than any rule here was matched against.
		return d.deny(ReasonBadRequest), nil
	}

	cred, reason := findCredential(h)
	if reason != "" {
		return d.deny(reason), nil
	}
	d.credentialHeader = cred.header
	if s.tokens != nil && cred.header == headerAuthorization && jwtverify.LooksLikeJWT(cred.value) {
		return s.decideToken(ctx, d, attrs, cred)
	}
	if cred.dpop {
		// DPoP carries access tokens only, and only where proofs are
		// checked.
		return d.deny(ReasonMalformedCredential), nil
	}

	key, err := s.keys.Parse(cred.value)
	if err != nil {
		// Format and checksum refuse typos and garbage before any index
		// is touched. A bearer token that is no JWT and does not even
		// start like one of our keys is most likely an IdP's opaque
		// token: the same 401, audited for what it is.
		if cred.header == headerAuthorization && !jwtverify.LooksLikeJWT(cred.value) && !hasPrefixFold(cred.value, s.keys.Prefix()) {
			return d.deny(ReasonOpaqueToken), nil
		}
		return d.deny(ReasonMalformedCredential), nil
	}
	d.CredentialID = key.ID()
	d.apiKey = true
	rec, memo, ok := s.index.KeyMemo(ctx, key.ID())
	if !ok {
		return d.deny(ReasonUnknownCredential), nil
	}
	match, err := s.hasher.Verify(key, rec.Digest, rec.PepperVersion)
	if err != nil {
		// A digest made with a pepper this server lacks is a deployment
		// fault, not the caller's: fail closed, loudly.
		s.log.Error("cannot verify key: pepper missing", "key_id", rec.ID, "pepper_version", rec.PepperVersion)
		return nil, status.Error(codes.Internal, "partnergate: internal error")
	}
	if !match {
		return d.deny(ReasonWrongSecret), nil
	}
	d.PartnerID = rec.PartnerID
	d.memo = memo
	if rec.Revoked {
		return d.deny(ReasonRevokedCredential), nil
	}
	if rec.ExpiresAt != 0 && s.now().UnixNano() >= rec.ExpiresAt {
		return d.deny(ReasonExpiredCredential), nil
	}
	p, reason := s.activePartner(d)
	if reason != "" {
		return d.deny(reason), nil
	}
	d.Scopes = effectiveScopes(rec.Scopes, p.Scopes)
	return s.authorize(d, attrs.GetContextExtensions(), h), nil
}

// activePartner looks up d's partner, common to every credential kind, and
// records its tier and limits in d; a partner unknown or not active is the
// reason to deny.
func (s *Server) activePartner(d *Decision) (*partner.Partner, Reason) {
	p, ok := s.index.Partner(d.PartnerID)
	if !ok {
		return nil, ReasonUnknownPartner
	}
	d.Tier = p.Tier
	d.Limits = p.Limits
	if p.State != partner.Active {
		return nil, ReasonPartnerSuspended
	}
	return p, ""
}

// authorize runs the steps after authentication, common to every
// credential kind: the route's scopes, then the tenant selectors.
func (s *Server) authorize(d *Decision, ext map[string]string, h headers) *Decision {
	if reason := s.routeScopes(d, ext); reason != "" {
		return d.deny(reason)
	}
	if tenantMismatch(h, d.Path, d.PartnerID) {
		return d.deny(ReasonTenantMismatch)
	}
	d.Reason = ReasonAllowed
	return d
}

// routeScopes checks the route's required scopes: the route's own
// required_scopes when Envoy sends them, else the policy file. A route
// that declares nothing is denied unless the operator opened it.
func (s *Server) routeScopes(d *Decision, ext map[string]string) Reason {
	if v := strings.TrimSpace(ext[ContextKeyRequiredScopes]); v != "" {
		if strings.ContainsAny(v, `"\,`) {
			// Not a scope list: a broken route config fails closed.
			return ReasonRouteNotAllowed
		}
		d.Required = d.requiredBuf[:0]
		for f := range strings.FieldsSeq(v) {
			d.Required = append(d.Required, f)
		}
	} else {
		m := s.policy.Match(d.Method, d.Path)
		if !m.Open {
			return ReasonRouteNotAllowed
		}
		d.Required = m.Scopes
	}
	for _, want := range d.Required {
		if !hasScope(d.Scopes, want) {
			return ReasonInsufficientScope
		}
	}
	return ""
}

// effectiveScopes returns the key's scopes that the partner still holds:
// narrowing a partner's grants narrows every key at once. The common case,
// nothing narrowed, returns keyScopes itself without allocating.
func effectiveScopes(keyScopes string, grants partner.Scopes) string {
	all := true
	for s := range strings.FieldsSeq(keyScopes) {
		if !grants.Has(s) {
			all = false
			break
		}
	}
	if all {
		return keyScopes
	}
	var kept []string
	for s := range strings.FieldsSeq(keyScopes) {
		if grants.Has(s) {
			kept = append(kept, s)
		}
	}
	return strings.Join(kept, " ")
}

// hasScope reports whether the space-separated list holds want.
func hasScope(list, want string) bool {
	for s := range strings.FieldsSeq(list) {
		if s == want {
			return true
		}
	}
	return false
}

// maxIDRun is the longest run of letters and digits a request id may
// hold: an API key's secret is 49 in a row, a UUID's longest 12.
const maxIDRun = 32

// requestID returns the request's id, if it is a sane token; it is echoed
// in deny bodies, logs and spans, so anything else is dropped, and so is
// an id that could be a credential sent in the wrong header.
func requestID(http *authv3.AttributeContext_HttpRequest, h headers) string {
	id := http.GetId()
	if id == "" {
		id, _ = h.get("x-request-id")
	}
	if len(id) > 128 {
		return ""
	}
	run := 0
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			if run++; run > maxIDRun {
				return ""
			}
		case c == '-' || c == '_' || c == '.' || c == ':':
			run = 0
		default:
			return ""
		}
	}
	return id
}

// hasPrefixFold reports whether s starts with prefix, in any case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
