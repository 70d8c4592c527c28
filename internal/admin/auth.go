package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/jwtverify"
	"github.com/partnergate/partnergate/internal/partner"
)

// TokenPrefix starts every generated bootstrap token, so secret scanners
// and humans can tell one from a partner key.
const TokenPrefix = "pgadm_"

// OperatorTokenPrefix starts every personal operator token.
const OperatorTokenPrefix = "pgop_"

// operatorFormat is the operator token format: partner keys' format
// (256 random bits and a CRC32 checksum) with its own prefix.
var operatorFormat = func() apikey.Format {
	f, err := apikey.NewFormat(OperatorTokenPrefix)
	if err != nil {
		panic(err) // a constant prefix: caught by any test
	}
	return f
}()

// NewToken returns a fresh bootstrap token: [TokenPrefix] and 256 bits
// from crypto/rand in base32.
func NewToken() string {
	return TokenPrefix + rand.Text() + rand.Text()
}

// HashToken returns the SHA-256 of token: all a server keeps of its
// bootstrap token. A fast hash suffices for a high-entropy random secret.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// errUnauthenticated is the one answer to every bad credential, so a caller
// learns nothing about why.
var errUnauthenticated = status.Error(codes.Unauthenticated, "missing or invalid admin token")

// AuthStore is what authentication and authorization read: operators,
// their tokens, the keys a scoped operator names, and the audit trail that
// records refusals. Every [store.Store] has it.
type AuthStore interface {
	GetOperatorByCertSAN(ctx context.Context, san string) (*partner.Operator, error)
	// GetOperatorTokenWithOperator reads a token and its operator in one
	// call: every call's authentication reads both.
	GetOperatorTokenWithOperator(ctx context.Context, id string) (*partner.OperatorToken, *partner.Operator, error)
	GetCredential(ctx context.Context, id string) (*partner.Credential, error)
	RecordAudit(ctx context.Context, ev partner.AuditEvent) error
}

// KeyPartners tells the partner of an API key from memory, without the
// store, where it can; the serving replica's cache is one. A key's partner
// never changes after it is issued, so a remembered answer is the
// store's.
type KeyPartners interface {
	// KeyPartner returns the partner of key id, and false if it does not
	// hold the key.
	KeyPartner(id string) (partnerID string, ok bool)
}

// TokenVerifier verifies an IdP access token; [*jwtverify.Verifier] is one.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (*jwtverify.Principal, error)
}

// OIDC admits operators with access tokens from the company's IdP.
type OIDC struct {
	// Verifier checks signature, alg, iss, aud and exp. Required.
	Verifier TokenVerifier
	// NameClaim, if "email", names the operator by the verified token's
	// email claim instead of the issuer's client claim.
	NameClaim string
	// RolesClaim, if "groups", reads the roles from the verified token's
	// groups claim (an array of strings) instead of the issuer's scope
	// claim.
	RolesClaim string
	// Roles maps a value of the issuer's scope claim (a group or role
	// name) to a role. A token with no mapped value is refused; with
	// several, the most powerful role wins (admin, issuer, auditor,
	// viewer).
	Roles map[string]partner.Role
}

// Authenticator verifies who is calling the admin API and what they may
// do. Its zero value admits nobody.
type Authenticator struct {
	// Store holds operators; nil admits only the bootstrap token.
	Store AuthStore
	// Hasher verifies operator tokens' digests. Required with Store.
	Hasher *apikey.Hasher
	// Keys, if set, is asked first for the partner of the key a scoped
	// operator's call names; a key it does not hold is read from Store.
	Keys KeyPartners
	// Bootstrap is the SHA-256 of the bootstrap token; nil (or anything
	// that is not a SHA-256) disables it.
	Bootstrap []byte
	// OIDC, if set, admits IdP access tokens.
	OIDC *OIDC
	// Throttle slows failures per source; nil means a default [Throttle].
	Throttle *Throttle
	// Failed, if set, counts each failed authentication, by method.
	Failed func(ctx context.Context, m AuthMethod)
	// Now is the clock; nil means [time.Now].
	Now func() time.Time
	// Logger receives one warning per failed authentication (never the
	// credential) and audit-write faults; nil discards.
	Logger *slog.Logger
}

func (a *Authenticator) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Authenticator) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// AuthInterceptors return interceptors that admit only the bootstrap
// token whose [HashToken] is tokenHash, as the admin role. A tokenHash that
// is not a SHA-256 admits nothing.
func AuthInterceptors(tokenHash []byte) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	a := &Authenticator{Bootstrap: append([]byte(nil), tokenHash...), Throttle: &Throttle{}}
	return a.Interceptors()
}

// Interceptors return the unary and stream interceptors that authenticate
// every call, then authorize it against the permission table: a method
// with no entry is refused.
func (a *Authenticator) Interceptors() (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	if a.Throttle == nil {
		a.Throttle = &Throttle{}
	}
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		method := ""
		if info != nil {
			method = info.FullMethod
		}
		p, err := a.authenticate(ctx, method)
		if err != nil {
			return nil, err
		}
		ctx = WithPrincipal(ctx, p)
		if err := a.authorize(ctx, p, method, req); err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		p, err := a.authenticate(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		// No stream has a permission entry: refused by default.
		return a.authorize(WithPrincipal(ss.Context(), p), p, info.FullMethod, nil)
	}
	return unary, stream
}

