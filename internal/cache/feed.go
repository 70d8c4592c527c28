package cache

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync/atomic"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

// Feed health, staleness and the periodic full reconcile. The numbers are
// plain atomics so metrics, health and Check read them without a lock.

// feedHealth tracks whether the change feed is being read.
type feedHealth struct {
	latest       atomic.Int64 // newest feed version read from the store
	failingSince atomic.Int64 // Unix nanoseconds of the first failure in a row; 0 when healthy
	failures     atomic.Int64 // failed feed reads since start
	reconciles   atomic.Int64 // completed reconciles since start
	repaired     atomic.Int64 // entries a reconcile had to fix, since start
	reloads      atomic.Int64 // snapshots reloaded because the feed was pruned past this cache
}

// FeedReloads returns how many times since start the cache reloaded a
// snapshot because the change feed had been pruned past its version.
func (c *Cache) FeedReloads() int64 { return c.feed.reloads.Load() }

// seen records that the store holds at least version v.
func (f *feedHealth) seen(v int64) {
	for {
		cur := f.latest.Load()
		if v <= cur || f.latest.CompareAndSwap(cur, v) {
			return
		}
	}
}

// feedSucceeded records a successful feed read (or snapshot) that left the
// cache at version v.
func (c *Cache) feedSucceeded(v int64) {
	now := c.opts.Now()
	c.lastSync.Store(now.UnixNano())
	c.feed.seen(v)
	if since := c.feed.failingSince.Swap(0); since != 0 {
		c.opts.Logger.Info("store reachable again: change feed recovered",
			"down_for", now.Sub(time.Unix(0, since)).Round(time.Millisecond).String(), "version", v)
	}
}

// feedFailed records a failed feed read. The first failure in a row is a
// warning, the rest are debug: an outage logs once, not once a second.
func (c *Cache) feedFailed(err error) {
	c.feed.failures.Add(1)
	if c.feed.failingSince.CompareAndSwap(0, c.opts.Now().UnixNano()) {
		c.opts.Logger.Warn("store degraded: change feed read failed; serving from cache",
			"err", err, "version", c.version.Load(), "max_staleness", c.opts.MaxStaleness.String())
		return
	}
	c.opts.Logger.Debug("change feed read failed again", "err", err, "version", c.version.Load())
}

// FeedHealthy reports whether the last read of the change feed succeeded.
// It is false before the first snapshot is loaded.
func (c *Cache) FeedHealthy() bool {
	return c.ready.Load() && c.feed.failingSince.Load() == 0
}

