package jwtverify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/partnergate/partnergate/internal/partner"
)

// Options tunes a [Verifier]. The zero value is usable.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// HTTPClient fetches JWKS and discovery documents; nil means a default
	// client. Either way, unless it sets CheckRedirect, redirects away from
	// https (or loopback http) are refused.
	HTTPClient *http.Client
	// Logger receives key-loading events; nil means slog.Default(). Verify
	// itself never logs: the caller logs [Reason].
	Logger *slog.Logger
	// FetchTimeout bounds one JWKS or discovery fetch; zero means 10s.
	FetchTimeout time.Duration
	// CacheSize is how many verified tokens are remembered; zero disables
	// the cache.
	CacheSize int
	// CacheTTL is the longest a verified token is remembered; it never
	// outlives the token's exp either. Zero means 1m; at most 10m.
	CacheTTL time.Duration
}

// Principal is what a verified token says: who issued it, which OAuth2
// client holds it, and which scopes it carries. It names a client, not a
// tenant: map (Issuer, ClientID) to a partner through the registry, never
// any claim directly (RFC 9068 §5). Treat it, Scopes included, as read-only.
type Principal struct {
	Issuer string
	// ClientID is the issuer's configured client claim.
	ClientID string
	// Scopes are the valid scope names of the issuer's scope claim; names
	// outside the partner scope alphabet are dropped (see the package doc).
	Scopes partner.Scopes
	// ScopeList is Scopes space-separated, joined once at verification so
	// that a cached token does not join them again on every request.
	ScopeList string
	// ScopeClaimMissing reports that the token had no issuer's scope
	// claim at all, so that an operator can be told why it holds no scope
	// (an IdP configured to put them elsewhere, or a missing scope
	// request).
	ScopeClaimMissing bool
	// JTI is the token id, empty if the issuer sets none (such a token can
	// be revoked only by an issued-before cutoff).
	JTI       string
	Subject   string
	IssuedAt  time.Time
	ExpiresAt time.Time
	// CertThumbprint is the token's cnf "x5t#S256" (RFC 8705), empty for
	// a token not bound to a certificate. Verify has already matched it
	// against the peer certificate.
	CertThumbprint string
	// KeyThumbprint is the token's cnf "jkt" (RFC 9449 §6), empty for a
	// token not bound to a DPoP key. Verify has already matched it against
	// the proof's key.
	KeyThumbprint string
}

// Binding is what the request proved possession of, besides presenting
// the token. The zero value is a bearer token on a connection without a
// client certificate.
type Binding struct {
	// CertThumbprint is the base64url SHA-256 of the DER of the client
	// certificate the connection presented (RFC 8705 §3.1), empty for
	// none. Its TLS validation is the caller's, which is Envoy's.
	CertThumbprint string
	// DPoP reports that the token came as "Authorization: DPoP" (RFC 9449
	// §7.1), so it must be bound to the key of a verified proof.
	DPoP bool
	// DPoPKey is the RFC 7638 thumbprint of the key of the DPoP proof the
	// caller has verified for this request (signature, htm, htu, iat, jti
	// and ath); empty unless DPoP.
	DPoPKey string
}

// IssuerStatus describes one issuer's keys, for readiness and metrics.
type IssuerStatus struct {
	Issuer string
	// JWKSURL is configured or discovered; empty for a shared secret, or
	// while discovery has not succeeded.
	JWKSURL string
	// Keys is how many usable keys are loaded.
	Keys int
	// LastRefresh is when keys were last loaded successfully; zero if never
	// (for a shared secret: when the Verifier was built).
	LastRefresh time.Time
	// LastError is the last fetch's error, nil after a success.
	LastError error
}