// failure is a refused credential: why (for the log, never the client)
// and the credential's public id when it parsed.
type failure struct {
	method AuthMethod
	reason string
	id     string
}

// authenticate returns the caller's principal, or the status to answer.
// A failure is logged, counted and slowed before it is answered.
func (a *Authenticator) authenticate(ctx context.Context, rpc string) (*Principal, error) {
	src := sourceHost(ctx)
	if blocked, wait := a.Throttle.Blocked(src); blocked {
		// Too much debt: refuse before looking at the credential, so that
		// calls in parallel do not buy extra guesses.
		return nil, status.Errorf(codes.ResourceExhausted,
			"too many failed admin authentications from this address; retry in %s", wait.Round(time.Second)+time.Second)
	}
	p, f, err := a.verify(ctx)
	if err != nil {
		return nil, err // a fault, such as an unreachable store: not a guess
	}
	if f == nil {
		return p, nil
	}
	attrs := []slog.Attr{
		slog.String("source", source(ctx)),
		slog.String("method", string(f.method)),
		slog.String("reason", f.reason),
		slog.String("rpc", rpc),
	}
	if f.id != "" {
		attrs = append(attrs, slog.String("credential_id", f.id))
	}
	a.logger().LogAttrs(ctx, slog.LevelWarn, "admin authentication failed", attrs...)
	if a.Failed != nil {
		a.Failed(ctx, f.method)
	}
	a.Throttle.Failed(ctx, src)
	return nil, errUnauthenticated
}

// verify checks the credential of ctx's call. It returns a principal, or a
// failure, or an error for a fault.
func (a *Authenticator) verify(ctx context.Context) (*Principal, *failure, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		if san, ok := verifiedSANs(ctx); ok {
			return a.verifyCertificate(ctx, san)
		}
		return nil, &failure{method: MethodNone, reason: "no credential"}, nil
	}
	if len(vals) != 1 {
		return nil, &failure{method: MethodNone, reason: "more than one authorization value"}, nil
	}
	scheme, token, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, &failure{method: MethodNone, reason: "not a bearer token"}, nil
	}
	switch {
	case strings.HasPrefix(token, OperatorTokenPrefix):
		return a.verifyOperatorToken(ctx, token)
	case a.bootstrap(token):
		return &Principal{Name: partner.BootstrapOperator, Role: partner.RoleAdmin, Method: MethodBootstrap}, nil, nil
	case a.OIDC != nil && strings.Count(token, ".") == 2:
		return a.verifyOIDC(ctx, token)
	}
	if len(a.Bootstrap) != sha256.Size {
		return nil, &failure{method: MethodNone, reason: "unknown token"}, nil
	}
	return nil, &failure{method: MethodBootstrap, reason: "unknown token"}, nil
}

// bootstrap reports whether token is the bootstrap token. Digests, not
// tokens, are compared, in constant time, so neither the comparison's time
// nor its length check reveals anything about the token.
func (a *Authenticator) bootstrap(token string) bool {
	return len(a.Bootstrap) == sha256.Size && subtle.ConstantTimeCompare(HashToken(token), a.Bootstrap) == 1
}

func (a *Authenticator) verifyOperatorToken(ctx context.Context, token string) (*Principal, *failure, error) {
	fail := func(reason, id string) (*Principal, *failure, error) {
		return nil, &failure{method: MethodOperatorToken, reason: reason, id: id}, nil
	}
	k, err := operatorFormat.Parse(token)
	if err != nil {
		return fail("malformed operator token", "")
	}
	id := OperatorTokenPrefix + k.ID()
	if a.Store == nil || a.Hasher == nil {
		return fail("operator tokens are not accepted here", id)
	}
	// The token and its operator as they stand now, from the store, on
	// every call: a revoked operator is refused on its next call, on every
	// replica.
	t, o, err := a.Store.GetOperatorTokenWithOperator(ctx, k.ID())
	switch {
	case errors.Is(err, partner.ErrNotFound):
		return fail("unknown operator token", id)
	case err != nil:
		return nil, nil, a.fault(ctx, err)
	}
	if ok, err := a.Hasher.Verify(k, t.Digest, t.PepperVersion); err != nil || !ok {
		return fail("wrong operator token secret", id)
	}
	now := a.now()
	if t.Expired(now) {
		return fail("operator token expired", id)
	}
	if reason := unusable(o, now); reason != "" {
		return fail(reason, id)
	}
	exp := o.ExpiresAt
	if !t.ExpiresAt.IsZero() && t.ExpiresAt.Before(exp) {
		exp = t.ExpiresAt
	}
	return &Principal{Name: o.Name, Role: o.Role, Partners: o.Partners, Method: MethodOperatorToken, CredentialID: id, ExpiresAt: exp}, nil, nil
}

