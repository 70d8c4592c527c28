package jwtverify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
)

const (
	// maxJWKSBytes and maxDiscoveryBytes bound what one fetch reads: the IdP
	// is trusted for keys, not for memory.
	maxJWKSBytes      = 512 << 10
	maxDiscoveryBytes = 64 << 10
	// maxKIDLen bounds a kid worth looking up or remembering.
	maxKIDLen = 256
	// maxNegative bounds the negative cache of unknown kids per issuer.
	maxNegative = 4096
	// negativeFactor times the unknown-kid refresh rate is how long a kid
	// confirmed absent is refused without another look. Longer than the rate,
	// so one kid repeated in a flood cannot win every refresh slot.
	negativeFactor = 10
)

// keyEntry is what the hot path needs to know about one JWK before it asks
// keyfunc for the key: its declared alg, type and curve.
type keyEntry struct {
	alg string
	kty jwkset.KTY
	crv jwkset.CRV
}

// keySnapshot is an immutable view of an issuer's usable keys.
type keySnapshot struct {
	keys   map[string]keyEntry
	loaded time.Time
}

// refreshCall is one JWKS fetch that any number of requests may wait for.
type refreshCall struct {
	done chan struct{}
	err  error
}

// keySet holds one issuer's JWKS: a jwkset memory storage behind a keyfunc,
// a lock-free snapshot of its kids, and the refresh machinery. One fetch at
// a time runs per issuer; everyone else waits for it, bounded by their own
// context.
type keySet struct {
	issuer       string
	rate         time.Duration
	unknownWait  time.Duration // longest an unknown kid waits for a refresh
	interval     time.Duration
	fetchTimeout time.Duration
	client       *http.Client
	log          *slog.Logger
	now          func() time.Time

	storage *jwkset.MemoryJWKSet
	kf      keyfunc.Keyfunc

	snap atomic.Pointer[keySnapshot]
	// gen increases whenever a refresh drops a kid, so cached
	// verifications under a withdrawn key stop counting.
	gen       atomic.Uint64
	ready     chan struct{}
	readyOnce sync.Once

	base context.Context // ends at Close
	wg   *sync.WaitGroup

	mu          sync.Mutex // guards the fields below; never held across I/O
	jwksURL     string     // configured, or found by discovery
	discovery   bool
	inflight    *refreshCall
	closed      bool
	lastUnknown time.Time
	negative    map[string]time.Time
	lastErr     error
	lastTry     time.Time
}

func newKeySet(base context.Context, wg *sync.WaitGroup, cfg *IssuerConfig, client *http.Client, log *slog.Logger, now func() time.Time, fetchTimeout time.Duration) (*keySet, error) {
	ks := &keySet{
		issuer:       cfg.Issuer,
		rate:         cfg.RefreshUnknownKIDRate,
		unknownWait:  cfg.UnknownKIDWait,
		interval:     cfg.RefreshInterval,
		fetchTimeout: fetchTimeout,
		client:       client,
		log:          log.With("issuer", cfg.Issuer),
		now:          now,
		storage:      jwkset.NewMemoryStorage(),
		ready:        make(chan struct{}),
		base:         base,
		wg:           wg,
		jwksURL:      cfg.JWKSURL,
		discovery:    cfg.Discovery,
		negative:     make(map[string]time.Time),
	}
	kf, err := keyfunc.New(keyfunc.Options{
		Ctx:     base,
		Storage: ks.storage,
		// Keycloak and others publish encryption keys in the same JWKS; a
		// key marked "enc" must never verify a signature.
		UseWhitelist: []jwkset.USE{jwkset.UseSig, ""},
	})
	if err != nil {
		return nil, fmt.Errorf("jwtverify: keyfunc for %q: %w", cfg.Issuer, err)
	}
	ks.kf = kf
	return ks, nil
}

// entry returns the key with id kid from the current snapshot.
func (ks *keySet) entry(kid string) (keyEntry, bool) {
	s := ks.snap.Load()
	if s == nil {
		return keyEntry{}, false
	}
	e, ok := s.keys[kid]
	return e, ok
}

