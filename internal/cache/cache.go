package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/allegro/bigcache/v3"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/assoc"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

// Source is what the cache needs of the store.
type Source interface {
	Snapshot(ctx context.Context, v store.Visitor) (int64, error)
	Changes(ctx context.Context, since int64, limit int) ([]store.Change, error)
	Notify(ctx context.Context) <-chan struct{}
	GetPartner(ctx context.Context, id string) (*partner.Partner, error)
	GetCredential(ctx context.Context, id string) (*partner.Credential, error)
	// GetCredentials returns those of the credentials named that exist,
	// in any order; see [store.Store.GetCredentials].
	GetCredentials(ctx context.Context, ids []string) ([]*partner.Credential, error)
	GetClient(ctx context.Context, issuer, clientID string) (*partner.Client, error)
	GetTokenRevocation(ctx context.Context, issuer, jti string) (*partner.TokenRevocation, error)
	GetCertificate(ctx context.Context, id string) (*partner.Certificate, error)
}

// Options configures a [Cache]. The zero value of each field selects the
// default named beside it.
type Options struct {
	// NegativeTTL is how long a key id the store does not know is
	// remembered as unknown (default 30s).
	NegativeTTL time.Duration
	// MissLookups bounds store look-ups for key ids missing from the cache,
	// per second (default 20; negative disables them). A flood of random
	// well-formed keys therefore costs the store at most this trickle.
	MissLookups float64
	// MissTimeout bounds one such look-up (default 250ms).
	MissTimeout time.Duration
	// PollInterval is how often the feed is read when no notification
	// arrives (default 1s).
	PollInterval time.Duration
	// NotifyCoalesce bounds the feed reads that notifications wake to one
	// per NotifyCoalesce on average, after a burst of notifyBurst (default
	// 10ms; negative: no bound). Changes that come one at a time, or a
	// few together, are read at once; a stream of them, a notification
	// per committed write, is read in batches instead of a read per
	// write: each read costs the store round trips whatever it finds.
	NotifyCoalesce time.Duration
	// ReconcileInterval is how often Run compares a fresh snapshot with
	// the cache and repairs any difference, the last safety net behind the
	// feed (default 5m; negative disables).
	ReconcileInterval time.Duration
	// MaxStaleness is how long the feed may go unread before the cache
	// reports itself [Cache.Stale] and Check stops trusting it (fail in a
	// known state: NIST SP 800-53 SC-24); zero never does.
	MaxStaleness time.Duration
	// ExpectedKeys sizes the index before the first snapshot (default
	// 10,000). A store that reports how many credentials its snapshot
	// holds sizes it instead.
	ExpectedKeys int
	// HotKeys is how many records of keys in use are kept decoded in
	// front of the index (default 16,384); size it to the keys in use at
	// once.
	HotKeys int
	// Shards is the bigcache shard count in all, over the index's
	// segments (default 1024).
	Shards int
	// Now is the clock that decides when a token revocation has outlived
	// its token (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.NegativeTTL <= 0 {
		o.NegativeTTL = 30 * time.Second
	}
	if o.MissLookups == 0 {
		o.MissLookups = 20
	}
	if o.MissTimeout <= 0 {
		o.MissTimeout = 250 * time.Millisecond
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.NotifyCoalesce == 0 {
		o.NotifyCoalesce = 10 * time.Millisecond
	}
	if o.ReconcileInterval == 0 {
		o.ReconcileInterval = 5 * time.Minute
	}
	if o.ExpectedKeys <= 0 {
		o.ExpectedKeys = 10_000
	}
	if o.Shards <= 0 {
		o.Shards = 1024
	}
	if o.HotKeys <= 0 {
		o.HotKeys = defaultHotKeys
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Cache is the hot index. Build it with [New], fill it with [Cache.Load],
// keep it current with [Cache.Run].
type Cache struct {
	src  Source
	opts Options

	keys     *index // written under putMu
	negative *bigcache.BigCache
	partners atomic.Pointer[map[string]*partner.Partner]
	clients  atomic.Pointer[map[tokenKey]string] // (issuer, client id) → partner id
	certs    atomic.Pointer[map[certKey]*partner.Certificate]
	revoked  atomic.Pointer[map[tokenKey]time.Time] // (issuer, jti) → token exp
	swept    time.Time                              // last revocation sweep; feed applier only
	intern   *interner                              // strings of decoded entries
	hot      *assoc.Table[hotRecord]                // records of keys in use

	misses  singleflight.Group
	limiter *rate.Limiter // nil: miss look-ups disabled

	applyMu     sync.Mutex          // one feed applier at a time
	propagation func(time.Duration) // see ReportPropagation; guarded by applyMu
	putMu       sync.Mutex          // orders writes to keys: a newer row version always wins; never taken by a read
	writes      keyWrites           // writes to keys since start, by stripe; see wroteKey
	yield       func()              // tests only: see interleave
	version     atomic.Int64
	ready       atomic.Bool
	behind      atomic.Bool  // a write this process committed is not applied; see SyncWrite
	lastSync    atomic.Int64 // Unix nanoseconds of the last successful feed read
	feed        feedHealth
	stats       Stats
}

// Stats counts cache outcomes since start; read them with Snapshot.
type Stats struct {
	Hits, Misses, NegativeHits, MissLookups atomic.Int64
}

// New returns an empty, not-ready cache over src.
func New(src Source, opts Options) (*Cache, error) {
	opts.defaults()
	c := &Cache{src: src, opts: opts}
	keys, err := newIndex(&c.putMu, opts.Shards, opts.ExpectedKeys, defaultEntry, opts.Logger.Error)
	if err != nil {
		return nil, err
	}
	c.keys = keys
	negative, err := bigcache.New(context.Background(), bigcache.Config{
		Shards:             64,
		LifeWindow:         opts.NegativeTTL,
		CleanWindow:        max(opts.NegativeTTL, time.Second),
		MaxEntriesInWindow: 10_000,
		MaxEntrySize:       8,
		HardMaxCacheSize:   64, // MB: a flood of unknown ids cannot grow it without bound
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	c.negative = negative
	if opts.MissLookups > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(opts.MissLookups), max(1, int(opts.MissLookups)))
	}
	empty := map[string]*partner.Partner{}
	c.partners.Store(&empty)
	c.intern = newInterner(&c.partners)
	c.hot = newHotKeys(opts.HotKeys)
	c.writes = newKeyWrites(opts.HotKeys)
	c.initTokens()
	c.initCertificates()
	return c, nil
}

// Close releases the cache's memory.
func (c *Cache) Close() error {
	return errors.Join(c.keys.close(), c.negative.Close())
}

// Ready reports whether the initial snapshot has been loaded.
func (c *Cache) Ready() bool { return c.ready.Load() }

// Version returns the last change-feed version applied.
func (c *Cache) Version() int64 { return c.version.Load() }

// LastSync returns when the feed was last read successfully.
func (c *Cache) LastSync() time.Time { return time.Unix(0, c.lastSync.Load()) }

// Len returns the number of credentials held, tombstones included.
func (c *Cache) Len() int { return c.keys.len() }

// Compactions returns how many index segments have been compacted since
// start: copied, live entries only, into a fresh bigcache.
func (c *Cache) Compactions() int64 { return c.keys.compactions.Load() }

// Stats returns the cache's counters.
func (c *Cache) Stats() *Stats { return &c.stats }

// Load fills the cache from a store snapshot and marks it ready. Call it
// once, before Run.
func (c *Cache) Load(ctx context.Context) error {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	partners := map[string]*partner.Partner{}
	clients := map[tokenKey]string{}
	revoked := map[tokenKey]time.Time{}
	certs := map[certKey]*partner.Certificate{}
	// The store decodes rows on this goroutine while another encodes
	// them and fills the index: on two cores they overlap.
	count := -1 // set before the first batch is sent, read after
	batches := make(chan []*partner.Credential, 4)
	filled := make(chan error, 1)
	var failed atomic.Bool
	go func() {
		err := c.fill(batches, &count)
		if err != nil {
			failed.Store(true)
		}
		filled <- err
	}()
	batch := make([]*partner.Credential, 0, loadBatch)
	send := func() error {
		if failed.Load() {
			return errFillFailed
		}
		batches <- batch
		batch = make([]*partner.Credential, 0, loadBatch)
		return nil
	}
	visitor := store.Visitor{
		Partner: func(p *partner.Partner) error {
			partners[p.ID] = p
			return nil
		},
		CredentialCount: func(n int) error {
			count = n
			return nil
		},
		Credential: func(cr *partner.Credential) error {
			if batch = append(batch, cr); len(batch) == loadBatch {
				return send()
			}
			return nil
		},
	}
	tokenVisitor(&visitor, clients, revoked)
	certificateVisitor(&visitor, certs)
	version, err := c.src.Snapshot(ctx, visitor)
	if err == nil && len(batch) > 0 {
		err = send()
	}
	close(batches)
	if ferr := <-filled; ferr != nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("cache: loading snapshot: %w", err)
	}
	c.partners.Store(&partners)
	c.clients.Store(&clients)
	c.certs.Store(&certs)
	c.revoked.Store(&revoked)
	c.version.Store(version)
	c.feedSucceeded(version)
	c.ready.Store(true)
	c.opts.Logger.Info("cache loaded", "partners", len(partners), "keys", c.keys.len(), "version", version)
	return nil
}

// loadSample is how many credentials Load encodes before it sizes the
// index by their average size; loadBatch, how many it hands over at once
// from the snapshot to the goroutine that fills the index.
const (
	loadSample = 1024
	loadBatch  = 256
)

// pendingEntry is an encoded credential on its way into the index.
type pendingEntry struct {
	id    string
	entry []byte
}

// errFillFailed stops a snapshot whose entries can no longer be stored;
// the filler's own error is the one reported.
var errFillFailed = errors.New("cache: filling the index failed")

// fill encodes the credentials of batches into the index until batches is
// closed, and reports the first failure; it drains batches whatever
// happens. The index is sized once, before it fills, so that no bigcache
// queue grows by doubling (and leaves the old one behind as garbage): for
// count credentials, as the store reported before the first batch (-1 if
// it did not), each the average size of the first loadSample encoded. An
// index that was empty is filled without looking up each key first: ids
// in a snapshot are unique, and before the cache is ready nothing else
// writes to the index (see readKey).
func (c *Cache) fill(batches <-chan []*partner.Credential, count *int) error {
	var (
		sized, bulk bool
		pending     []pendingEntry
		bytes       int64
		buf         []byte
		failure     error
	)
	install := func(p []pendingEntry) error {
		c.putMu.Lock()
		defer c.putMu.Unlock()
		for _, e := range p {
			if bulk {
				if err := c.keys.add(e.id, e.entry); err != nil {
					return err
				}
				continue
			}
			_, replaced, err := c.keys.set(e.id, e.entry)
			if replaced {
				// A newer row replaced an entry of an earlier try: forget
				// any view of it.
				c.wroteKey(e.id)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	size := func() error {
		sized = true
		n := *count
		if n < 0 {
			n = c.opts.ExpectedKeys
		}
		avg := int64(defaultEntry)
		if len(pending) > 0 {
			avg = (bytes + int64(len(pending)) - 1) / int64(len(pending))
		}
		c.putMu.Lock()
		var err error
		bulk, err = c.keys.resize(max(n, len(pending)), int(avg))
		c.putMu.Unlock()
		if err != nil {
			return err
		}
		err = install(pending)
		pending = nil
		return err
	}
	out := make([]pendingEntry, 0, loadBatch)
	for b := range batches {
		if failure != nil {
			continue
		}
		out = out[:0]
		for _, cr := range b {
			rec := cr.Record()
			if !sized {
				e := encode(nil, &rec)
				pending = append(pending, pendingEntry{cr.ID, e})
				bytes += wrapped(cr.ID, e)
				if len(pending) == loadSample {
					if failure = size(); failure != nil {
						break
					}
				}
				continue
			}
			start := len(buf)
			buf = encode(buf, &rec)
			out = append(out, pendingEntry{cr.ID, buf[start:len(buf):len(buf)]})
		}
		if failure == nil && len(out) > 0 {
			failure = install(out)
		}
		buf = buf[:0]
	}
	if failure == nil && !sized {
		failure = size()
	}
	return failure
}

// Run follows the change feed until ctx is done, waking on the store's
// notifications and polling as a safety net.
func (c *Cache) Run(ctx context.Context) error {
	notify := c.src.Notify(ctx)
	// A bounded read, so a store that hangs rather than refuses shows up
	// as a failed feed (and, past MaxStaleness, a stale cache).
	readFeed := func() {
		sctx, cancel := context.WithTimeout(ctx, feedTimeout)
		_ = c.Sync(sctx) // failures are logged and counted by Sync
		cancel()
	}
	// A change committed between Load and the subscription notified no
	// one: catch up now rather than at the first poll.
	var reads *rate.Limiter // nil: reads are not bounded
	if c.opts.NotifyCoalesce > 0 {
		reads = rate.NewLimiter(rate.Every(c.opts.NotifyCoalesce), notifyBurst)
	}
	readFeed()
	tick := time.NewTicker(c.opts.PollInterval)
	defer tick.Stop()
	var reconcile <-chan time.Time // nil, never firing, when disabled
	if c.opts.ReconcileInterval > 0 {
		rt := time.NewTicker(c.opts.ReconcileInterval)
		defer rt.Stop()
		reconcile = rt.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-notify:
			// Notifications that arrive while this wait lasts coalesce
			// into the one pending, and are read with it.
			if wait := readDelay(reads); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return nil
				case <-t.C:
				}
			}
		case <-tick.C:
		case <-reconcile:
			rctx, cancel := context.WithTimeout(ctx, reconcileTimeout)
			if err := c.Reconcile(rctx); err != nil && ctx.Err() == nil {
				c.opts.Logger.Warn("cache reconcile failed; retrying at the next interval", "err", err)
			}
			cancel()
			continue
		}
		readFeed()
	}
}

// notifyBurst is how many notified feed reads may follow each other at
// once before NotifyCoalesce spaces them.
const notifyBurst = 8

// readDelay returns how long a notified feed read waits for its turn
// under reads (nil: none), and takes the turn.
func readDelay(reads *rate.Limiter) time.Duration {
	if reads == nil {
		return 0
	}
	return reads.Reserve().Delay()
}

// feedBatch is how many feed entries are read per round trip.
const feedBatch = 1000

// feedTimeout bounds one background feed read; reconcileTimeout one full
// reconcile, which reads every credential.
const (
	feedTimeout      = 10 * time.Second
	reconcileTimeout = 2 * time.Minute
)

// ErrNotLoaded is returned by [Cache.Sync] before [Cache.Load] has
// succeeded: there is no cache to bring up to date.
var ErrNotLoaded = errors.New("cache: not loaded")

// Sync applies every change committed so far. The admin API calls it after
// each write so that the serving replica refuses a revoked key on the very
// next Check.
func (c *Cache) Sync(ctx context.Context) error {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	return c.syncLocked(ctx)
}

// SyncWrite is [Cache.Sync] after a write this process has committed and
// acknowledged. If it fails the cache is known to lack that write — a
// revocation, perhaps — so it reports [Cache.Behind] until a later read
// of the feed succeeds, which applies it.
func (c *Cache) SyncWrite(ctx context.Context) error {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	err := c.syncLocked(ctx)
	if err != nil && !errors.Is(err, ErrNotLoaded) {
		if !c.behind.Swap(true) {
			c.opts.Logger.Error("cache behind a committed admin write: not ready until the change feed catches up",
				"err", err, "version", c.version.Load())
		}
	}
	return err
}

// ApplyWritten installs credentials a write through this process has
// just committed, each exactly as the store returned it (its new version
// included), so that the cache answers with them at once, without reading
// the change feed: the admin API calls it after a key write so that this
// replica refuses a revoked key on the very next Check. The feed delivers
// the same rows later, to no effect; the version check of every install
// keeps a newer row, from the feed or a miss look-up, in place. If a
// credential cannot be stored it falls back to [Cache.SyncWrite].
func (c *Cache) ApplyWritten(ctx context.Context, creds ...*partner.Credential) error {
	if !c.ready.Load() {
		// Before the snapshot the loader is the index's only writer, and
		// it reads the committed row itself.
		return ErrNotLoaded
	}
	for _, cr := range creds {
		if _, err := c.install(cr); err != nil {
			return c.SyncWrite(ctx)
		}
		c.negative.Delete(cr.ID)
	}
	return nil
}

// Behind reports whether a write committed through this process could not
// be applied to the cache and no feed read has succeeded since.
func (c *Cache) Behind() bool { return c.behind.Load() }

func (c *Cache) syncLocked(ctx context.Context) error {
	if !c.ready.Load() {
		// Before the snapshot the feed has nothing to apply to, and a
		// failure here says nothing about a cache that was never served.
		return ErrNotLoaded
	}
	for {
		changes, err := c.src.Changes(ctx, c.version.Load(), feedBatch)
		if errors.Is(err, store.ErrFeedPruned) {
			// Further behind than the feed's retention: the entries this
			// cache needs are gone, so it reloads the whole state instead
			// of replaying (a reconcile installs every newer row, removes
			// what the store no longer has and moves the version to the
			// snapshot's).
			c.opts.Logger.Warn("cache further behind than the change feed's retention: reloading a full snapshot",
				"version", c.version.Load())
			c.feed.reloads.Add(1)
			if err = c.reconcileLocked(ctx); err == nil {
				continue
			}
		}
		if err == nil && len(changes) > 0 {
			c.feed.seen(changes[len(changes)-1].Version)
			err = c.apply(ctx, changes)
		}
		if err != nil {
			// A cancelled caller says nothing about the store; a read that
			// ran out of time does.
			if !errors.Is(ctx.Err(), context.Canceled) {
				c.feedFailed(err)
			}
			return err
		}
		c.feedSucceeded(c.version.Load())
		if len(changes) < feedBatch {
			if c.behind.Swap(false) {
				c.opts.Logger.Info("cache caught up with the committed admin write", "version", c.version.Load())
			}
			if now := c.opts.Now(); now.Sub(c.swept) >= revocationSweep || now.Before(c.swept) {
				c.sweepRevocations(now)
				c.swept = now
			}
			return nil
		}
	}
}

// apply reloads and installs each changed entity in version order,
// advancing the version after each, so a failure part-way resumes where it
// stopped. The batch's credentials are read first, in one call: every read
// follows the Changes read that listed them, so each row read is at least
// as new as the changes that name it, as a read per change was, and put's
// version check keeps a newer row installed meanwhile.
func (c *Cache) apply(ctx context.Context, changes []store.Change) error {
	creds, err := c.credentialsOf(ctx, changes)
	if err != nil {
		return err
	}
	for _, ch := range changes {
		switch ch.Kind {
		case store.KindPartner:
			p, err := c.src.GetPartner(ctx, ch.ID)
			if err != nil && !errors.Is(err, partner.ErrNotFound) {
				return err
			}
			c.setPartner(ch.ID, p)
		case store.KindCredential:
			if cr, ok := creds[ch.ID]; ok {
				c.put(cr)
			} else {
				c.remove(ch.ID) // gone from the store
			}
			c.negative.Delete(ch.ID)
		case store.KindClient, store.KindTokenRevocation:
			if _, err := c.applyToken(ctx, ch); err != nil {
				return err
			}
		case store.KindCertificate:
			if err := c.applyCertificate(ctx, ch); err != nil {
				return err
			}
		case store.KindOperator:
			// Operators are not on the Check path: the admin API reads
			// them from the store on every call.
		default:
			// A kind this version does not know: skip it rather than stall
			// the feed; a newer replica applies it.
			c.opts.Logger.Debug("change feed: unknown kind", "kind", ch.Kind, "version", ch.Version)
		}
		c.version.Store(ch.Version)
		c.propagated(ch)
	}
	return nil
}

// credentialsOf reads, in one store call, the credentials the credential
// changes of a batch name, by id; an id missing from the map is gone from
// the store.
func (c *Cache) credentialsOf(ctx context.Context, changes []store.Change) (map[string]*partner.Credential, error) {
	var ids []string
	for _, ch := range changes {
		if ch.Kind == store.KindCredential {
			ids = append(ids, ch.ID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return c.credentialsByID(ctx, ids)
}

// credentialsByID reads the credentials with the given ids in one store
// call, by id; an id missing from the map is gone from the store.
func (c *Cache) credentialsByID(ctx context.Context, ids []string) (map[string]*partner.Credential, error) {
	found, err := c.src.GetCredentials(ctx, ids)
	if err != nil {
		return nil, err
	}
	creds := make(map[string]*partner.Credential, len(found))
	for _, cr := range found {
		creds[cr.ID] = cr
	}
	return creds, nil
}

// ReportPropagation has the feed applier call f, for each change-feed
// entry it applies, with the time from the entry's commit
// ([store.Change.At], by the store's clock) to the moment this cache
// applied it (by Options.Now): how long a change took to reach this
// replica, clock skew between the two included. A change that seems to
// come from the future, the store's clock ahead of this one, counts as
// zero. f runs on the applier's goroutine, holding up the feed, so it
// must be quick. Set it before [Cache.Run]; nil stops the reports.
func (c *Cache) ReportPropagation(f func(time.Duration)) {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	c.propagation = f
}

// propagated reports ch's propagation; the caller holds applyMu.
func (c *Cache) propagated(ch store.Change) {
	if c.propagation == nil || ch.At.IsZero() {
		return
	}
	c.propagation(max(0, c.opts.Now().Sub(ch.At)))
}

// setPartner publishes a new partner map with id set to p, or removed when
// p is nil. Copy-on-write keeps readers lock-free; partners are few and
// change rarely, so the copy is cheap. Only the feed applier calls it.
func (c *Cache) setPartner(id string, p *partner.Partner) {
	cur := *c.partners.Load()
	next := make(map[string]*partner.Partner, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	if p == nil {
		delete(next, id)
	} else {
		next[id] = p
	}
	c.partners.Store(&next)
}

// put installs cr unless the index already holds the same or a newer row
// version. The version check closes a race: a miss look-up that read a row
// just before a revocation must not reinstall it after the feed applied the
// revocation. It reports whether it installed cr.
func (c *Cache) put(cr *partner.Credential) bool {
	stored, _ := c.install(cr)
	return stored
}

// install is put, reporting a failure to store cr (logged) as an error.
func (c *Cache) install(cr *partner.Credential) (bool, error) {
	rec := cr.Record()
	entry := encode(nil, &rec)
	c.putMu.Lock()
	defer c.putMu.Unlock()
	stored, replaced, err := c.keys.set(cr.ID, entry)
	if stored || replaced {
		// Even a failed Set may have dropped the old entry.
		c.wroteKey(cr.ID)
	}
	if err != nil {
		c.opts.Logger.Error("cache: storing credential", "key_id", cr.ID, "err", err)
		return false, err
	}
	return stored, nil
}

// remove deletes the key id from the index, in the write order put keeps.
func (c *Cache) remove(id string) {
	c.putMu.Lock()
	defer c.putMu.Unlock()
	c.keys.del(id)
	c.wroteKey(id)
}

// Partner returns the partner with id.
func (c *Cache) Partner(id string) (*partner.Partner, bool) {
	p, ok := (*c.partners.Load())[id]
	return p, ok
}

// Key returns the record of key id. A key missing from the index is looked
// up in the store at most at the configured trickle; unknown ids are then
// remembered for NegativeTTL.
func (c *Cache) Key(ctx context.Context, id string) (partner.KeyRecord, bool) {
	writes := c.writes.of(id).Load()
	if r, ok := c.hot.Find(id, func(r *hotRecord) bool { return r.writes == writes }); ok {
		c.stats.Hits.Add(1)
		return r.rec, true
	}
	return c.readKey(ctx, id)
}

// KeyPartner returns the partner of key id if the index holds the key,
// revoked or not, without asking the store.
func (c *Cache) KeyPartner(id string) (string, bool) {
	b, err := c.keys.get(id)
	if err != nil {
		return "", false
	}
	rec, err := decode(id, b, c.intern)
	if err != nil {
		return "", false
	}
	return rec.PartnerID, true
}

// readKey returns the record of key id from bigcache, or from the store
// on a miss, as Key describes.
func (c *Cache) readKey(ctx context.Context, id string) (partner.KeyRecord, bool) {
	before := c.writes.of(id).Load()
	if b, err := c.keys.get(id); err == nil {
		rec, err := decode(id, b, c.intern)
		if err != nil {
			c.opts.Logger.Error("cache: corrupt entry", "key_id", id)
			return partner.KeyRecord{}, false
		}
		c.stats.Hits.Add(1)
		c.remember(rec, before)
		return rec, true
	}
	c.stats.Misses.Add(1)
	if !apikey.ValidID(id) {
		return partner.KeyRecord{}, false
	}
	if _, err := c.negative.Get(id); err == nil {
		c.stats.NegativeHits.Add(1)
		return partner.KeyRecord{}, false
	}
	if c.limiter == nil || !c.limiter.Allow() {
		return partner.KeyRecord{}, false
	}
	c.stats.MissLookups.Add(1)
	v, _, _ := c.misses.Do(id, func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.MissTimeout)
		defer cancel()
		cr, err := c.src.GetCredential(lctx, id)
		switch {
		case err == nil:
			if c.ready.Load() {
				// Before then Load is the index's only writer.
				c.put(cr)
			}
			rec := cr.Record()
			return &rec, nil
		case errors.Is(err, partner.ErrNotFound):
			_ = c.negative.Set(id, []byte{1})
		default:
			c.opts.Logger.Warn("cache: miss look-up failed", "key_id", id, "err", err)
		}
		return nil, nil
	})
	if rec, ok := v.(*partner.KeyRecord); ok && rec != nil {
		return *rec, true
	}
	return partner.KeyRecord{}, false
}
