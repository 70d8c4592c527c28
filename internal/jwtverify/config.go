package jwtverify

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
)

// IssuerConfig is one trusted token issuer. Zero values mean the documented
// default. Call [IssuerConfig.Validate] or [Issuers.Validate] before [New];
// New validates again and refuses an invalid config.
type IssuerConfig struct {
	// Issuer is the exact iss value tokens carry, byte for byte (a trailing
	// slash matters).
	Issuer string `yaml:"issuer"`
	// JWKSURL is where the issuer publishes its signing keys. It must be
	// https, except for a loopback host. Set exactly one of JWKSURL,
	// Discovery and SharedSecretFile.
	JWKSURL string `yaml:"jwks_url"`
	// Discovery finds the JWKS through OpenID Connect discovery:
	// <issuer>/.well-known/openid-configuration, whose "issuer" must equal
	// Issuer and whose jwks_uri must be https (or loopback).
	Discovery bool `yaml:"discovery"`
	// SharedSecretFile holds an HMAC secret (at least as many bytes as the
	// hash: 32 for HS256); trailing white space is trimmed. Only with it
	// may Algorithms name HS256, HS384 or HS512, and then nothing else. Prefer
	// an asymmetric issuer: every holder of the secret can mint tokens.
	SharedSecretFile string `yaml:"shared_secret_file"`
	// Audiences lists the accepted aud values; a token must name at least
	// one. Required.
	Audiences []string `yaml:"audiences"`
	// Algorithms is the alg allow-list. Default: RS256, ES256, EdDSA (with a
	// shared secret: HS256). "none" is always refused.
	Algorithms []string `yaml:"algorithms"`
	// Leeway tolerates clock skew on exp, nbf and iat. Default 30s, at most
	// 5m.
	Leeway time.Duration `yaml:"leeway"`
	// ClientClaim names the claim holding the OAuth2 client id: client_id,
	// azp, cid, appid or sub. Default client_id.
	ClientClaim string `yaml:"client_claim"`
	// ScopeClaim names the claim holding the granted scopes: scope, scp or
	// roles, either a space-separated string or an array of strings.
	// Default scope.
	ScopeClaim string `yaml:"scope_claim"`
	// RequireType, when set, is the required typ header, compared without
	// regard to case and with an optional "application/" prefix, e.g.
	// "at+jwt" (RFC 9068) to refuse ID tokens.
	RequireType string `yaml:"require_type"`
	// MaxTokenLifetime is the longest exp - iat accepted: a token minted
	// for ten years is a long-lived secret however it is signed (RFC 9068
	// §4 expects access tokens to be short-lived). Default 24h; between
	// 1m and 720h.
	MaxTokenLifetime time.Duration `yaml:"max_token_lifetime"`
	// MaxTokenBytes caps the token length. Default 8 KiB, at most 64 KiB.
	MaxTokenBytes int `yaml:"max_token_bytes"`
	// RefreshInterval is how often the JWKS is fetched in the background.
	// Default 15m; between 1m and 24h.
	RefreshInterval time.Duration `yaml:"refresh_interval"`
	// RefreshUnknownKIDRate is the shortest time between two refreshes
	// triggered by an unknown kid (one per this interval). Default 30s;
	// between 1s and 1h.
	RefreshUnknownKIDRate time.Duration `yaml:"refresh_unknown_kid_rate"`
	// UnknownKIDWait is the longest a token with an unknown kid waits for
	// the JWKS refresh it triggers (or joins) before it is refused as
	// unknown_kid; the refresh goes on in the background. It keeps an IdP
	// that hangs from turning every such request into a timeout at Envoy
	// (whose ext_authz timeout is 0.25s in the shipped configs): keep it
	// well below that timeout. Tokens with a known kid never wait. Default
	// 100ms; at most 10s.
	UnknownKIDWait time.Duration `yaml:"unknown_kid_wait"`
	// RequireCertificateBound refuses every token of the issuer that is
	// not bound to a client certificate (cnf "x5t#S256", RFC 8705 §3): a
	// bearer token of this issuer is then worth nothing without the
	// partner's private key. Default false: a bound token still needs its
	// certificate, an unbound one is accepted.
	RequireCertificateBound bool `yaml:"require_certificate_bound"`
	// RequireDPoP refuses every token of the issuer that is not presented
	// as "Authorization: DPoP" with a valid proof of its bound key (cnf
	// "jkt", RFC 9449 §7.1). Default false: a DPoP-bound token still needs
	// its proof, an unbound one may be sent as Bearer.
	RequireDPoP bool `yaml:"require_dpop"`
}