// Verifier verifies access tokens from the configured issuers. It is safe
// for concurrent use; Close stops its background refreshes.
type Verifier struct {
	issuers       map[string]*issuer
	order         []*issuer
	maxTokenBytes int
	now           func() time.Time
	cache         *tokenCache
	built         time.Time

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type issuer struct {
	cfg     IssuerConfig // defaults applied
	parser  *jwt.Parser
	keys    *keySet // nil with a shared secret
	secret  []byte
	rsaAlgs int
	typ     string // require_type, lower case, without "application/"
	// keyLookups counts calls of the keyfunc: tokens that reached signature
	// verification (the cache skips it).
	keyLookups atomic.Uint64
}

func (is *issuer) generation() uint64 {
	if is.keys == nil {
		return 0
	}
	return is.keys.gen.Load()
}

// New validates cfgs and builds a Verifier. It fetches every issuer's keys
// once, concurrently, waiting no longer than ctx allows, and then refreshes
// them in the background until Close. An unreachable IdP is not an error
// here: it is logged, its tokens are refused with [ErrKeysUnavailable], and
// [Verifier.Ready] reports it. Only invalid configuration, an unreadable
// shared secret or invalid Options fail New.
func New(ctx context.Context, cfgs []IssuerConfig, opts Options) (*Verifier, error) {
	if err := Issuers(cfgs).Validate(); err != nil {
		return nil, err
	}
	if len(cfgs) == 0 {
		return nil, partner.Invalid("issuers", "at least one issuer is required")
	}
	if opts.CacheSize < 0 {
		return nil, errors.New("jwtverify: Options.CacheSize must not be negative")
	}
	if opts.CacheTTL < 0 || opts.CacheTTL > 10*time.Minute {
		return nil, errors.New("jwtverify: Options.CacheTTL must be between 0 (1m) and 10m")
	}
	if opts.FetchTimeout < 0 {
		return nil, errors.New("jwtverify: Options.FetchTimeout must not be negative")
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	fetchTimeout := opts.FetchTimeout
	if fetchTimeout == 0 {
		fetchTimeout = 10 * time.Second
	}
	client := safeClient(opts.HTTPClient)

	base, cancel := context.WithCancel(context.Background())
	v := &Verifier{
		issuers: make(map[string]*issuer, len(cfgs)),
		now:     now,
		built:   now(),
		cancel:  cancel,
	}
	if opts.CacheSize > 0 {
		ttl := opts.CacheTTL
		if ttl == 0 {
			ttl = time.Minute
		}
		v.cache = newTokenCache(opts.CacheSize, ttl)
	}
	for i := range cfgs {
		is, err := v.newIssuer(base, cfgs[i].withDefaults(), client, log, fetchTimeout)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("issuers[%d]: %w", i, err)
		}
		v.issuers[is.cfg.Issuer] = is
		v.order = append(v.order, is)
		v.maxTokenBytes = max(v.maxTokenBytes, is.cfg.MaxTokenBytes)
	}

	// The first fetch of every issuer, concurrently, bounded by ctx.
	var first sync.WaitGroup
	for _, is := range v.order {
		if is.keys == nil {
			continue
		}
		first.Add(1)
		go func() {
			defer first.Done()
			_ = is.keys.refresh(ctx) // reported by the fetch itself
		}()
	}
	first.Wait()
	for _, is := range v.order {
		if is.keys != nil {
			v.wg.Add(1)
			go is.keys.run()
		}
	}
	return v, nil
}

func (v *Verifier) newIssuer(base context.Context, cfg IssuerConfig, client *http.Client, log *slog.Logger, fetchTimeout time.Duration) (*issuer, error) {
	is := &issuer{cfg: cfg}
	for _, alg := range cfg.Algorithms {
		if strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS") {
			is.rsaAlgs++
		}
	}
	if t := strings.ToLower(cfg.RequireType); t != "" {
		is.typ = strings.TrimPrefix(t, "application/")
	}
	is.parser = jwt.NewParser(
		// The alg allow-list, always: keyfunc checks alg only when the JWK
		// declares one (RFC 8725 §3.1).
		jwt.WithValidMethods(cfg.Algorithms),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audiences...),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(v.now),
		// Strict base64url: one token, one spelling.
		jwt.WithStrictDecoding(),
	)
	if cfg.SharedSecretFile != "" {
		raw, err := os.ReadFile(cfg.SharedSecretFile)
		if err != nil {
			return nil, fmt.Errorf("shared_secret_file: %w", err)
		}
		secret := bytes.TrimRight(raw, " \t\r\n")
		need := 32
		for _, alg := range cfg.Algorithms {
			switch alg {
			case "HS384":
				need = max(need, 48)
			case "HS512":
				need = max(need, 64)
			}
		}
		// RFC 7518 §3.2: an HMAC key at least as long as the hash.
		if len(secret) < need {
			return nil, fmt.Errorf("shared_secret_file: secret has %d bytes, %s needs at least %d", len(secret), strings.Join(cfg.Algorithms, "/"), need)
		}
		is.secret = secret
		return is, nil
	}
	ks, err := newKeySet(base, &v.wg, &is.cfg, client, log, v.now, fetchTimeout)
	if err != nil {
		return nil, err
	}
	is.keys = ks
	return is, nil
}

