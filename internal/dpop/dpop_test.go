package dpop

// Test strategy: proofs are real JWTs signed by keys generated here, with
// the public key embedded as the client would (jwkset). TestVerify breaks
// each rule of RFC 9449 §4.3 in turn, one row each, asserting the reason
// code; a good proof replayed is refused, and the same jti under another
// key is not a replay. Thumbprint is checked against the examples of RFC
// 7638 §3.1 and RFC 9449 §6.1. The fuzz target feeds arbitrary proofs.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

var (
	testNow   = time.Unix(1_800_000_000, 0)
	testToken = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhY21lIn0.c2lnbmF0dXJl"
	testURI   = "https://api.example.com/v1/orders"
	ecKey     = sync.OnceValue(func() *ecdsa.PrivateKey { k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader); return k })
	ecKey2    = sync.OnceValue(func() *ecdsa.PrivateKey { k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader); return k })
	p384Key   = sync.OnceValue(func() *ecdsa.PrivateKey { k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader); return k })
	rsaKey    = sync.OnceValue(func() *rsa.PrivateKey { k, _ := rsa.GenerateKey(rand.Reader, 2048); return k })
	rsaSmall  = sync.OnceValue(func() *rsa.PrivateKey { k, _ := rsa.GenerateKey(rand.Reader, 1024); return k })
	edKey     = sync.OnceValue(func() ed25519.PrivateKey { _, k, _ := ed25519.GenerateKey(rand.Reader); return k })
)

