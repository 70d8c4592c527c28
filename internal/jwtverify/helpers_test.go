package jwtverify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/partnergate/partnergate/internal/clocktest"
)

// testKey is a signing key an IdP under test owns.
type testKey struct {
	kid    string
	method jwt.SigningMethod
	priv   crypto.Signer
	// jwkAlg is the alg the JWKS declares for the key; "" declares none.
	jwkAlg string
	// use is the JWK use; "" means "sig".
	use string
}

func (k *testKey) public() crypto.PublicKey { return k.priv.Public() }

// Key generation is slow for RSA; every test shares these, read-only.
var (
	rsaPriv  = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA() })
	rsaPriv2 = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA() })
	ecPriv   = sync.OnceValue(func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
	p384Priv = sync.OnceValue(func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
	edPriv = sync.OnceValue(func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

func mustRSA() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

func rsaKey(kid string) *testKey {
	return &testKey{kid: kid, method: jwt.SigningMethodRS256, priv: rsaPriv(), jwkAlg: "RS256"}
}
func rsaKey2(kid string) *testKey {
	return &testKey{kid: kid, method: jwt.SigningMethodRS256, priv: rsaPriv2(), jwkAlg: "RS256"}
}
func ecKey(kid string) *testKey {
	return &testKey{kid: kid, method: jwt.SigningMethodES256, priv: ecPriv(), jwkAlg: "ES256"}
}
func edKey(kid string) *testKey {
	return &testKey{kid: kid, method: jwt.SigningMethodEdDSA, priv: edPriv(), jwkAlg: "EdDSA"}
}

// idp is a real HTTP JWKS endpoint (and discovery document) whose keys,
// availability and speed a test controls.
type idp struct {
	srv      *httptest.Server
	jwks     atomic.Pointer[[]byte]
	disco    atomic.Pointer[[]byte]
	down     atomic.Bool
	hold     atomic.Pointer[chan struct{}] // non-nil: JWKS requests wait for it
	requests atomic.Int64                  // JWKS requests served or refused
}

func newIdP(t testing.TB, keys ...*testKey) *idp {
	t.Helper()
	p := &idp{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/jwks":
			p.requests.Add(1)
			if ch := p.hold.Load(); ch != nil {
				select {
				case <-*ch:
				case <-r.Context().Done():
					return
				}
			}
			if p.down.Load() {
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(*p.jwks.Load())
		case "/.well-known/openid-configuration":
			if p.down.Load() || p.disco.Load() == nil {
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write(*p.disco.Load())
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(p.srv.Close)
	p.publish(t, keys...)
	return p
}

func (p *idp) url() string     { return p.srv.URL }
func (p *idp) jwksURL() string { return p.srv.URL + "/jwks" }

// publish replaces the JWKS with the public halves of keys.
func (p *idp) publish(t testing.TB, keys ...*testKey) {
	t.Helper()
	set := jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{}}
	for _, k := range keys {
		use := jwkset.USE(k.use)
		if use == "" {
			use = jwkset.UseSig
		}
		j, err := jwkset.NewJWKFromKey(k.public(), jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: jwkset.ALG(k.jwkAlg), USE: use},
		})
		if err != nil {
			t.Fatalf("JWK %s: %v", k.kid, err)
		}
		set.Keys = append(set.Keys, j.Marshal())
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	p.jwks.Store(&b)
}

// discover serves a discovery document naming issuer.
func (p *idp) discover(t testing.TB, issuer string) {
	t.Helper()
	b, err := json.Marshal(map[string]string{"issuer": issuer, "jwks_uri": p.jwksURL()})
	if err != nil {
		t.Fatal(err)
	}
	p.disco.Store(&b)
}

// newClock returns the tests' clock, which moves only when told.
// testUnknownKIDWait lets a refresh from the loopback IdP finish however
// loaded the machine is, in tests about what a refresh finds rather than
// about how long a request waits for it (those set their own bound).
const testUnknownKIDWait = 5 * time.Second

func newClock() *clocktest.Clock { return clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)) }

const testAudience = "https://api.partnergate.test"

// env is one IdP, one clock and one Verifier trusting the IdP.
type env struct {
	idp   *idp
	clock *clocktest.Clock
	cfg   IssuerConfig
	v     *Verifier
}

// newEnv starts an IdP publishing keys and a Verifier trusting it, after
// edit adjusts the issuer config and options.
func newEnv(t testing.TB, keys []*testKey, edit func(*IssuerConfig, *Options)) *env {
	t.Helper()
	e := &env{idp: newIdP(t, keys...), clock: newClock()}
	e.cfg = IssuerConfig{
		Issuer:         e.idp.url(),
		JWKSURL:        e.idp.jwksURL(),
		Audiences:      []string{testAudience},
		UnknownKIDWait: testUnknownKIDWait,
	}
	opts := Options{Now: e.clock.Now, Logger: quietLogger()}
	if edit != nil {
		edit(&e.cfg, &opts)
	}
	v, err := New(context.Background(), []IssuerConfig{e.cfg}, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(v.Close)
	e.v = v
	return e
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// claims returns the claims of a good client-credentials token from e's
// issuer, issued now.
func (e *env) claims() jwt.MapClaims {
	now := e.clock.Now()
	return jwt.MapClaims{
		"iss":       e.cfg.Issuer,
		"aud":       testAudience,
		"iat":       now.Unix(),
		"exp":       now.Add(5 * time.Minute).Unix(),
		"jti":       "tok-1",
		"sub":       "acme-billing",
		"client_id": "acme-billing",
		"scope":     "orders:read orders:write",
	}
}

// sign signs claims with k, kid in the header. hdr adds header parameters;
// a nil value deletes one.
func sign(t testing.TB, k *testKey, hdr map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(k.method, claims)
	tok.Header["kid"] = k.kid
	for h, v := range hdr {
		if v == nil {
			delete(tok.Header, h)
		} else {
			tok.Header[h] = v
		}
	}
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// edit returns claims with changes applied; a nil value deletes a claim.
func edit(c jwt.MapClaims, changes map[string]any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}