// ensure returns nil once kid is in the key set. An unknown kid triggers a
// refresh at most once per rate (or joins one already running) and waits
// for it no longer than unknownWait and ctx allow, then is refused while
// the refresh goes on; a kid a successful refresh just proved absent is
// refused without waiting for negativeFactor × rate.
func (ks *keySet) ensure(ctx context.Context, kid string) error {
	if _, ok := ks.entry(kid); ok {
		return nil
	}
	if len(kid) > maxKIDLen {
		return ks.missing(errors.New("kid too long"))
	}
	now := ks.now()
	ks.mu.Lock()
	if until, ok := ks.negative[kid]; ok {
		if now.Before(until) {
			ks.mu.Unlock()
			return ks.missing(errors.New("kid recently confirmed absent"))
		}
		delete(ks.negative, kid)
	}
	call := ks.inflight
	if call == nil {
		if !ks.lastUnknown.IsZero() && now.Sub(ks.lastUnknown) < ks.rate {
			ks.mu.Unlock()
			// Fail fast rather than queue: waiting here is what lets a flood
			// of bogus kids pile up requests.
			return ks.missing(errors.New("unknown-kid refresh rate-limited"))
		}
		ks.lastUnknown = now
		call = ks.startLocked()
	}
	ks.mu.Unlock()

	wait := time.NewTimer(ks.unknownWait)
	defer wait.Stop()
	select {
	case <-call.done:
	case <-ctx.Done():
		return fmt.Errorf("jwtverify: waiting for keys of %q: %w", ks.issuer, ctx.Err())
	case <-wait.C:
		// An IdP that hangs must cost this request a 401, not Envoy's
		// timeout; the refresh finishes, or times out, on its own.
		return ks.missing(fmt.Errorf("JWKS refresh still running after unknown_kid_wait %s", ks.unknownWait))
	}
	if _, ok := ks.entry(kid); ok {
		return nil
	}
	if call.err != nil {
		return ks.missing(call.err)
	}
	ks.mu.Lock()
	ks.rememberAbsentLocked(kid, now)
	ks.mu.Unlock()
	return ks.missing(errors.New("not in the refreshed JWKS"))
}

// missing returns the error for a kid not found: ErrKeysUnavailable while
// the issuer has never had keys, else ErrUnknownKey.
func (ks *keySet) missing(cause error) error {
	if ks.snap.Load() == nil {
		return fmt.Errorf("%w: issuer %q: %w", ErrKeysUnavailable, ks.issuer, cause)
	}
	return fmt.Errorf("%w: %w", ErrUnknownKey, cause)
}

func (ks *keySet) rememberAbsentLocked(kid string, now time.Time) {
	if len(ks.negative) >= maxNegative {
		for k, until := range ks.negative {
			if !now.Before(until) {
				delete(ks.negative, k)
			}
		}
		if len(ks.negative) >= maxNegative {
			// Still full of live entries: forget them all. Forgotten kids
			// only cost a rate-limited refresh each.
			clear(ks.negative)
		}
	}
	ks.negative[kid] = now.Add(negativeFactor * ks.rate)
}