// FeedFailingSince returns when the current run of failed feed reads began,
// or the zero time while the feed is healthy.
func (c *Cache) FeedFailingSince() time.Time {
	if ns := c.feed.failingSince.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// FeedFailures returns the number of failed feed reads since start.
func (c *Cache) FeedFailures() int64 { return c.feed.failures.Load() }

// Latest returns the newest change-feed version this cache has seen in the
// store. It is learned from feed reads, so during an outage it is the
// newest version seen before the store became unreachable.
func (c *Cache) Latest() int64 { return max(c.feed.latest.Load(), c.version.Load()) }

// Lag returns how many feed versions have been read but not yet applied:
// non-zero while a batch is applied, or when applying it failed part-way.
// During an outage the store's newest version is unknown; [Cache.Staleness]
// is then the measure of how far behind the cache may be.
func (c *Cache) Lag() int64 { return c.Latest() - c.version.Load() }

// Staleness returns how long ago the feed was last read successfully, by
// the cache's clock; zero before the first snapshot.
func (c *Cache) Staleness() time.Duration {
	ns := c.lastSync.Load()
	if ns == 0 {
		return 0
	}
	return max(0, c.opts.Now().Sub(time.Unix(0, ns)))
}

// MaxStaleness returns the configured staleness bound; zero means none.
func (c *Cache) MaxStaleness() time.Duration { return c.opts.MaxStaleness }

// Stale reports whether the feed has gone unread for longer than
// MaxStaleness. A stale cache may be missing revocations made elsewhere,
// so Check must stop trusting it (fail in a known state: NIST SP 800-53
// SC-24) until the feed is read again. It costs two atomic loads and a
// clock read.
func (c *Cache) Stale() bool {
	return c.opts.MaxStaleness > 0 && c.ready.Load() && c.Staleness() > c.opts.MaxStaleness
}

// Reconciles returns how many full reconciles completed since start, and
// how many entries they had to repair in all. Repairs should stay at zero:
// each one is a change the feed failed to deliver.
func (c *Cache) Reconciles() (runs, repaired int64) {
	return c.feed.reconciles.Load(), c.feed.repaired.Load()
}

// Reconcile compares a fresh store snapshot with the cache and repairs any
// difference: it installs credentials the cache lacks or holds in an older
// row version, removes live-looking credentials the store no longer has,
// and replaces the partner, client and token-revocation maps. It is the
// last safety net behind the feed; Run calls it every ReconcileInterval. A
// failure part-way leaves every repair made so far (each only ever
// installs a newer row) and the feed version unchanged.
func (c *Cache) Reconcile(ctx context.Context) error {
	if !c.ready.Load() {
		return errors.New("cache: reconcile before load")
	}
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	return c.reconcileLocked(ctx)
}

// reconcileLocked is Reconcile; the caller holds applyMu.
func (c *Cache) reconcileLocked(ctx context.Context) error {
	partners := map[string]*partner.Partner{}
	clients := map[tokenKey]string{}
	revoked := map[tokenKey]time.Time{}
	certs := map[certKey]*partner.Certificate{}
	// The ids the snapshot holds, as 64-bit hashes under a seed of this
	// reconcile's own: 8 bytes a key, where a set of the ids themselves
	// held a string and a map slot each (well over 50). Two ids that
	// collide (about n²/2⁶⁵: 3·10⁻⁶ with 10,000,000 keys) can only make
	// this reconcile skip the check of a held key missing from the
	// snapshot; the next one, under another seed, makes it.
	seed := maphash.MakeSeed()
	seen := make([]uint64, 0, c.keys.len()+c.keys.len()/16)
	var repaired int64
	visitor := store.Visitor{
		Partner: func(p *partner.Partner) error {
			partners[p.ID] = p
			return nil
		},
		Credential: func(cr *partner.Credential) error {
			seen = append(seen, maphash.String(seed, cr.ID))
			if c.put(cr) {
				repaired++
			}
			return nil
		},
	}
	tokenVisitor(&visitor, clients, revoked)
	certificateVisitor(&visitor, certs)
	version, err := c.src.Snapshot(ctx, visitor)
	if err != nil {
		c.feed.repaired.Add(repaired)
		return fmt.Errorf("cache: reconcile snapshot: %w", err)
	}
	slices.Sort(seen)

	// Credentials held but absent from the snapshot. Revoked and expired
	// ones deny anyway and are left alone; a live-looking one is asked for
	// by id, since it may have been created after the snapshot.
	now := c.opts.Now().UnixNano()
	var extra []string
	c.keys.each(func(id string, b []byte) {
		if _, ok := slices.BinarySearch(seen, maphash.String(seed, id)); ok {
			return
		}
		rec, err := decode(id, b, nil)
		if err != nil || (!rec.Revoked && (rec.ExpiresAt == 0 || now < rec.ExpiresAt)) {
			extra = append(extra, id)
		}
	})
	if len(extra) > 0 {
		held, err := c.credentialsByID(ctx, extra)
		if err != nil {
			c.feed.repaired.Add(repaired)
			return fmt.Errorf("cache: reconcile: %w", err)
		}
		for _, id := range extra {
			if cr, ok := held[id]; !ok {
				c.remove(id)
				repaired++
			} else if c.put(cr) {
				repaired++
			}
		}
	}
	old := *c.partners.Load()
	for id, p := range partners {
		if q, ok := old[id]; !ok || q.Version != p.Version {
			repaired++
		}
	}
	for id := range old {
		if _, ok := partners[id]; !ok {
			repaired++
		}
	}
	c.partners.Store(&partners)
	c.clients.Store(&clients)
	c.certs.Store(&certs)
	c.revoked.Store(&revoked)
	if version > c.version.Load() {
		c.version.Store(version)
	}
	c.feedSucceeded(c.version.Load())
	c.feed.reconciles.Add(1)
	c.feed.repaired.Add(repaired)
	if repaired > 0 {
		// Every repair is a change the feed did not deliver: worth a look.
		c.opts.Logger.Warn("cache reconcile repaired entries the feed missed", "repaired", repaired, "version", c.version.Load())
	} else {
		c.opts.Logger.Debug("cache reconcile: no differences", "version", c.version.Load())
	}
	return nil
}