func unusable(o *partner.Operator, now time.Time) string {
	switch {
	case o.Revoked():
		return "operator revoked"
	case o.Expired(now):
		return "operator expired"
	}
	return ""
}

// verifiedSANs returns the SANs of the client certificate of ctx's call,
// URIs first, if the TLS handshake verified it against the client CA.
func verifiedSANs(ctx context.Context) ([]string, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, false
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.PeerCertificates) == 0 {
		return nil, false
	}
	return certSANs(ti.State.PeerCertificates[0]), true
}

func certSANs(c *x509.Certificate) []string {
	out := make([]string, 0, len(c.URIs)+len(c.DNSNames))
	for _, u := range c.URIs {
		out = append(out, u.String())
	}
	return append(out, c.DNSNames...)
}

func (a *Authenticator) verifyCertificate(ctx context.Context, sans []string) (*Principal, *failure, error) {
	first := ""
	if len(sans) > 0 {
		first = pathSafe(sans[0], 255)
	}
	if a.Store == nil {
		return nil, &failure{method: MethodClientCertificate, reason: "client certificates are not accepted here", id: first}, nil
	}
	now := a.now()
	for _, san := range sans {
		o, err := a.Store.GetOperatorByCertSAN(ctx, san)
		if errors.Is(err, partner.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, nil, a.fault(ctx, err)
		}
		if reason := unusable(o, now); reason != "" {
			return nil, &failure{method: MethodClientCertificate, reason: reason, id: san}, nil
		}
		return &Principal{Name: o.Name, Role: o.Role, Partners: o.Partners, Method: MethodClientCertificate, CredentialID: san, ExpiresAt: o.ExpiresAt}, nil, nil
	}
	return nil, &failure{method: MethodClientCertificate, reason: "no operator has this certificate's SAN", id: first}, nil
}

// roleRank orders roles for picking the most powerful one mapped.
var roleRank = map[partner.Role]int{partner.RoleViewer: 1, partner.RoleAuditor: 2, partner.RoleIssuer: 3, partner.RoleAdmin: 4}

func (a *Authenticator) verifyOIDC(ctx context.Context, token string) (*Principal, *failure, error) {
	jp, err := a.OIDC.Verifier.Verify(ctx, token)
	switch {
	case ctx.Err() != nil:
		return nil, nil, status.FromContextError(ctx.Err()).Err()
	case errors.Is(err, jwtverify.ErrKeysUnavailable):
		a.logger().LogAttrs(ctx, slog.LevelWarn, "admin IdP keys unavailable", slog.Any("error", err))
		return nil, nil, status.Error(codes.Unavailable, "IdP keys unavailable")
	case err != nil:
		return nil, &failure{method: MethodOIDC, reason: "IdP token refused: " + jwtverify.Reason(err)}, nil
	}
	// The issuer's client claim, configured as the operator claim (sub,
	// azp, client_id, ...), names the operator; or its email claim.
	name, values := jp.ClientID, []string(jp.Scopes)
	if a.OIDC.NameClaim == "email" || a.OIDC.RolesClaim == "groups" {
		extra, err := verifiedClaims(token)
		if err != nil {
			return nil, &failure{method: MethodOIDC, reason: "IdP token claims unreadable"}, nil
		}
		if a.OIDC.NameClaim == "email" {
			name = extra.Email
		}
		if a.OIDC.RolesClaim == "groups" {
			values = extra.Groups
		}
	}
	name = sanitize(name, 128)
	if name == "" || name == partner.BootstrapOperator {
		return nil, &failure{method: MethodOIDC, reason: "IdP token names no usable operator"}, nil
	}
	var role partner.Role
	for _, v := range values {
		if r, ok := a.OIDC.Roles[v]; ok && roleRank[r] > roleRank[role] {
			role = r
		}
	}
	if role == "" {
		return nil, &failure{method: MethodOIDC, reason: "IdP token maps to no role", id: name}, nil
	}
	return &Principal{Name: name, Role: role, Method: MethodOIDC, CredentialID: name, ExpiresAt: jp.ExpiresAt}, nil, nil
}

// idpClaims are the claims an IdP operator may be named and given roles
// by that partner tokens never use.
type idpClaims struct {
	Email  string   `json:"email"`
	Groups []string `json:"groups"`
}

// verifiedClaims decodes the payload of token, which the caller has
// verified (signature, iss, aud, exp) already: the bytes read here are the
// ones the signature covers.
func verifiedClaims(token string) (idpClaims, error) {
	var c idpClaims
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return c, errors.New("not a compact JWS")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return c, err
	}
	err = json.Unmarshal(raw, &c)
	return c, err
}

// fault logs a store error met while authenticating and returns the
// status for it. It is not a failed authentication.
func (a *Authenticator) fault(ctx context.Context, err error) error {
	a.logger().LogAttrs(ctx, slog.LevelWarn, "admin authentication could not reach the store", slog.Any("error", err))
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Unavailable, "store unavailable")
}