// Close stops background refreshes and waits for them. Verify keeps working
// on the keys already loaded.
func (v *Verifier) Close() {
	for _, is := range v.order {
		if is.keys != nil {
			is.keys.mu.Lock()
			is.keys.closed = true
			is.keys.mu.Unlock()
		}
	}
	v.cancel()
	v.wg.Wait()
}

// Ready waits until every issuer has keys, or ctx ends. It then returns an
// error naming each issuer still without keys and its last fetch error.
func (v *Verifier) Ready(ctx context.Context) error {
	for _, is := range v.order {
		if is.keys == nil {
			continue
		}
		select {
		case <-is.keys.ready:
			continue // ready wins over a context that is already done
		default:
		}
		select {
		case <-is.keys.ready:
		case <-ctx.Done():
			return v.notReady(ctx.Err())
		}
	}
	return nil
}

func (v *Verifier) notReady(cause error) error {
	var errs []error
	for _, is := range v.order {
		if is.keys == nil || is.keys.snap.Load() != nil {
			continue
		}
		is.keys.mu.Lock()
		last := is.keys.lastErr
		is.keys.mu.Unlock()
		if last == nil {
			last = errors.New("first fetch still running")
		}
		errs = append(errs, fmt.Errorf("%w: issuer %q: %w", ErrKeysUnavailable, is.cfg.Issuer, last))
	}
	return fmt.Errorf("jwtverify: not ready (%w): %w", cause, errors.Join(errs...))
}

// Status reports each issuer's keys, in configuration order.
func (v *Verifier) Status() []IssuerStatus {
	out := make([]IssuerStatus, 0, len(v.order))
	for _, is := range v.order {
		st := IssuerStatus{Issuer: is.cfg.Issuer}
		if is.keys == nil {
			st.Keys, st.LastRefresh = 1, v.built
			out = append(out, st)
			continue
		}
		if s := is.keys.snap.Load(); s != nil {
			st.Keys, st.LastRefresh = len(s.keys), s.loaded
		}
		is.keys.mu.Lock()
		st.JWKSURL, st.LastError = is.keys.jwksURL, is.keys.lastErr
		is.keys.mu.Unlock()
		out = append(out, st)
	}
	return out
}

// Verify verifies token, a bearer access token presented without a client
// certificate: it is [Verifier.VerifyPeer] with the zero [Binding], so a
// sender-constrained token is refused.
func (v *Verifier) Verify(ctx context.Context, token string) (*Principal, error) {
	return v.VerifyPeer(ctx, token, Binding{})
}

// VerifyPeer verifies token as presented with the proofs of possession in
// b, and returns its principal. A token bound to a certificate or a DPoP
// key is accepted only with that proof, and an issuer's
// require_certificate_bound or require_dpop refuses a token bound
// otherwise (RFC 8705 §3, RFC 9449 §7.1).
// Every refusal wraps one of the package's sentinel errors; a context that
// ends while keys are being fetched returns its error instead. Revocation
// (jti, issued-before, suspended partner, removed client) is the caller's
// job, on every call: a cached verification is still subject to it.
//
// The Principal may be shared with the verified-token cache and with
// other calls that present the same token: it is read-only.
func (v *Verifier) VerifyPeer(ctx context.Context, token string, b Binding) (*Principal, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("jwtverify: %w", err)
	}
	if len(token) > v.maxTokenBytes {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(token))
	}
	var sum [32]byte
	if v.cache != nil {
		// Sum256 only reads its argument: hashing the string's bytes in
		// place saves copying a token of up to 8 KiB on every Check.
		sum = sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
		if b.CertThumbprint != "" {
			// The cache keys on the certificate too, so that a verification
			// made with one certificate is never found with another
			// (RFC 8705 §3); the binding is checked on every hit anyway.
			sum = peerKey(&sum, b.CertThumbprint)
		}
		if p, is, ok := v.cache.get(&sum, v.now()); ok {
			if err := is.checkBinding(p, b); err != nil {
				return nil, err
			}
			return p, nil
		}
	}

	iss, err := unsafeIssuer(token)
	if err != nil {
		return nil, err
	}
	is, ok := v.issuers[iss]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownIssuer, truncate(iss))
	}
	if len(token) > is.cfg.MaxTokenBytes {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(token))
	}
	gen := is.generation()
	var c claims
	var kfErr error
	tok, err := is.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		k, err := is.key(ctx, t)
		kfErr = err
		return k, err
	})
	if err != nil {
		if kfErr != nil {
			return nil, kfErr
		}
		return nil, is.classify(tok, &c, err)
	}
	p, err := is.principal(&c)
	if err != nil {
		return nil, err
	}
	if err := is.checkBinding(p, b); err != nil {
		return nil, err
	}
	if v.cache != nil {
		p = v.cache.put(&sum, p, is, gen, v.now())
	}
	return p, nil
}

