package dpop

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// Defaults and bounds of [Options].
const (
	DefaultWindow          = 60 * time.Second
	MaxWindow              = 10 * time.Minute
	DefaultReplayCacheSize = 100_000
	// MaxProofBytes caps a proof before it is parsed: a proof with an
	// RSA-4096 jwk is under 2 KiB.
	MaxProofBytes = 8 << 10
	// maxJTIBytes bounds the jti: the RFC asks for 96 bits of randomness.
	maxJTIBytes = 256
)

// DefaultAlgorithms is the alg allow-list when none is configured.
var DefaultAlgorithms = []string{"ES256", "EdDSA", "RS256", "PS256"}

// Algorithms are the algs a proof may use: asymmetric only (RFC 9449 §4.2).
var Algorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Options tunes a [Verifier]. The zero value is usable.
type Options struct {
	// Algorithms is the alg allow-list; nil means [DefaultAlgorithms].
	// Every entry must be one of [Algorithms].
	Algorithms []string
	// Window is how far iat may be from now, either way, and so how long
	// a jti is remembered; zero means [DefaultWindow], at most [MaxWindow].
	Window time.Duration
	// ReplayCacheSize is how many jtis are remembered at most; zero means
	// [DefaultReplayCacheSize]. Size it above the peak rate of DPoP
	// requests times the window: a full cache refuses new proofs.
	ReplayCacheSize int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Validate reports every problem with o at once, each naming its key as
// prefix + the key.
func (o Options) Validate(prefix string) error {
	var errs []error
	for _, a := range o.Algorithms {
		if !slices.Contains(Algorithms, a) {
			errs = append(errs, fmt.Errorf("%salgorithms: %q is not an asymmetric algorithm (want one of %s)", prefix, a, strings.Join(Algorithms, ", ")))
		}
	}
	if o.Algorithms != nil && len(o.Algorithms) == 0 {
		errs = append(errs, fmt.Errorf("%salgorithms: must not be empty", prefix))
	}
	if o.Window < 0 || o.Window > MaxWindow {
		errs = append(errs, fmt.Errorf("%swindow: must be between 0 (%s) and %s", prefix, DefaultWindow, MaxWindow))
	}
	if o.ReplayCacheSize < 0 {
		errs = append(errs, fmt.Errorf("%sreplay_cache_size: must not be negative", prefix))
	}
	return errors.Join(errs...)
}

// Request is what a proof must match: the request as the edge saw it.
type Request struct {
	// Method is the HTTP method.
	Method string
	// URI is the target URI: scheme, host and path, as the edge saw them;
	// a query or fragment is ignored.
	URI string
	// AccessToken is the token of "Authorization: DPoP <token>".
	AccessToken string
}

// Proof is a verified DPoP proof.
type Proof struct {
	// KeyThumbprint is the RFC 7638 SHA-256 thumbprint of the proof's
	// jwk, base64url: what the access token's cnf "jkt" must be.
	KeyThumbprint string
	JTI           string
	IssuedAt      time.Time

	until time.Time // when the jti may be forgotten
}

// Verifier verifies DPoP proofs. It is safe for concurrent use.
type Verifier struct {
	parser *jwt.Parser
	algs   []string
	window time.Duration
	now    func() time.Time
	seen   *replayCache
}

// New validates opts and returns a Verifier.
func New(opts Options) (*Verifier, error) {
	if err := opts.Validate(""); err != nil {
		return nil, err
	}
	v := &Verifier{algs: opts.Algorithms, window: opts.Window, now: opts.Now}
	if v.algs == nil {
		v.algs = DefaultAlgorithms
	}
	if v.window == 0 {
		v.window = DefaultWindow
	}
	if v.now == nil {
		v.now = time.Now
	}
	size := opts.ReplayCacheSize
	if size == 0 {
		size = DefaultReplayCacheSize
	}
	v.seen = newReplayCache(size)
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(v.algs),
		// iat is checked here against the window; a proof carries no exp.
		jwt.WithoutClaimsValidation(),
		jwt.WithStrictDecoding(),
	)
	return v, nil
}

// claims are a proof's claims (RFC 9449 §4.2).
type claims struct {
	JTI string          `json:"jti"`
	HTM string          `json:"htm"`
	HTU string          `json:"htu"`
	IAT json.RawMessage `json:"iat"`
	ATH string          `json:"ath"`
}

