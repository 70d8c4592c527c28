// Package cache is the hot in-memory index the Check path reads: every
// usable credential by public key id (in bigcache, off the garbage
// collector's books), every partner by id (an immutable map swapped
// atomically), and a short negative cache of well-formed key ids the store
// does not know. For access tokens it holds the OAuth2 client registry,
// (issuer, client id) → partner, and the (issuer, jti) set of revoked
// tokens, both immutable maps swapped atomically.
//
// It loads a snapshot from the store at start-up and then follows the
// store's change feed: each feed entry names an entity, which the cache
// reloads (a batch's credentials in one store call) and applies in version
// order, and the cache records the last version it applied, so a missed
// notification delays a change but never loses it. Each change applied
// reports its propagation, commit to application
// ([Cache.ReportPropagation]); notified reads are spaced
// (Options.NotifyCoalesce) so a stream of writes is read in batches. Every
// ReconcileInterval it also compares a fresh snapshot with what it holds and
// repairs any difference, the last safety net behind the feed.
//
// Feed health is kept in atomics for health checks and metrics: the last
// successful read ([Cache.LastSync], [Cache.Staleness]), whether the last
// read failed ([Cache.FeedHealthy]), versions seen and applied
// ([Cache.Latest], [Cache.Version], [Cache.Lag]). When the feed has gone
// unread for longer than MaxStaleness the cache reports itself
// [Cache.Stale]; it keeps answering, and Check decides to refuse. A sync
// after a write this process committed ([Cache.SyncWrite]) that fails
// leaves it [Cache.Behind] until a feed read succeeds: it is then known to
// lack a change, and Check refuses the same way.
//
// The key index is sixteen bigcache segments, sized at load from the
// number of credentials the snapshot holds. bigcache keeps the bytes of
// every overwritten or deleted entry until its queue wraps, which with no
// eviction it never does, so a segment nearing the room it was built with
// is compacted: its live entries are copied into a fresh bigcache that is
// then swapped in. Live credentials are never evicted for space.
//
// Concurrency: reads take no lock a writer holds. bigcache shards are
// independently locked for microseconds, and a reader loads its segment
// through an atomic pointer, so a compaction never makes it wait; writes
// to keys, and each step of a compaction, are ordered by one write lock.
// The partner map is replaced, never mutated. One goroutine at a time applies the feed (Run and Sync share a
// mutex). The Check path never calls the store, except for a rate-limited,
// deduplicated look-up of a key id missing from the cache (a key issued on
// another replica a moment ago), whose answer is cached either way.
package cache