// ath is the RFC 9449 §4.2 hash of token.
func ath(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// jwkOf is key's public JWK as a header value.
func jwkOf(t testing.TB, key any) map[string]any {
	t.Helper()
	j, err := jwkset.NewJWKFromKey(key, jwkset.JWKOptions{Marshal: jwkset.JWKMarshalOptions{Private: false}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(j.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// proofSpec is a proof to mint: signed with key by method, embedding
// the public key of jwkKey (key's, if nil).
type proofSpec struct {
	method jwt.SigningMethod
	key    crypto.Signer
	header map[string]any // added, or deleted where nil
	claims jwt.MapClaims  // added, or deleted where nil
}

func goodClaims() jwt.MapClaims {
	return jwt.MapClaims{"jti": "proof-1", "htm": "POST", "htu": testURI, "iat": testNow.Unix(), "ath": ath(testToken)}
}

func mint(t testing.TB, s proofSpec) string {
	t.Helper()
	if s.method == nil {
		s.method, s.key = jwt.SigningMethodES256, ecKey()
	}
	c := goodClaims()
	for k, v := range s.claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	tok := jwt.NewWithClaims(s.method, c)
	tok.Header["typ"] = "dpop+jwt"
	tok.Header["jwk"] = jwkOf(t, s.key.Public())
	for k, v := range s.header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	var signKey any = s.key
	if s.method == jwt.SigningMethodNone {
		signKey = jwt.UnsafeAllowNoneSignatureType
	}
	out, err := tok.SignedString(signKey)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func newVerifier(t testing.TB, opts Options) *Verifier {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return testNow }
	}
	v, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func request() Request { return Request{Method: "POST", URI: testURI, AccessToken: testToken} }

func TestVerify(t *testing.T) {
	withPrivate := func(t testing.TB) map[string]any {
		j, err := jwkset.NewJWKFromKey(ecKey(), jwkset.JWKOptions{Marshal: jwkset.JWKMarshalOptions{Private: true}})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(j.Marshal())
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return m
	}
	tests := []struct {
		name   string
		spec   func(t testing.TB) proofSpec
		proof  string // instead of spec
		req    func(r *Request)
		opts   Options
		reason string // "" accepts
	}{
		{name: "es256-good", spec: func(testing.TB) proofSpec { return proofSpec{} }},
		{name: "eddsa-good", spec: func(testing.TB) proofSpec { return proofSpec{method: jwt.SigningMethodEdDSA, key: edKey()} }},
		{name: "rs256-good", spec: func(testing.TB) proofSpec { return proofSpec{method: jwt.SigningMethodRS256, key: rsaKey()} }},
		{name: "ps256-good", spec: func(testing.TB) proofSpec { return proofSpec{method: jwt.SigningMethodPS256, key: rsaKey()} }},
		{name: "typ-missing", spec: func(testing.TB) proofSpec { return proofSpec{header: map[string]any{"typ": nil}} }, reason: "wrong_type"},
		{name: "typ-jwt", spec: func(testing.TB) proofSpec { return proofSpec{header: map[string]any{"typ": "JWT"}} }, reason: "wrong_type"},
		{name: "typ-access-token", spec: func(testing.TB) proofSpec { return proofSpec{header: map[string]any{"typ": "at+jwt"}} }, reason: "wrong_type"},
		{name: "alg-none", spec: func(testing.TB) proofSpec {
			return proofSpec{method: jwt.SigningMethodNone, key: ecKey()}
		}, reason: "algorithm_not_allowed"},
		{name: "alg-not-in-allow-list", spec: func(testing.TB) proofSpec { return proofSpec{method: jwt.SigningMethodES384, key: p384Key()} }, reason: "algorithm_not_allowed"},
		{name: "alg-allowed-when-listed", spec: func(testing.TB) proofSpec { return proofSpec{method: jwt.SigningMethodES384, key: p384Key()} },
			opts: Options{Algorithms: []string{"ES384"}}},
		{name: "hs256", proof: func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, goodClaims())
			tok.Header["typ"] = "dpop+jwt"
			tok.Header["jwk"] = map[string]any{"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}
			s, _ := tok.SignedString([]byte("secretsecretsecretsecretsecretse"))
			return s
		}(), reason: "algorithm_not_allowed"},
		{name: "jwk-missing", spec: func(testing.TB) proofSpec { return proofSpec{header: map[string]any{"jwk": nil}} }, reason: "bad_key"},
		{name: "jwk-not-an-object", spec: func(testing.TB) proofSpec { return proofSpec{header: map[string]any{"jwk": "key"}} }, reason: "bad_key"},
		{name: "jwk-with-private-part", spec: func(t testing.TB) proofSpec { return proofSpec{header: map[string]any{"jwk": withPrivate(t)}} }, reason: "bad_key"},
		{name: "jwk-another-curve", spec: func(t testing.TB) proofSpec {
			return proofSpec{header: map[string]any{"jwk": jwkOf(t, p384Key().Public())}}
		}, reason: "bad_key"},
		{name: "jwk-rsa-for-es256", spec: func(t testing.TB) proofSpec {
			return proofSpec{header: map[string]any{"jwk": jwkOf(t, rsaKey().Public())}}
		}, reason: "bad_key"},
		{name: "jwk-rsa-1024", spec: func(testing.TB) proofSpec { return proofSpec{method: jwt.SigningMethodRS256, key: rsaSmall()} }, reason: "bad_key"},
		{name: "signed-by-another-key", spec: func(t testing.TB) proofSpec {
			return proofSpec{header: map[string]any{"jwk": jwkOf(t, ecKey2().Public())}}
		}, reason: "bad_signature"},
		{name: "htm-wrong", spec: func(testing.TB) proofSpec { return proofSpec{claims: jwt.MapClaims{"htm": "GET"}} }, reason: "htm_mismatch"},
		{name: "htm-lower-case", spec: func(testing.TB) proofSpec { return proofSpec{claims: jwt.MapClaims{"htm": "post"}} }, reason: "htm_mismatch"},
		{name: "htu-other-path", spec: func(testing.TB) proofSpec {
			return proofSpec{claims: jwt.MapClaims{"htu": "https://api.example.com/v1/refunds"}}
		}, reason: "htu_mismatch"},
		{name: "htu-other-host", spec: func(testing.TB) proofSpec {
			return proofSpec{claims: jwt.MapClaims{"htu": "https://evil.example.com/v1/orders"}}
		}, reason: "htu_mismatch"},
		{name: "htu-http-for-https", spec: func(testing.TB) proofSpec {
			return proofSpec{claims: jwt.MapClaims{"htu": "http://api.example.com/v1/orders"}}
		}, reason: "htu_mismatch"},
		{name: "htu-normalized-match", spec: func(testing.TB) proofSpec {
			return proofSpec{claims: jwt.MapClaims{"htu": "HTTPS://API.example.com:443/v1/%6Frders"}}
		}},
		{name: "htu-query-ignored", spec: func(testing.TB) proofSpec { return proofSpec{} },
			req: func(r *Request) { r.URI += "?page=2#top" }},
		{name: "iat-too-old", spec: func(testing.TB) proofSpec {
			return proofSpec{claims: jwt.MapClaims{"iat": testNow.Add(-61 * time.Second).Unix()}}
		}, reason: "iat_out_of_window"},
		{name: "iat-too-new", spec: func(testing.TB) proofSpec {
			return proofSpec{claims: jwt.MapClaims{"iat": testNow.Add(61 * time.Second).Unix()}}
		}, reason: "iat_out_of_window"},
		{name: "iat-within-window", spec: func(testing.TB) proofSpec {
			return proofSpec{claims: jwt.MapClaims{"iat": testNow.Add(-59 * time.Second).Unix()}}
		}},
		{name: "iat-window-configured", spec: func(testing.TB) proofSpec {
			return proofSpec{claims: jwt.MapClaims{"iat": testNow.Add(-59 * time.Second).Unix()}}
		},
			opts: Options{Window: 30 * time.Second}, reason: "iat_out_of_window"},
		{name: "iat-not-a-number", spec: func(testing.TB) proofSpec { return proofSpec{claims: jwt.MapClaims{"iat": "now"}} }, reason: "malformed"},
		{name: "ath-of-another-token", spec: func(testing.TB) proofSpec { return proofSpec{claims: jwt.MapClaims{"ath": ath("another token")}} }, reason: "ath_mismatch"},
		{name: "ath-missing", spec: func(testing.TB) proofSpec { return proofSpec{claims: jwt.MapClaims{"ath": nil}} }, reason: "malformed"},
		{name: "jti-missing", spec: func(testing.TB) proofSpec { return proofSpec{claims: jwt.MapClaims{"jti": nil}} }, reason: "malformed"},
		{name: "jti-too-long", spec: func(testing.TB) proofSpec { return proofSpec{claims: jwt.MapClaims{"jti": strings.Repeat("j", 257)}} }, reason: "malformed"},
		{name: "htm-missing", spec: func(testing.TB) proofSpec { return proofSpec{claims: jwt.MapClaims{"htm": nil}} }, reason: "malformed"},
		{name: "not-a-jwt", proof: "not.a.jwt", reason: "malformed"},
		{name: "too-large", proof: strings.Repeat("a", MaxProofBytes+1), reason: "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, tt.opts)
			proof := tt.proof
			if tt.spec != nil {
				proof = mint(t, tt.spec(t))
			}
			r := request()
			if tt.req != nil {
				tt.req(&r)
			}
			p, err := v.Verify(proof, r)
			if err == nil {
				err = v.Record(p)
			}
			if got := Reason(err); got != tt.reason {
				t.Fatalf("Verify: reason %q (%v), want %q", got, err, tt.reason)
			}
			if tt.reason == "" && (p.KeyThumbprint == "" || p.JTI != "proof-1") {
				t.Errorf("proof = %+v", p)
			}
		})
	}
}

// verifyAndRecord is Verify then Record, as a caller uses them.
func verifyAndRecord(v *Verifier, proof string, r Request) (*Proof, error) {
	p, err := v.Verify(proof, r)
	if err != nil {
		return nil, err
	}
	return p, v.Record(p)
}

func TestReplay(t *testing.T) {
	now := testNow
	v := newVerifier(t, Options{Now: func() time.Time { return now }})
	proof := mint(t, proofSpec{})
	if _, err := verifyAndRecord(v, proof, request()); err != nil {
		t.Fatal(err)
	}
	if _, err := verifyAndRecord(v, proof, request()); Reason(err) != "replayed_jti" {
		t.Fatalf("replayed proof: %v, want replayed_jti", err)
	}
	// The same jti from another key is another client's: no replay.
	other := mint(t, proofSpec{method: jwt.SigningMethodES256, key: ecKey2()})
	if _, err := verifyAndRecord(v, other, request()); err != nil {
		t.Fatalf("same jti, another key: %v", err)
	}
	// A refused proof does not take its jti: it can be sent again fixed.
	v2 := newVerifier(t, Options{})
	bad := mint(t, proofSpec{claims: jwt.MapClaims{"jti": "proof-2", "htm": "GET"}})
	if _, err := verifyAndRecord(v2, bad, request()); Reason(err) != "htm_mismatch" {
		t.Fatal(err)
	}
	good := mint(t, proofSpec{claims: jwt.MapClaims{"jti": "proof-2"}})
	if _, err := verifyAndRecord(v2, good, request()); err != nil {
		t.Fatalf("a jti first sent in a refused proof: %v", err)
	}
}

func TestReplayCacheBounded(t *testing.T) {
	now := testNow
	c := newReplayCache(replayShards) // one entry per shard
	for i := range 10 * replayShards {
		err := c.add("key", fmt.Sprint(i), now.Add(time.Minute), now)
		if err != nil && !errors.Is(err, ErrReplayCacheFull) {
			t.Fatal(err)
		}
	}
	held := 0
	for i := range c.shards {
		held += len(c.shards[i].until)
	}
	if held > replayShards {
		t.Fatalf("holds %d, bound %d", held, replayShards)
	}
	// Once the window has passed, entries make room again.
	later := now.Add(2 * time.Minute)
	for i := range 10 * replayShards {
		if err := c.add("key", fmt.Sprint("new", i), later.Add(time.Minute), later); err != nil && !errors.Is(err, ErrReplayCacheFull) {
			t.Fatal(err)
		}
	}
	if err := c.add("key", "0", later.Add(time.Minute), later); errors.Is(err, ErrReplay) {
		t.Error("an expired jti still counted as a replay")
	}
}

// TestThumbprint uses the examples of RFC 7638 §3.1 (RSA) and RFC 9449
// §6.1 (EC P-256).
func TestThumbprint(t *testing.T) {
	tests := []struct {
		name string
		jwk  jwkset.JWKMarshal
		want string
	}{
		{"rfc7638-rsa", jwkset.JWKMarshal{KTY: jwkset.KtyRSA, E: "AQAB",
			N: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"},
			"NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"},
		{"rfc9449-ec", jwkset.JWKMarshal{KTY: jwkset.KtyEC, CRV: jwkset.CrvP256,
			X: "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs", Y: "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"},
			"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Thumbprint(tt.jwk)
			if err != nil || got != tt.want {
				t.Errorf("Thumbprint = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	err := Options{Algorithms: []string{"HS256", "none"}, Window: time.Hour, ReplayCacheSize: -1}.Validate("jwt.dpop.")
	for _, want := range []string{`jwt.dpop.algorithms: "HS256"`, `jwt.dpop.algorithms: "none"`, "jwt.dpop.window", "jwt.dpop.replay_cache_size"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to name %s", err, want)
		}
	}
}

// FuzzVerify: a proof is attacker-controlled text; verifying it must
// never panic, and must either accept or refuse with a sentinel.
func FuzzVerify(f *testing.F) {
	f.Add("")                                                        // nothing
	f.Add("a.b.c")                                                   // not base64url JSON
	f.Add("eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.")                           // typ only, no alg, no signature
	f.Add(mint(f, proofSpec{}))                                      // a good proof
	f.Add(mint(f, proofSpec{claims: jwt.MapClaims{"iat": 1.5e300}})) // an absurd iat
	v := newVerifier(f, Options{})
	f.Fuzz(func(t *testing.T, proof string) {
		p, err := verifyAndRecord(v, proof, request())
		if err != nil {
			if Reason(err) == "internal" {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if p.KeyThumbprint == "" {
			t.Fatal("accepted without a key thumbprint")
		}
	})
}

func TestReplayForgetsAfterWindow(t *testing.T) {
	c := newReplayCache(1000)
	if err := c.add("key", "j", testNow.Add(time.Minute), testNow); err != nil {
		t.Fatal(err)
	}
	if err := c.add("key", "j", testNow.Add(time.Minute), testNow.Add(59*time.Second)); !errors.Is(err, ErrReplay) {
		t.Errorf("within the window: %v, want ErrReplay", err)
	}
	if err := c.add("key", "j", testNow.Add(2*time.Minute), testNow.Add(time.Minute)); err != nil {
		t.Errorf("once the window has passed: %v, want the jti accepted", err)
	}
}
