package authz

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/jwtverify"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/policy"
)

// Index is the hot, in-memory view of partners and credentials that a
// decision reads. It returns records only.
type Index interface {
	// Ready reports whether the index holds a full snapshot.
	Ready() bool
	// Key returns the record of a public key id.
	Key(ctx context.Context, id string) (partner.KeyRecord, bool)
	// Partner returns a partner by id.
	Partner(id string) (*partner.Partner, bool)
	// Client returns the partner that registered the OAuth2 client
	// (issuer, clientID).
	Client(issuer, clientID string) (partnerID string, ok bool)
	// TokenRevoked reports whether the access token (issuer, jti) is
	// revoked.
	TokenRevoked(issuer, jti string) bool
}

// Staler is implemented by an [Index] that, once loaded, can stop being
// trusted: one cut off from its store for too long. Decide then fails
// with [ErrStale] rather than the [ErrNotReady] of start-up, so the
// operator is told which of the two it is.
type Staler interface {
	// Stale reports whether the index may be missing changes.
	Stale() bool
}

// Auditor receives every decision once it is made. It must not block.
type Auditor interface {
	Decision(ctx context.Context, d Decision)
}

// Usage learns that an API key was allowed, so that operators can see
// when, and from where, each key was last used. Used is called for every
// allowed API-key request: it must not block or do I/O.
type Usage interface {
	Used(credentialID, clientAddr string, at time.Time)
}

// Faults: Decide returns these, wrapped or not, instead of a Decision,
// and a transport answers them so that the proxy fails closed (never as
// an allow, never as a denial the caller could mistake for its fault).
var (
	// ErrNotReady: the index has not loaded yet.
	ErrNotReady = errors.New("partnergate: not ready")
	// ErrStale: the index may be missing changes ([Staler]).
	ErrStale = errors.New("partnergate: cache stale")
	// ErrKeysUnavailable: a token's issuer has no keys loaded.
	ErrKeysUnavailable = errors.New("partnergate: token issuer keys unavailable")
	// ErrInternal: anything else, such as a digest made with a pepper
	// this server lacks. The cause is logged, never returned.
	ErrInternal = errors.New("partnergate: internal error")
)

