package secretscan

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of [KeySet.Verify]. Each is refused with 401.
var (
	ErrUnknownKey = errors.New("secretscan: unknown public key identifier")
	ErrSignature  = errors.New("secretscan: bad signature")
	ErrNoKeys     = errors.New("secretscan: no public keys loaded")
)

// Defaults of [KeySetOptions].
const (
	DefaultMinRefresh   = time.Minute
	DefaultFetchTimeout = 10 * time.Second
	// maxKeysBody caps the public keys document; GitHub's is about 1 KiB.
	maxKeysBody = 1 << 20
)

// KeySetOptions configures a [KeySet]. Zero values take the defaults.
type KeySetOptions struct {
	// URL serves {"public_keys":[{"key_identifier","key","is_current"}]},
	// each key a PEM PKIX ECDSA P-256 public key.
	URL string
	// Client fetches URL; nil means a client with FetchTimeout.
	Client *http.Client
	// MinRefresh is the least time between two fetches an unknown key
	// identifier triggers, so a flood of made-up identifiers costs the
	// key server one request a MinRefresh (default 1m).
	MinRefresh time.Duration
	// FetchTimeout bounds one fetch (default 10s).
	FetchTimeout time.Duration
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// KeySet is one program's public signing keys: fetched on demand, cached,
// and refreshed when a report names an identifier it does not hold, at
// most once a MinRefresh. A failed fetch keeps the keys it had, so an
// outage of the key server does not refuse reports signed with a known
// key. Verify reads an immutable map behind an atomic pointer.
type KeySet struct {
	opts KeySetOptions
	keys atomic.Pointer[map[string]*ecdsa.PublicKey]

	mu sync.Mutex // serialises fetches
	// lastTriggered is when an unknown identifier last caused a fetch;
	// the fetch at start and explicit refreshes do not count.
	lastTriggered time.Time
	fetches       atomic.Int64
}

// NewKeySet returns a KeySet that has fetched nothing yet; call
// [KeySet.Refresh] to load it at start.
func NewKeySet(o KeySetOptions) (*KeySet, error) {
	if o.URL == "" {
		return nil, errors.New("secretscan: a key set needs a public keys URL")
	}
	if o.MinRefresh <= 0 {
		o.MinRefresh = DefaultMinRefresh
	}
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = DefaultFetchTimeout
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.FetchTimeout}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &KeySet{opts: o}, nil
}

// Fetches returns how many fetches have been attempted.
func (k *KeySet) Fetches() int64 { return k.fetches.Load() }

// Len returns how many keys are loaded.
func (k *KeySet) Len() int {
	if m := k.keys.Load(); m != nil {
		return len(*m)
	}
	return 0
}

// Refresh fetches the keys now, whatever the rate limit. On failure the
// loaded keys stay.
func (k *KeySet) Refresh(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.fetchLocked(ctx)
}

func (k *KeySet) fetchLocked(ctx context.Context) error {
	k.fetches.Add(1)
	m, err := k.fetch(ctx)
	if err != nil {
		k.opts.Logger.Warn("secret scanning: public keys fetch failed; keeping the keys loaded", "url", k.opts.URL, "keys", k.Len(), "err", err)
		return err
	}
	k.keys.Store(&m)
	return nil
}

func (k *KeySet) fetch(ctx context.Context) (map[string]*ecdsa.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, k.opts.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.opts.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.opts.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("public keys: HTTP %d", resp.StatusCode)
	}
	var doc struct {
		PublicKeys []struct {
			KeyIdentifier string `json:"key_identifier"`
			Key           string `json:"key"`
			IsCurrent     bool   `json:"is_current"`
		} `json:"public_keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxKeysBody)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("public keys: %w", err)
	}
	m := make(map[string]*ecdsa.PublicKey, len(doc.PublicKeys))
	var bad []error
	for _, pk := range doc.PublicKeys {
		pub, err := parseKey(pk.Key)
		if err != nil || pk.KeyIdentifier == "" {
			bad = append(bad, fmt.Errorf("key %q: %v", pk.KeyIdentifier, err))
			continue
		}
		m[pk.KeyIdentifier] = pub
	}
	if len(m) == 0 {
		return nil, errors.Join(append([]error{errors.New("public keys: no usable ECDSA P-256 key")}, bad...)...)
	}
	if len(bad) > 0 {
		k.opts.Logger.Warn("secret scanning: public keys skipped", "url", k.opts.URL, "err", errors.Join(bad...))
	}
	return m, nil
}

// parseKey parses a PEM PKIX public key and accepts only ECDSA P-256, the
// one scheme both programs sign with.
func parseKey(s string) (*ecdsa.PublicKey, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("not PEM")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("not an ECDSA P-256 key")
	}
	return ec, nil
}

// lookup returns the key named id, refreshing once if it is unknown and
// no unknown identifier caused a fetch in the last MinRefresh.
func (k *KeySet) lookup(ctx context.Context, id string) (*ecdsa.PublicKey, error) {
	if pub := k.get(id); pub != nil {
		return pub, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if pub := k.get(id); pub != nil { // another request's fetch found it
		return pub, nil
	}
	if now := k.opts.Now(); k.lastTriggered.IsZero() || now.Sub(k.lastTriggered) >= k.opts.MinRefresh {
		k.lastTriggered = now
		_ = k.fetchLocked(ctx) // logged; the old keys stay
		if pub := k.get(id); pub != nil {
			return pub, nil
		}
	}
	if k.Len() == 0 {
		return nil, ErrNoKeys
	}
	return nil, ErrUnknownKey
}

func (k *KeySet) get(id string) *ecdsa.PublicKey {
	if m := k.keys.Load(); m != nil {
		return (*m)[id]
	}
	return nil
}

// Verify checks that signature, base64 of an ASN.1 DER ECDSA signature,
// signs SHA-256 of body with the key named id. body is verified as
// received: the bytes the program signed, never a re-encoding.
func (k *KeySet) Verify(ctx context.Context, id, signature string, body []byte) error {
	pub, err := k.lookup(ctx, id)
	if err != nil {
		return err
	}
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return ErrSignature
	}
	sum := sha256.Sum256(body)
	if !ecdsa.VerifyASN1(pub, sum[:], sig) {
		return ErrSignature
	}
	return nil
}