func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return nil, nil }
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error)       { return nil, nil }
func (c *claims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (c *claims) GetIssuer() (string, error)                   { return "", nil }
func (c *claims) GetSubject() (string, error)                  { return "", nil }
func (c *claims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// Verify checks proof against r: every rule but replay, which
// [Verifier.Record] checks. Every refusal wraps one of the package's
// sentinels.
func (v *Verifier) Verify(proof string, r Request) (*Proof, error) {
	if len(proof) > MaxProofBytes {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(proof))
	}
	var c claims
	var thumb string
	var keyErr error
	tok, err := v.parser.ParseWithClaims(proof, &c, func(t *jwt.Token) (any, error) {
		k, tp, err := v.key(t)
		keyErr, thumb = err, tp
		return k, err
	})
	switch {
	case keyErr != nil:
		return nil, keyErr
	case err == nil:
	case errors.Is(err, jwt.ErrTokenMalformed):
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	case errors.Is(err, jwt.ErrTokenUnverifiable),
		tok != nil && tok.Method != nil && !slices.Contains(v.algs, tok.Method.Alg()):
		// An alg the parser does not know, or one outside the list.
		return nil, fmt.Errorf("%w: %w", ErrAlgorithm, err)
	case errors.Is(err, jwt.ErrInvalidKeyType):
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return nil, fmt.Errorf("%w: %w", ErrSignature, err)
	default:
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}

	if c.JTI == "" || len(c.JTI) > maxJTIBytes {
		return nil, fmt.Errorf("%w: jti missing or longer than %d bytes", ErrMalformed, maxJTIBytes)
	}
	if c.HTM == "" || c.HTU == "" || len(c.IAT) == 0 || c.ATH == "" {
		return nil, fmt.Errorf("%w: htm, htu, iat and ath are required", ErrMalformed)
	}
	// Methods are case-sensitive (RFC 9110 §9.1).
	if c.HTM != r.Method {
		return nil, fmt.Errorf("%w: %q", ErrMethod, truncate(c.HTM))
	}
	if !SameURI(c.HTU, r.URI) {
		return nil, fmt.Errorf("%w: %q", ErrURI, truncate(c.HTU))
	}
	var iat json.Number
	if err := json.Unmarshal(c.IAT, &iat); err != nil {
		return nil, fmt.Errorf("%w: iat is not a number", ErrMalformed)
	}
	secs, err := iat.Float64()
	if err != nil {
		return nil, fmt.Errorf("%w: iat is not a number", ErrMalformed)
	}
	if secs < 0 || secs > 1e11 { // before 1970 or after year 5000: no window holds it
		return nil, fmt.Errorf("%w: iat %g", ErrIssuedAt, secs)
	}
	now := v.now()
	issued := time.Unix(0, int64(secs*1e9))
	if d := now.Sub(issued); d > v.window || d < -v.window {
		return nil, fmt.Errorf("%w: iat is %s from now", ErrIssuedAt, d.Round(time.Second))
	}
	sum := sha256.Sum256([]byte(r.AccessToken))
	var want [43]byte
	base64.RawURLEncoding.Encode(want[:], sum[:])
	if subtle.ConstantTimeCompare([]byte(c.ATH), want[:]) != 1 {
		return nil, ErrTokenHash
	}
	return &Proof{KeyThumbprint: thumb, JTI: c.JTI, IssuedAt: issued, until: issued.Add(v.window)}, nil
}

// Record spends p's jti: it fails with [ErrReplay] if the same key has
// used it within the window, and with [ErrReplayCacheFull] if it cannot be
// remembered. Call it last, once the access token is verified and bound
// to p's key: only then does a proof take a slot, so a client with a key
// of its own but no token cannot fill the cache. A jti is remembered until
// the proof could no longer be accepted anyway.
func (v *Verifier) Record(p *Proof) error {
	return v.seen.add(p.KeyThumbprint, p.JTI, p.until, v.now())
}

// privateMembers name the JWK members of private or symmetric key material
// (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
var privateMembers = [...]string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// key is the jwt.Keyfunc: typ, then alg, then the embedded jwk, which must
// be a public key fitting alg. It returns the key's RFC 7638 thumbprint too.
func (v *Verifier) key(t *jwt.Token) (any, string, error) {
	typ, _ := t.Header["typ"].(string)
	if !strings.EqualFold(typ, "dpop+jwt") {
		return nil, "", fmt.Errorf("%w: %q", ErrType, truncate(typ))
	}
	alg := t.Method.Alg()
	if !slices.Contains(v.algs, alg) { // WithValidMethods checked it too
		return nil, "", fmt.Errorf("%w: %s", ErrAlgorithm, alg)
	}
	raw, ok := t.Header["jwk"].(map[string]any)
	if !ok {
		return nil, "", fmt.Errorf("%w: no jwk header", ErrKey)
	}
	for _, m := range privateMembers {
		if _, ok := raw[m]; ok {
			// A private key in a header is a leaked key: refusing it
			// tells the client so (RFC 9449 §4.3 step 7).
			return nil, "", fmt.Errorf("%w: jwk carries private member %q", ErrKey, m)
		}
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrKey, err)
	}
	jwk, err := jwkset.NewJWKFromRawJSON(b, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrKey, err)
	}
	key := jwk.Key()
	if err := fits(alg, key); err != nil {
		return nil, "", err
	}
	tp, err := Thumbprint(jwk.Marshal())
	if err != nil {
		return nil, "", err
	}
	return key, tp, nil
}

