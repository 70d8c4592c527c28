package loadgen

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/partnergate/partnergate/internal/partner"
)

// Access-token settings of the benchmark's issuer.
const (
	// TokenAudience is the aud of every minted token, and the audience
	// partnergate is configured to accept.
	TokenAudience = "https://api.example.com"
	// TokenClient is the OAuth2 client id the tokens are minted for,
	// registered to [SeedPartner].
	TokenClient = "pgload-client"
	// tokenLifetime is exp - iat of a minted token, as a client-credentials
	// grant hands out.
	tokenLifetime = time.Hour
)

// TokenAlgs are the signing algorithms the benchmark measures.
var TokenAlgs = [...]string{"RS256", "ES256"}

// Issuer is an OAuth2 token issuer for the benchmark: an RSA-2048 and a
// P-256 signing key generated at start, their JWKS served over loopback
// HTTP, and a minter of client-credentials access tokens. The server
// fetches the keys from it as from a real IdP.
type Issuer struct {
	// URL is the tokens' iss; JWKSURL is where its keys are published.
	URL, JWKSURL string

	rsaKey *rsa.PrivateKey
	ecKey  *ecdsa.PrivateKey
	srv    *http.Server
	done   chan error
}

// Key ids of the issuer's two keys.
const (
	kidRS256 = "pgload-rs256"
	kidES256 = "pgload-es256"
)

// StartIssuer generates the keys and serves their JWKS on a loopback port
// until Close.
func StartIssuer() (*Issuer, error) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	var keys []jwkset.JWKMarshal
	for _, k := range []struct {
		pub any
		kid string
		alg jwkset.ALG
	}{{rk.Public(), kidRS256, jwkset.AlgRS256}, {ek.Public(), kidES256, jwkset.AlgES256}} {
		jwk, err := jwkset.NewJWKFromKey(k.pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: k.alg, USE: jwkset.UseSig}})
		if err != nil {
			return nil, err
		}
		keys = append(keys, jwk.Marshal())
	}
	jwks, err := json.Marshal(jwkset.JWKSMarshal{Keys: keys})
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	})
	base := "http://" + lis.Addr().String()
	is := &Issuer{
		URL: base, JWKSURL: base + "/jwks", rsaKey: rk, ecKey: ek,
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		done: make(chan error, 1),
	}
	go func() { is.done <- is.srv.Serve(lis) }()
	return is, nil
}

// Close stops serving the JWKS.
func (is *Issuer) Close() error {
	err := is.srv.Close()
	if serr := <-is.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// Client is the registration that maps the issuer's tokens to
// [SeedPartner].
func (is *Issuer) Client() *partner.Client {
	return &partner.Client{Issuer: is.URL, ClientID: TokenClient, PartnerID: SeedPartner}
}

// WriteConfig writes a partnergate config file to path that trusts this
// issuer (its JWKS URL, [TokenAudience], [TokenAlgs]); the issuer list has
// no environment form. cacheSize and cacheTTL, if positive, set
// jwt.cache_size and jwt.cache_ttl. JSON is YAML, so config.Load reads it
// as any config file.
func (is *Issuer) WriteConfig(path string, cacheSize int, cacheTTL time.Duration) error {
	jwtCfg := map[string]any{
		"issuers": []map[string]any{{
			"issuer":     is.URL,
			"jwks_url":   is.JWKSURL,
			"audiences":  []string{TokenAudience},
			"algorithms": TokenAlgs[:],
		}},
	}
	if cacheSize > 0 {
		jwtCfg["cache_size"] = cacheSize
	}
	if cacheTTL > 0 {
		jwtCfg["cache_ttl"] = cacheTTL.String()
	}
	b, err := json.MarshalIndent(map[string]any{"jwt": jwtCfg}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

// Tokens mints n distinct access tokens (jti differs) for [TokenClient],
// signed with alg, one of [TokenAlgs]. Each grants [Scope] and lives an
// hour. Signing is the cost (an RSA-2048 signature is a private-key
// operation, about a millisecond), so the tokens are signed on
// GOMAXPROCS goroutines at once; see also [Issuer.TokensOnEveryCPU].
func (is *Issuer) Tokens(alg string, n int) ([]string, error) {
	method, kid, key, err := is.signer(alg)
	if err != nil {
		return nil, err
	}
	return mintAll(method, kid, key, is.URL, "pgload-"+alg, n, time.Now(), runtime.GOMAXPROCS(0))
}

// mintAll signs n tokens, whose jtis are prefix, now and their index, on
// workers goroutines.
func mintAll(method jwt.SigningMethod, kid string, key any, iss, prefix string, n int, now time.Time, workers int) ([]string, error) {
	out := make([]string, n)
	workers = min(max(workers, 1), max(n, 1))
	var next atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				tok, err := mint(method, kid, key, iss, fmt.Sprintf("%s-%d-%d", prefix, now.UnixNano(), i), now)
				if err != nil {
					errs[w] = err
					next.Store(int64(n)) // the others stop at their next token
					return
				}
				out[i] = tok
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func (is *Issuer) signer(alg string) (jwt.SigningMethod, string, any, error) {
	switch alg {
	case "RS256":
		return jwt.SigningMethodRS256, kidRS256, is.rsaKey, nil
	case "ES256":
		return jwt.SigningMethodES256, kidES256, is.ecKey, nil
	}
	return nil, "", nil, fmt.Errorf("loadgen: token algorithm %q: want one of %v", alg, TokenAlgs[:])
}

// mint signs a client-credentials access token for [TokenClient] with key,
// naming kid in its header.
func mint(method jwt.SigningMethod, kid string, key any, iss, jti string, now time.Time) (string, error) {
	tok := jwt.NewWithClaims(method, jwt.MapClaims{
		"iss": iss, "sub": TokenClient, "client_id": TokenClient, "aud": TokenAudience,
		"scope": Scope, "jti": jti, "iat": now.Unix(), "exp": now.Add(tokenLifetime).Unix(),
	})
	tok.Header["kid"] = kid
	return tok.SignedString(key)
}