// Issuers is the issuer list of a configuration.
type Issuers []IssuerConfig

// Names returns each issuer's iss value, in order.
func (is Issuers) Names() []string {
	out := make([]string, len(is))
	for i := range is {
		out[i] = is[i].Issuer
	}
	return out
}

// Defaults and bounds of [IssuerConfig].
const (
	DefaultLeeway                = 30 * time.Second
	MaxLeeway                    = 5 * time.Minute
	DefaultMaxTokenLifetime      = 24 * time.Hour
	MaxMaxTokenLifetime          = 720 * time.Hour
	DefaultMaxTokenBytes         = 8 << 10
	MaxMaxTokenBytes             = 64 << 10
	DefaultRefreshInterval       = 15 * time.Minute
	DefaultRefreshUnknownKIDRate = 30 * time.Second
	DefaultUnknownKIDWait        = 100 * time.Millisecond
	MaxUnknownKIDWait            = 10 * time.Second
	DefaultClientClaim           = "client_id"
	DefaultScopeClaim            = "scope"
)

// DefaultAlgorithms is the alg allow-list of an issuer that names none.
var DefaultAlgorithms = []string{"RS256", "ES256", "EdDSA"}

var (
	asymmetricAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
	hmacAlgs       = []string{"HS256", "HS384", "HS512"}
	clientClaims   = []string{"client_id", "azp", "cid", "appid", "sub"}
	scopeClaims    = []string{"scope", "scp", "roles"}
)

// Validate reports every problem with the issuer list at once, each naming
// its field as issuers[i].key.
func (is Issuers) Validate() error {
	var errs []error
	seen := make(map[string]int, len(is))
	for i := range is {
		prefix := fmt.Sprintf("issuers[%d].", i)
		errs = append(errs, is[i].validate(prefix)...)
		if j, dup := seen[is[i].Issuer]; dup && is[i].Issuer != "" {
			errs = append(errs, partner.Invalid(prefix+"issuer", "%q is already issuers[%d]", is[i].Issuer, j))
		}
		seen[is[i].Issuer] = i
	}
	return errors.Join(errs...)
}

// Validate reports every problem with c at once, each naming its key.
func (c *IssuerConfig) Validate() error { return errors.Join(c.validate("")...) }