// fits reports whether key is a public key of the type and curve alg
// needs.
func fits(alg string, key any) error {
	ok := false
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("%w: RSA key of %d bits, want at least 2048", ErrKey, k.N.BitLen())
		}
		ok = strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		ok = alg == "ES256" && k.Curve == elliptic.P256() ||
			alg == "ES384" && k.Curve == elliptic.P384() ||
			alg == "ES512" && k.Curve == elliptic.P521()
	case ed25519.PublicKey:
		ok = alg == "EdDSA"
	default:
		return fmt.Errorf("%w: not a public key of a supported type (%T)", ErrKey, key)
	}
	if !ok {
		return fmt.Errorf("%w: %s does not fit the jwk", ErrKey, alg)
	}
	return nil
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of a public JWK,
// base64url: the SHA-256 of the JSON object of its required members only,
// in lexicographic order, without white space (§3.2).
func Thumbprint(k jwkset.JWKMarshal) (string, error) {
	var b strings.Builder
	member := func(name, value string, last bool) {
		v, _ := json.Marshal(value)
		b.WriteString(`"` + name + `":`)
		b.Write(v)
		if !last {
			b.WriteByte(',')
		}
	}
	b.WriteByte('{')
	switch k.KTY {
	case jwkset.KtyEC:
		member("crv", string(k.CRV), false)
		member("kty", string(k.KTY), false)
		member("x", k.X, false)
		member("y", k.Y, true)
	case jwkset.KtyRSA:
		member("e", k.E, false)
		member("kty", string(k.KTY), false)
		member("n", k.N, true)
	case jwkset.KtyOKP:
		member("crv", string(k.CRV), false)
		member("kty", string(k.KTY), false)
		member("x", k.X, true)
	default:
		return "", fmt.Errorf("%w: no thumbprint for kty %q", ErrKey, truncate(string(k.KTY)))
	}
	b.WriteByte('}')
	sum := sha256.Sum256([]byte(b.String()))
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// SameURI reports whether htu names the request URI uri, ignoring query
// and fragment, after RFC 3986 §6.2.2 syntax-based normalization (case of
// scheme, host and percent-encodings; unreserved characters decoded) and
// §6.2.3 scheme-based normalization (default port, empty path) of both,
// as RFC 9449 §4.3 asks.
func SameURI(htu, uri string) bool {
	a, ok := normalURI(htu)
	if !ok {
		return false
	}
	b, ok := normalURI(uri)
	return ok && a == b
}

func normalURI(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if scheme == "https" && port == "443" || scheme == "http" && port == "80" {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	path := normalPath(u.EscapedPath())
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, true
}

// normalPath upper-cases percent-encodings and decodes those of
// unreserved characters (RFC 3986 §6.2.2.1, §6.2.2.2).
func normalPath(p string) string {
	if !strings.Contains(p, "%") {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' || i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
			b.WriteByte(p[i])
			continue
		}
		c := unhex(p[i+1])<<4 | unhex(p[i+2])
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			b.WriteString(strings.ToUpper(p[i : i+3]))
		}
		i += 2
	}
	return b.String()
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// truncate bounds attacker-chosen text quoted in an error.
func truncate(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