// forbiddenHeaders name keys or processing the token must not choose: keys
// come from the configured JWKS only (RFC 8725 §3.10), and no JWS extension
// is understood, so a critical one must be refused (RFC 7515 §4.1.11).
var forbiddenHeaders = [...]string{"jku", "x5u", "jwk", "x5c", "crit"}

// key is the jwt.Keyfunc: header rules first, then the key the kid names,
// then that the key fits the alg.
func (is *issuer) key(ctx context.Context, t *jwt.Token) (any, error) {
	is.keyLookups.Add(1)
	for _, h := range forbiddenHeaders {
		if _, ok := t.Header[h]; ok {
			return nil, fmt.Errorf("%w: %s", ErrForbiddenHeader, h)
		}
	}
	alg := t.Method.Alg()
	if !slices.Contains(is.cfg.Algorithms, alg) { // WithValidMethods checked it too
		return nil, fmt.Errorf("%w: %s", ErrAlgorithm, alg)
	}
	if is.typ != "" {
		typ, _ := t.Header["typ"].(string)
		if strings.TrimPrefix(strings.ToLower(typ), "application/") != is.typ {
			return nil, fmt.Errorf("%w: typ %q, want %q", ErrType, truncate(typ), is.typ)
		}
	}
	if is.secret != nil {
		// One configured secret: no kid needed to choose it.
		return is.secret, nil
	}
	kidV, present := t.Header["kid"]
	kid, isString := kidV.(string)
	switch {
	case !present || kid == "":
		return nil, ErrMissingKeyID
	case !isString:
		return nil, fmt.Errorf("%w: kid is not a string", ErrMalformed)
	}
	if err := is.keys.ensure(ctx, kid); err != nil {
		return nil, err
	}
	e, ok := is.keys.entry(kid)
	if !ok {
		return nil, fmt.Errorf("%w: withdrawn during verification", ErrUnknownKey)
	}
	if err := is.fits(alg, e); err != nil {
		return nil, err
	}
	k, err := is.keys.kf.KeyfuncCtx(ctx)(t)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnknownKey, err)
	}
	return k, nil
}

// fits enforces one algorithm per key (RFC 8725 §3.1): the JWK's declared
// alg if it has one, else the only alg its type and curve allow. An RSA key
// without a declared alg serves both RS* and PS*, so it is refused when the
// issuer allows more than one RSA alg.
func (is *issuer) fits(alg string, e keyEntry) error {
	if e.alg != "" {
		if e.alg != alg {
			return fmt.Errorf("%w: key is for %s, token says %s", ErrAlgorithm, e.alg, alg)
		}
	}
	ok := false
	switch e.kty {
	case jwkset.KtyRSA:
		ok = strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
		if ok && e.alg == "" && is.rsaAlgs > 1 {
			return fmt.Errorf("%w: RSA key declares no alg and the issuer allows several", ErrAlgorithm)
		}
	case jwkset.KtyEC:
		ok = alg == "ES256" && e.crv == jwkset.CrvP256 ||
			alg == "ES384" && e.crv == jwkset.CrvP384 ||
			alg == "ES512" && e.crv == jwkset.CrvP521
	case jwkset.KtyOKP:
		ok = alg == "EdDSA" && e.crv == jwkset.CrvEd25519
	}
	if !ok {
		return fmt.Errorf("%w: %s does not fit a %s %s key", ErrAlgorithm, alg, e.kty, e.crv)
	}
	return nil
}