func (c *IssuerConfig) validate(prefix string) []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, partner.Invalid(prefix+key, format, args...))
	}
	if c.Issuer == "" {
		bad("issuer", "required")
	} else if strings.TrimSpace(c.Issuer) != c.Issuer {
		bad("issuer", "must not start or end with white space")
	}

	sources := 0
	if c.JWKSURL != "" {
		sources++
		if err := checkFetchURL(c.JWKSURL); err != nil {
			bad("jwks_url", "%v", err)
		}
	}
	if c.Discovery {
		sources++
		if err := checkFetchURL(c.Issuer); err != nil {
			bad("discovery", "issuer must be a URL to discover from: %v", err)
		}
	}
	if c.SharedSecretFile != "" {
		sources++
	}
	if sources != 1 {
		bad("jwks_url", "set exactly one of jwks_url, discovery and shared_secret_file")
	}

	if len(c.Audiences) == 0 {
		bad("audiences", "at least one audience is required")
	}
	for _, a := range c.Audiences {
		if a == "" {
			bad("audiences", "must not contain an empty audience")
		}
	}

	for _, alg := range c.Algorithms {
		switch {
		case strings.EqualFold(alg, "none"):
			// RFC 8725 §3.1: an unsigned token is never acceptable.
			bad("algorithms", `"none" is never allowed`)
		case slices.Contains(hmacAlgs, alg):
			// A symmetric alg next to a JWKS is the RS256/HS256 confusion.
			if c.SharedSecretFile == "" {
				bad("algorithms", "%s needs shared_secret_file", alg)
			}
		case slices.Contains(asymmetricAlgs, alg):
			if c.SharedSecretFile != "" {
				bad("algorithms", "%s cannot be used with shared_secret_file: only HS256, HS384 and HS512 can", alg)
			}
		default:
			bad("algorithms", "unknown algorithm %q (want one of %s, or %s with shared_secret_file)",
				alg, strings.Join(asymmetricAlgs, ", "), strings.Join(hmacAlgs, ", "))
		}
	}

	if c.RequireCertificateBound && c.RequireDPoP {
		bad("require_dpop", "set at most one of require_certificate_bound and require_dpop: a token is bound one way")
	}
	if c.Leeway < 0 || c.Leeway > MaxLeeway {
		bad("leeway", "must be between 0 and %s", MaxLeeway)
	}
	if c.ClientClaim != "" && !slices.Contains(clientClaims, c.ClientClaim) {
		bad("client_claim", "%q is not one of %s", c.ClientClaim, strings.Join(clientClaims, ", "))
	}
	if c.ScopeClaim != "" && !slices.Contains(scopeClaims, c.ScopeClaim) {
		bad("scope_claim", "%q is not one of %s", c.ScopeClaim, strings.Join(scopeClaims, ", "))
	}
	if c.RequireType != "" && strings.ContainsFunc(c.RequireType, func(r rune) bool { return r <= ' ' || r > '~' }) {
		bad("require_type", "must be a media type such as at+jwt")
	}
	if c.MaxTokenLifetime != 0 && (c.MaxTokenLifetime < time.Minute || c.MaxTokenLifetime > MaxMaxTokenLifetime) {
		bad("max_token_lifetime", "must be between 1m and %s (0: the default %s)", MaxMaxTokenLifetime, DefaultMaxTokenLifetime)
	}
	if c.MaxTokenBytes < 0 || c.MaxTokenBytes > MaxMaxTokenBytes {
		bad("max_token_bytes", "must be between 0 (default %d) and %d", DefaultMaxTokenBytes, MaxMaxTokenBytes)
	}
	if c.RefreshInterval != 0 && (c.RefreshInterval < time.Minute || c.RefreshInterval > 24*time.Hour) {
		bad("refresh_interval", "must be between 1m and 24h")
	}
	if c.RefreshUnknownKIDRate != 0 && (c.RefreshUnknownKIDRate < time.Second || c.RefreshUnknownKIDRate > time.Hour) {
		bad("refresh_unknown_kid_rate", "must be between 1s and 1h")
	}
	if c.UnknownKIDWait < 0 || c.UnknownKIDWait > MaxUnknownKIDWait {
		bad("unknown_kid_wait", "must be between 0 (default %s) and %s", DefaultUnknownKIDWait, MaxUnknownKIDWait)
	}
	return errs
}

// withDefaults returns c with every zero value replaced by its default.
func (c IssuerConfig) withDefaults() IssuerConfig {
	if len(c.Algorithms) == 0 {
		c.Algorithms = DefaultAlgorithms
		if c.SharedSecretFile != "" {
			c.Algorithms = []string{"HS256"}
		}
	}
	c.Algorithms = slices.Clone(c.Algorithms)
	c.Audiences = slices.Clone(c.Audiences)
	if c.Leeway == 0 {
		c.Leeway = DefaultLeeway
	}
	if c.ClientClaim == "" {
		c.ClientClaim = DefaultClientClaim
	}
	if c.ScopeClaim == "" {
		c.ScopeClaim = DefaultScopeClaim
	}
	if c.MaxTokenLifetime == 0 {
		c.MaxTokenLifetime = DefaultMaxTokenLifetime
	}
	if c.MaxTokenBytes == 0 {
		c.MaxTokenBytes = DefaultMaxTokenBytes
	}
	if c.RefreshInterval == 0 {
		c.RefreshInterval = DefaultRefreshInterval
	}
	if c.RefreshUnknownKIDRate == 0 {
		c.RefreshUnknownKIDRate = DefaultRefreshUnknownKIDRate
	}
	if c.UnknownKIDWait == 0 {
		c.UnknownKIDWait = DefaultUnknownKIDWait
	}
	return c
}

// checkFetchURL reports whether raw may be fetched for keys: https, or http
// to a loopback host only (keys fetched in clear text could be swapped), with
// no credentials in it (URLs reach logs).
func checkFetchURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	if u.User != nil {
		return errors.New("must not carry credentials")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q must be https (http only for a loopback host)", raw)
	default:
		return fmt.Errorf("%q must be https", raw)
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