// refresh fetches the JWKS, or joins the fetch already running, and waits
// for it no longer than ctx allows.
func (ks *keySet) refresh(ctx context.Context) error {
	ks.mu.Lock()
	call := ks.inflight
	if call == nil {
		call = ks.startLocked()
	}
	ks.mu.Unlock()
	select {
	case <-call.done:
		return call.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startLocked starts a fetch in its own goroutine, bounded by the fetch
// timeout and Close but not by any one request: a request that gives up
// does not waste the fetch for the others.
func (ks *keySet) startLocked() *refreshCall {
	c := &refreshCall{done: make(chan struct{})}
	if ks.closed {
		c.err = errors.New("verifier closed")
		close(c.done)
		return c
	}
	ks.inflight = c
	ks.wg.Add(1)
	go func() {
		defer ks.wg.Done()
		ctx, cancel := context.WithTimeout(ks.base, ks.fetchTimeout)
		err := ks.load(ctx)
		cancel()
		ks.mu.Lock()
		ks.inflight = nil
		ks.lastErr = err
		ks.lastTry = ks.now()
		ks.mu.Unlock()
		ks.report(err)
		c.err = err
		close(c.done)
	}()
	return c
}

func (ks *keySet) report(err error) {
	switch {
	case err == nil:
	case ks.snap.Load() == nil:
		ks.log.Error("jwtverify: JWKS unreachable; tokens from this issuer are refused until its keys load",
			"url", ks.location(), "err", err)
	default:
		ks.log.Warn("jwtverify: JWKS refresh failed; keeping the last good keys",
			"url", ks.location(), "err", err)
	}
}

func (ks *keySet) location() string {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.jwksURL == "" && ks.discovery {
		return discoveryURL(ks.issuer)
	}
	return ks.jwksURL
}

// load fetches and parses the JWKS and swaps it in. On any error the last
// good keys stay.
func (ks *keySet) load(ctx context.Context) error {
	u, err := ks.jwksLocation(ctx)
	if err != nil {
		return err
	}
	var set jwkset.JWKSMarshal
	if err := fetchJSON(ctx, ks.client, u, maxJWKSBytes, &set); err != nil {
		return fmt.Errorf("JWKS %s: %w", u, err)
	}
	jwks := make([]jwkset.JWK, 0, len(set.Keys))
	keys := make(map[string]keyEntry, len(set.Keys))
	for _, m := range set.Keys {
		why := ""
		switch {
		case m.KID == "":
			why = "no kid" // tokens must name their key
		case m.USE != "" && m.USE != jwkset.UseSig:
			why = "use is not sig"
		case m.KTY == jwkset.KtyOct:
			why = "symmetric key" // a JWKS never supplies an HMAC secret
		case m.ALG != "" && !isAsymmetric(string(m.ALG)):
			why = "alg " + string(m.ALG) + " is not a signature algorithm we accept"
		}
		if _, dup := keys[m.KID]; dup && why == "" {
			why = "duplicate kid"
		}
		if why != "" {
			ks.log.Debug("jwtverify: JWK skipped", "kid", m.KID, "why", why)
			continue
		}
		// Private: false drops any private or symmetric material an IdP
		// might publish by mistake.
		jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			ks.log.Warn("jwtverify: JWK skipped", "kid", m.KID, "err", err)
			continue
		}
		jwks = append(jwks, jwk)
		keys[m.KID] = keyEntry{alg: string(m.ALG), kty: m.KTY, crv: m.CRV}
	}
	if len(keys) == 0 {
		// An empty set is more likely a broken IdP response than a wish to
		// refuse every token; keep the last good keys and say so.
		return fmt.Errorf("JWKS %s: no usable signing keys among %d", u, len(set.Keys))
	}
	if err := ks.storage.KeyReplaceAll(ctx, jwks); err != nil {
		return fmt.Errorf("JWKS %s: %w", u, err)
	}
	old := ks.snap.Load()
	if old != nil {
		for kid := range old.keys {
			if _, ok := keys[kid]; !ok {
				ks.gen.Add(1)
				break
			}
		}
	}
	ks.snap.Store(&keySnapshot{keys: keys, loaded: ks.now()})
	ks.readyOnce.Do(func() {
		ks.log.Info("jwtverify: issuer keys loaded", "url", u, "keys", len(keys))
		close(ks.ready)
	})
	return nil
}

func discoveryURL(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
}

// jwksLocation returns the JWKS URL, discovering it first if need be.
func (ks *keySet) jwksLocation(ctx context.Context) (string, error) {
	ks.mu.Lock()
	u := ks.jwksURL
	ks.mu.Unlock()
	if u != "" {
		return u, nil
	}
	d := discoveryURL(ks.issuer)
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := fetchJSON(ctx, ks.client, d, maxDiscoveryBytes, &doc); err != nil {
		return "", fmt.Errorf("discovery %s: %w", d, err)
	}
	// OpenID Connect Discovery §4.3: the document must be about this very
	// issuer, or one IdP could hand out another's keys.
	if doc.Issuer != ks.issuer {
		return "", fmt.Errorf("discovery %s: issuer %q does not match %q", d, doc.Issuer, ks.issuer)
	}
	if err := checkFetchURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("discovery %s: jwks_uri: %w", d, err)
	}
	ks.mu.Lock()
	ks.jwksURL = doc.JWKSURI
	ks.mu.Unlock()
	return doc.JWKSURI, nil
}

// run refreshes in the background until Close: every interval (with 10%
// jitter so replicas spread out) once keys are loaded, and with a backoff
// from 1s while they are not.
func (ks *keySet) run() {
	defer ks.wg.Done()
	backoff := time.Second
	for {
		wait := ks.interval + time.Duration((rand.Float64()-0.5)*0.2*float64(ks.interval))
		if ks.snap.Load() == nil {
			wait = backoff
			backoff = min(2*backoff, time.Minute, ks.interval)
		}
		t := time.NewTimer(wait)
		select {
		case <-ks.base.Done():
			t.Stop()
			return
		case <-t.C:
		}
		_ = ks.refresh(ks.base) // reported by the fetch itself
	}
}

func fetchJSON(ctx context.Context, client *http.Client, u string, limit int64, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return err
	}
	if int64(len(body)) > limit {
		return fmt.Errorf("response larger than %d bytes", limit)
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("decoding JSON: %w", err)
	}
	return nil
}

// safeClient returns c (or a default client) refusing redirects that leave
// https: a redirect must not downgrade where keys come from.
func safeClient(c *http.Client) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	}
	if out.CheckRedirect == nil {
		out.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			return checkFetchURL(req.URL.String())
		}
	}
	return &out
}