// classify maps a jwt error to this package's sentinels.
func (is *issuer) classify(tok *jwt.Token, c *claims, err error) error {
	wrap := func(sentinel error) error { return fmt.Errorf("%w: %w", sentinel, err) }
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, jwt.ErrTokenMalformed):
		return wrap(ErrMalformed)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return wrap(ErrAlgorithm) // alg missing or unknown
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if tok != nil && tok.Method != nil && !slices.Contains(is.cfg.Algorithms, tok.Method.Alg()) {
			return wrap(ErrAlgorithm)
		}
		if errors.Is(err, jwt.ErrInvalidKeyType) {
			return wrap(ErrAlgorithm)
		}
		return wrap(ErrSignature)
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		switch {
		case errors.Is(err, jwt.ErrTokenInvalidAudience):
			return wrap(ErrAudience)
		case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && len(c.Audience) == 0:
			return wrap(ErrAudience)
		case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
			return wrap(ErrMissingClaim)
		case errors.Is(err, jwt.ErrTokenInvalidIssuer):
			return wrap(ErrIssuer)
		case errors.Is(err, jwt.ErrTokenExpired):
			return wrap(ErrExpired)
		case errors.Is(err, jwt.ErrTokenNotValidYet):
			return wrap(ErrNotYetValid)
		case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
			return wrap(ErrIssuedInFuture)
		}
		return wrap(ErrMalformed)
	}
	return fmt.Errorf("jwtverify: %w", err)
}

// claims are the claims Verify reads. Claims it may not need are kept raw,
// so an unexpected type in an unused claim does not refuse the token.
type claims struct {
	jwt.RegisteredClaims
	ClientID json.RawMessage            `json:"client_id"`
	AZP      json.RawMessage            `json:"azp"`
	CID      json.RawMessage            `json:"cid"`
	AppID    json.RawMessage            `json:"appid"`
	Scope    json.RawMessage            `json:"scope"`
	SCP      json.RawMessage            `json:"scp"`
	Roles    json.RawMessage            `json:"roles"`
	Cnf      map[string]json.RawMessage `json:"cnf"`
}

func (is *issuer) principal(c *claims) (*Principal, error) {
	if c.IssuedAt == nil {
		// Without iat the issued-before revocation cutoff cannot apply.
		return nil, fmt.Errorf("%w: iat", ErrMissingClaim)
	}
	if c.ExpiresAt != nil && c.ExpiresAt.Sub(c.IssuedAt.Time) > is.cfg.MaxTokenLifetime {
		return nil, fmt.Errorf("%w: %s", ErrLifetime, c.ExpiresAt.Sub(c.IssuedAt.Time))
	}
	if c.Issuer != is.cfg.Issuer {
		return nil, ErrIssuer
	}
	client, err := is.clientID(c)
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	switch is.cfg.ScopeClaim {
	case "scope":
		raw = c.Scope
	case "scp":
		raw = c.SCP
	case "roles":
		raw = c.Roles
	}
	scopes, err := parseScopes(is.cfg.ScopeClaim, raw)
	if err != nil {
		return nil, err
	}
	p := &Principal{
		Issuer:            c.Issuer,
		ClientID:          client,
		Scopes:            scopes,
		ScopeList:         scopes.String(),
		ScopeClaimMissing: len(raw) == 0 || string(raw) == "null",
		JTI:               c.ID,
		Subject:           c.Subject,
		IssuedAt:          c.IssuedAt.Time,
		ExpiresAt:         c.ExpiresAt.Time,
	}
	if c.Cnf != nil {
		if err := confirmation(p, c.Cnf); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (is *issuer) clientID(c *claims) (string, error) {
	var id string
	switch is.cfg.ClientClaim {
	case "sub":
		id = c.Subject
	default:
		var raw json.RawMessage
		switch is.cfg.ClientClaim {
		case "client_id":
			raw = c.ClientID
		case "azp":
			raw = c.AZP
		case "cid":
			raw = c.CID
		case "appid":
			raw = c.AppID
		}
		if len(raw) > 0 && json.Unmarshal(raw, &id) != nil {
			return "", fmt.Errorf("%w: %s is not a string", ErrMissingClient, is.cfg.ClientClaim)
		}
	}
	if id == "" {
		return "", fmt.Errorf("%w: %s", ErrMissingClient, is.cfg.ClientClaim)
	}
	// The client id is matched against the registry and may be logged or
	// sent upstream: refuse what could forge a line or a header.
	if len(id) > 255 || !utf8.ValidString(id) || strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", fmt.Errorf("%w: %s is not a printable identifier of at most 255 bytes", ErrMissingClient, is.cfg.ClientClaim)
	}
	return id, nil
}

// parseScopes reads a scope claim as a space-separated string (RFC 6749
// §3.3, RFC 9068 "scope") or an array of strings (Okta, Hydra "scp"; Entra
// "roles"). Names outside the partner scope alphabet are dropped: effective
// scopes are the token's ∩ the partner's grants, and grants only hold valid
// names, so a dropped name could never have granted anything; refusing the
// token instead would lock a partner out over an IdP's unrelated scope.
func parseScopes(claim string, raw json.RawMessage) (partner.Scopes, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var names []string
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, claim, err)
		}
		names = strings.Fields(s)
	} else if err := json.Unmarshal(raw, &names); err != nil {
		return nil, fmt.Errorf("%w: %s is neither a string nor an array of strings", ErrMalformed, claim)
	}
	if s, err := partner.NewScopes(claim, names); err == nil {
		return s, nil
	}
	kept := make([]string, 0, len(names))
	for _, n := range names {
		if _, err := partner.NewScopes(claim, []string{n}); err == nil {
			kept = append(kept, n)
		}
	}
	slices.Sort(kept)
	return partner.Scopes(slices.Compact(kept)), nil
}