// Options configures a [Decider].
type Options struct {
	// Index is required.
	Index Index
	// Keys is the API key format; required.
	Keys apikey.Format
	// Hasher verifies key digests; required.
	Hasher *apikey.Hasher
	// Policy maps routes that declare no scopes to scopes. Nil means the
	// empty policy that denies every such route.
	Policy *policy.Policy
	// Tokens verifies OAuth2 access tokens; nil refuses them (a JWT is
	// then a malformed API key).
	Tokens TokenVerifier
	// Proofs verifies DPoP proofs (RFC 9449); nil refuses the DPoP
	// scheme as a malformed credential.
	Proofs ProofVerifier
	// Certificates finds client certificates registered as partner
	// credentials; nil means certificates are no credentials, and no
	// partner's require_certificate can be met.
	Certificates CertificateIndex
	// Auditor receives decisions; nil discards them.
	Auditor Auditor
	// Usage learns of each allowed API key; nil records nothing.
	Usage Usage
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Realm names the protection space in WWW-Authenticate (default
	// "partnergate").
	Realm string
	// Logger receives faults; nil discards them.
	Logger *slog.Logger
}

// Decider makes decisions. It is safe for concurrent use, and Decide
// touches memory only.
type Decider struct {
	index   Index
	keys    apikey.Format
	hasher  *apikey.Hasher
	policy  *policy.Policy
	tokens  TokenVerifier
	proofs  ProofVerifier
	certs   CertificateIndex
	auditor Auditor
	usage   Usage
	now     func() time.Time
	realm   string
	log     *slog.Logger
}

// New validates opts and returns a Decider.
func New(opts Options) (*Decider, error) {
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
	s := &Decider{
		index:   opts.Index,
		keys:    opts.Keys,
		hasher:  opts.Hasher,
		policy:  opts.Policy,
		tokens:  opts.Tokens,
		proofs:  opts.Proofs,
		certs:   opts.Certificates,
		auditor: opts.Auditor,
		usage:   opts.Usage,
		now:     opts.Now,
		realm:   opts.Realm,
		log:     opts.Logger,
	}
	if s.policy == nil {
		s.policy = policy.Empty(policy.Deny)
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
	return s, nil
}

// Realm returns the protection space a transport names in
// WWW-Authenticate ([Options.Realm]).
func (s *Decider) Realm() string { return s.realm }

// Decide decides req. A denial is a Decision; an error is a fault
// ([ErrNotReady], [ErrStale], [ErrKeysUnavailable], [ErrInternal], or the
// context's error once ctx is done), which the transport must answer so
// that the proxy fails closed. Every Decision is given to the
// [Auditor], and an allowed API key to [Usage], before Decide returns.
func (s *Decider) Decide(ctx context.Context, req Request) (Decision, error) {
	if !s.index.Ready() {
		return Decision{}, s.notReady()
	}
	if req.Headers == nil {
		req.Headers = noHeaders{}
	}
	var d Decision
	if err := s.decide(ctx, &req, &d); err != nil {
		return Decision{}, err
	}
	// Never allow on a request the proxy has already given up on.
	if err := ctx.Err(); err != nil {
		return Decision{}, err
	}
	if s.auditor != nil {
		s.auditor.Decision(ctx, d)
	}
	if d.Allowed() && d.apiKey && s.usage != nil {
		s.usage.Used(d.CredentialID, d.ClientAddr, s.now())
	}
	return d, nil
}

// notReady returns the error for a request the index is not ready for.
func (s *Decider) notReady() error {
	if st, ok := s.index.(Staler); ok && st.Stale() {
		return ErrStale
	}
	return ErrNotReady
}

// decide runs the decision order into d. It returns an error only for
// faults.
func (s *Decider) decide(ctx context.Context, req *Request, d *Decision) error {
	d.RequestID = requestID(req.ID, req.Headers)
	d.Method = req.Method
	d.Path = req.Path
	d.ClientAddr = req.SourceAddr
	if policy.BadPath(d.Path) {
		// Whoever asks: an upstream that normalises this path would serve
		// another route than any rule here was matched against.
		d.deny(ReasonBadRequest)
		return nil
	}

	cert, ok := s.matchCertificate(req)
	if !ok {
		d.deny(ReasonAmbiguousCertificate)
		return nil
	}
	d.cert = cert
	cred, reason := findCredential(req.Headers)
	if reason == ReasonMissingCredential && cert != nil {
		// The verified client certificate is the credential.
		s.decideCertificate(req, d)
		return nil
	}
	if reason != "" {
		d.deny(reason)
		return nil
	}
	d.CredentialHeader = cred.header
	if s.tokens != nil && cred.header == headerAuthorization && jwtverify.LooksLikeJWT(cred.value) {
		return s.decideToken(ctx, req, d, cred)
	}
	if cred.dpop {
		// DPoP carries access tokens only, and only where proofs are
		// checked.
		d.deny(ReasonMalformedCredential)
		return nil
	}
	return s.decideKey(ctx, req, d, cred)
}

// activePartner looks up d's partner, common to every credential kind, and
// records its tier and limits in d; a partner unknown or not active is the
// reason to deny.
func (s *Decider) activePartner(d *Decision) (*partner.Partner, Reason) {
	p, ok := s.index.Partner(d.PartnerID)
	if !ok {
		return nil, ReasonUnknownPartner
	}
	d.Tier = p.Tier
	d.Limits = p.Limits
	if p.State != partner.Active {
		return nil, ReasonPartnerSuspended
	}
	if r := certificateReason(d, p); r != "" {
		return nil, r
	}
	return p, ""
}

// authorize runs the steps after authentication, common to every
// credential kind: the route's scopes, then the tenant selectors.
func (s *Decider) authorize(req *Request, d *Decision) {
	if reason := s.routeScopes(req, d); reason != "" {
		d.deny(reason)
		return
	}
	if tenantMismatch(req.Headers, d.Path, d.PartnerID) {
		d.deny(ReasonTenantMismatch)
		return
	}
	d.Reason = ReasonAllowed
}

// routeScopes checks the route's required scopes: those the route
// declares when the transport sends them, else the policy file's. A route
// that declares nothing is denied unless the operator opened it.
func (s *Decider) routeScopes(req *Request, d *Decision) Reason {
	if v := strings.TrimSpace(req.RequiredScopes); v != "" {
		if strings.ContainsAny(v, `"\,`) {
			// Not a scope list: a broken route config fails closed.
			return ReasonRouteNotAllowed
		}
		d.Required = v
	} else {
		m := s.policy.Match(d.Method, d.Path)
		if !m.Open {
			return ReasonRouteNotAllowed
		}
		d.Required = strings.Join(m.Scopes, " ")
	}
	for want := range strings.FieldsSeq(d.Required) {
		if !hasScope(d.Scopes, want) {
			return ReasonInsufficientScope
		}
	}
	return ""
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

// headerRequestID is the header a request id comes in when the transport
// has none of its own.
const headerRequestID = "x-request-id"

// maxIDRun is the longest run of letters and digits a request id may
// hold: an API key's secret is 49 in a row, a UUID's longest 12.
const maxIDRun = 32

// requestID returns the request's id, if it is a sane token; it is echoed
// in deny bodies, logs and spans, so anything else is dropped, and so is
// an id that could be a credential sent in the wrong header.
func requestID(id string, h Headers) string {
	if id == "" {
		id, _ = h.Get(headerRequestID)
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
