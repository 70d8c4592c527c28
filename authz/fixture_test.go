package authz

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/policy"
)

// fakeIndex is an in-memory Index that counts key look-ups.
type fakeIndex struct {
	ready    atomic.Bool
	stale    atomic.Bool
	mu       sync.Mutex
	keys     map[string]partner.KeyRecord
	partners map[string]*partner.Partner
	clients  map[[2]string]string
	revoked  map[[2]string]bool
	lookups  atomic.Int64
}

func (f *fakeIndex) Ready() bool { return f.ready.Load() }
func (f *fakeIndex) Stale() bool { return f.stale.Load() }

func (f *fakeIndex) Key(_ context.Context, id string) (partner.KeyRecord, bool) {
	f.lookups.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.keys[id]
	return r, ok
}

func (f *fakeIndex) Partner(id string) (*partner.Partner, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.partners[id]
	return p, ok
}

func (f *fakeIndex) Client(issuer, clientID string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.clients[[2]string{issuer, clientID}]
	return id, ok
}

func (f *fakeIndex) TokenRevoked(issuer, jti string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.revoked[[2]string{issuer, jti}]
}

// recorder is an Auditor that keeps the last decision.
type recorder struct {
	mu   sync.Mutex
	last Decision
	n    int
}

func (r *recorder) Decision(_ context.Context, d Decision) {
	r.mu.Lock()
	r.last = d
	r.n++
	r.mu.Unlock()
}

func (r *recorder) get() (Decision, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last, r.n
}

var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

type fixture struct {
	index  *fakeIndex
	audit  *recorder
	format apikey.Format
	hasher *apikey.Hasher
	dec    *Decider
	// keys by name: "acme" (orders:read orders:write), "acme-read"
	// (orders:read), "expired", "valid-until-later", "revoked",
	// "globex", "suspended" (partner umbra), "orphan" (no partner)
	keys map[string]apikey.Key
}

// newFixture returns a Decider over an index of keys and partners, with
// pol as its policy and tokens (if not nil) as its verifier.
func newFixture(t testing.TB, pol *policy.Policy, tokens TokenVerifier) *fixture {
	t.Helper()
	format, err := apikey.NewFormat("pg_test_")
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := apikey.NewHasher(1, map[int][]byte{1: []byte(strings.Repeat("p", 32))})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{
		index: &fakeIndex{
			keys: map[string]partner.KeyRecord{},
			partners: map[string]*partner.Partner{
				"acme":   {ID: "acme", Tier: "gold", Scopes: partner.Scopes{"orders:read", "orders:write"}, State: partner.Active},
				"globex": {ID: "globex", Tier: "free", Scopes: partner.Scopes{"orders:read"}, State: partner.Active},
				"umbra":  {ID: "umbra", Tier: "free", Scopes: partner.Scopes{"orders:read"}, State: partner.Suspended},
			},
			clients: map[[2]string]string{},
			revoked: map[[2]string]bool{},
		},
		audit:  &recorder{},
		format: format,
		hasher: hasher,
		keys:   map[string]apikey.Key{},
	}
	f.index.ready.Store(true)
	add := func(name, partnerID, scopes string, mutate func(*partner.KeyRecord)) {
		k, err := format.Generate(nil)
		if err != nil {
			t.Fatal(err)
		}
		digest, v := hasher.Digest(k)
		rec := partner.KeyRecord{ID: k.ID(), PartnerID: partnerID, Scopes: scopes, Digest: digest, PepperVersion: v, Version: 7}
		if mutate != nil {
			mutate(&rec)
		}
		f.index.keys[k.ID()] = rec
		f.keys[name] = k
	}
	add("acme", "acme", "orders:read orders:write", nil)
	add("acme-read", "acme", "orders:read", nil)
	add("expired", "acme", "orders:read", func(r *partner.KeyRecord) { r.ExpiresAt = testNow.Add(-time.Second).UnixNano() })
	add("valid-until-later", "acme", "orders:read", func(r *partner.KeyRecord) { r.ExpiresAt = testNow.Add(time.Hour).UnixNano() })
	add("revoked", "acme", "orders:read", func(r *partner.KeyRecord) { r.Revoked = true })
	add("globex", "globex", "orders:read", nil)
	add("suspended", "umbra", "orders:read", nil)
	add("orphan", "nobody", "orders:read", nil)

	f.dec, err = New(Options{Index: f.index, Keys: format, Hasher: hasher, Policy: pol, Tokens: tokens, Auditor: f.audit,
		Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// request builds a Request as a transport would for an orders route;
// scopes nil means the route requires orders:read.
func request(method, path string, hdrs map[string]string, scopes *string) Request {
	h := MapHeaders{"user-agent": "partner-sdk/1.2", "accept": "application/json", "x-request-id": "req-123"}
	for k, v := range hdrs {
		h[k] = v
	}
	req := Request{Method: method, Scheme: "https", Host: "api.example.com", Path: path, Headers: h,
		SourceAddr: "203.0.113.7", RequiredScopes: "orders:read", ID: "req-123"}
	if scopes != nil {
		req.RequiredScopes = *scopes
	}
	return req
}

func route(scopes string) *string { return &scopes }

func bearerOf(k apikey.Key) map[string]string {
	return map[string]string{"authorization": "Bearer " + k.Reveal()}
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func mustGenerate(t testing.TB, f apikey.Format) apikey.Key {
	k, err := f.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