// confirmation reads a token's cnf (RFC 7800): "x5t#S256" binds it to a
// client certificate (RFC 8705 §3.1), "jkt" to a DPoP key (RFC 9449 §6.1).
// Any other member ("jwk", "kid", …) needs a proof this package cannot
// check, so the token is refused.
func confirmation(p *Principal, cnf map[string]json.RawMessage) error {
	if len(cnf) == 0 {
		return fmt.Errorf("%w: empty cnf", ErrBinding)
	}
	for name, raw := range cnf {
		var dst *string
		switch name {
		case "x5t#S256":
			dst = &p.CertThumbprint
		case "jkt":
			dst = &p.KeyThumbprint
		default:
			return fmt.Errorf("%w: unsupported confirmation method %q", ErrBinding, truncate(name))
		}
		// Both are base64url SHA-256 digests: 43 characters.
		if err := json.Unmarshal(raw, dst); err != nil || len(*dst) != 43 {
			return fmt.Errorf("%w: cnf %s is not a base64url SHA-256", ErrBinding, name)
		}
	}
	return nil
}

// checkBinding enforces the token's sender constraint and the issuer's
// requirement of one: a certificate-bound token only with the certificate
// it is bound to (RFC 8705 §3), a DPoP-bound token only with a proof of its
// key and a DPoP proof only with a token bound to its key (RFC 9449 §7.1).
// Thumbprints are compared in constant time.
func (is *issuer) checkBinding(p *Principal, b Binding) error {
	if p.CertThumbprint != "" {
		if b.CertThumbprint == "" {
			return fmt.Errorf("%w: bound token without a client certificate", ErrBinding)
		}
		if subtle.ConstantTimeCompare([]byte(b.CertThumbprint), []byte(p.CertThumbprint)) != 1 {
			return fmt.Errorf("%w: client certificate does not match cnf", ErrBinding)
		}
	} else if is.cfg.RequireCertificateBound {
		return fmt.Errorf("%w: issuer requires certificate-bound tokens", ErrUnbound)
	}
	switch {
	case p.KeyThumbprint != "" && !b.DPoP:
		// RFC 9449 §7.2: a DPoP-bound token is not a bearer token.
		return fmt.Errorf("%w: DPoP-bound token presented as a bearer token", ErrBinding)
	case b.DPoP && p.KeyThumbprint == "":
		if is.cfg.RequireDPoP {
			return fmt.Errorf("%w: issuer requires DPoP-bound tokens", ErrUnbound)
		}
		return fmt.Errorf("%w: DPoP proof with a token not bound to a key", ErrBinding)
	case b.DPoP:
		if b.DPoPKey == "" || subtle.ConstantTimeCompare([]byte(b.DPoPKey), []byte(p.KeyThumbprint)) != 1 {
			return fmt.Errorf("%w: DPoP proof key does not match cnf jkt", ErrBinding)
		}
	case is.cfg.RequireDPoP:
		return fmt.Errorf("%w: issuer requires DPoP", ErrUnbound)
	}
	return nil
}

// peerKey is the cache key of a token presented with a client
// certificate: the SHA-256 of the token's SHA-256 and the certificate's
// thumbprint.
func peerKey(tokenSum *[32]byte, certThumbprint string) [32]byte {
	var buf [32 + 64]byte
	n := copy(buf[:], tokenSum[:])
	n += copy(buf[n:], certThumbprint)
	return sha256.Sum256(buf[:n])
}

func isAsymmetric(alg string) bool { return slices.Contains(asymmetricAlgs, alg) }

// truncate bounds attacker-chosen text quoted in an error.
func truncate(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
