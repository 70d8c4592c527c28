// Package lastuse records when each credential was last used, and from
// where, without making Check wait for anything.
//
// [Recorder.Used] is called on the hot path. It takes no lock: it claims a
// slot in one of a few bounded rings and copies the touch into it, and
// nothing else. The recorder's own goroutine ([Recorder.Run]) drains the
// rings every [DrainInterval] into a map that coalesces repeated uses of a
// key into its latest, to the second, and flushes the map to the store
// every few seconds, in id order, in writes of a bounded size with a
// pause between them (see [Options.Batch]). A key written to the store is
// written again only once [Options.Rewrite] has passed (a minute), however
// often it is used, so the store's writes follow the keys in use, not the
// Checks. Memory is bounded: a touch that finds its ring full, or a new
// key that finds the map full, is dropped and counted rather than waited
// for; a failed flush is counted, and its touches are dropped (the next
// use records them again). All methods are safe for concurrent use.
package lastuse

import (
	"context"
	"hash/maphash"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/partnergate/partnergate/internal/store"
)

// Sink is where touches are written; the store implements it.
type Sink interface {
	TouchCredentials(ctx context.Context, touches []store.Touch) error
}

// Options configures a [Recorder]; zero values select the defaults named.
type Options struct {
	// Interval is how often Run flushes (default 5s).
	Interval time.Duration
	// MaxPending bounds the distinct keys waiting for a flush (default
	// 100,000).
	MaxPending int
	// FlushTimeout bounds one flush (default 10s).
	FlushTimeout time.Duration
	// Rewrite is how long after a key's use was written to the store a
	// later use is written again (default [DefaultRewrite]; negative:
	// at every flush). A key in steady use is then one row write a
	// minute, not one every Interval: with 100,000 keys in use, 1,700
	// writes a second instead of 20,000, each a row update that costs
	// the store, and the embedded store the server's own CPU.
	Rewrite time.Duration
	// Batch bounds the touches written at once (default 128), and Pause
	// is the wait between two such writes (default 1ms). Writing to the
	// embedded SQLite store is Go code that holds a processor from start
	// to end: a thousand touches in one write held it for some 10 ms, and
	// with one processor every Check arriving meanwhile waited as long.
	// While the flush pauses, the scheduler polls the network and Checks
	// go first.
	Batch  int
	Pause  time.Duration
	Logger *slog.Logger
}

// Recorder coalesces credential uses and flushes them in batches.
type Recorder struct {
	sink Sink
	opts Options
	seed maphash.Seed
	ring [rings]ring

	// drainMu makes one drainer at a time the rings' consumer; it guards
	// pending, which only drainers and Flush touch. Used never takes it.
	drainMu sync.Mutex
	pending map[string]store.Touch
	// written holds when each key's last written use was, for keys
	// written within Rewrite of the newest use drained; newest is that
	// use, in Unix nanoseconds. Guarded by drainMu.
	written map[string]int64
	newest  int64
	dropped atomic.Int64
	flushMu sync.Mutex
}

// New returns a Recorder writing to sink.
func New(sink Sink, opts Options) *Recorder {
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Second
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 100_000
	}
	if opts.FlushTimeout <= 0 {
		opts.FlushTimeout = 10 * time.Second
	}
	if opts.Batch <= 0 {
		opts.Batch = 128
	}
	if opts.Pause <= 0 {
		opts.Pause = time.Millisecond
	}
	if opts.Rewrite == 0 {
		opts.Rewrite = DefaultRewrite
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Recorder{sink: sink, opts: opts, seed: maphash.MakeSeed(), pending: map[string]store.Touch{}, written: map[string]int64{}}
	for i := range r.ring {
		r.ring[i].init()
	}
	return r
}

// Resolution is the precision of a recorded last use: a use less than
// this after the one pending for its key is not recorded, which spares a
// map write on nearly every Check of a busy key.
const Resolution = time.Second

// DefaultRewrite is [Options.Rewrite]'s default: a key's last use, as
// stored, is at most this (and a flush interval) behind.
const DefaultRewrite = time.Minute

// DrainInterval is how often [Recorder.Run] moves the rings' touches into
// the pending map. Between two drains the rings hold 32,768 touches,
// 2,048 a ring: some 300,000 Checks a second spread over many keys, but
// one key's touches share a ring, so a single key used more than 20,000
// times a second has the rest of its touches within the 100 ms dropped
// (and counted), which a last use kept to the second does not miss.
const DrainInterval = 100 * time.Millisecond

// Used records that credential id passed a Check at at, from the client
// address from, to within [Resolution]. It takes no lock and never waits:
// a touch that finds its ring full is dropped and counted.
func (r *Recorder) Used(id, from string, at time.Time) {
	// A key's touches share a ring, so they are drained in the order
	// they were made; keys spread over the rings, so Checks on two cores
	// rarely claim slots of the same ring at once.
	if !r.ring[maphash.String(r.seed, id)%rings].put(id, from, at.UnixNano()) {
		r.dropped.Add(1)
	}
}

// drain moves every published touch from the rings into the pending map,
// coalescing each key's uses into its latest, to within Resolution. New
// keys past MaxPending are dropped and counted. It returns with drainMu
// held, for the caller to release.
func (r *Recorder) drain() {
	r.drainMu.Lock()
	for i := range r.ring {
		r.ring[i].take(func(id []byte, from string, at int64) {
			r.newest = max(r.newest, at)
			if w, ok := r.written[string(id)]; ok && at-w < int64(r.opts.Rewrite) {
				return // written lately enough: no row write for it yet
			}
			t := time.Unix(0, at)
			if prev, ok := r.pending[string(id)]; ok { // no allocation: the compiler looks up in place
				if t.Sub(prev.At) >= Resolution {
					r.pending[prev.ID] = store.Touch{ID: prev.ID, At: t, From: from}
				}
				return
			}
			if len(r.pending) >= r.opts.MaxPending {
				r.dropped.Add(1)
				return
			}
			k := string(id)
			r.pending[k] = store.Touch{ID: k, At: t, From: from}
		})
	}
}

// Dropped returns how many touches were dropped: for a full ring, a full
// map or a failed flush. It drains the rings first, so a touch dropped for
// a full map is counted by the time it returns.
func (r *Recorder) Dropped() int64 {
	r.drain()
	r.drainMu.Unlock()
	return r.dropped.Load()
}

// Pending returns how many keys wait for a flush, the rings drained.
func (r *Recorder) Pending() int {
	r.drain()
	defer r.drainMu.Unlock()
	return len(r.pending)
}

// Flush writes every pending touch, [Options.Batch] at a time. If a write
// fails, the touches not yet written are dropped and counted.
func (r *Recorder) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.drain()
	taken := r.pending
	r.pending = make(map[string]store.Touch, len(taken))
	// Keys written longer than Rewrite before the newest use are
	// forgotten: their next use is written anyway.
	for id, w := range r.written {
		if r.newest-w >= int64(r.opts.Rewrite) {
			delete(r.written, id)
		}
	}
	r.drainMu.Unlock()
	// In id order: the store keeps last use in id order, so consecutive
	// touches, and a batch of them, share its pages (see
	// sqlstore.TouchCredentials), and a write costs the store fewer pages.
	batch := slices.SortedFunc(maps.Values(taken), func(a, b store.Touch) int { return strings.Compare(a.ID, b.ID) })
	for len(batch) > 0 {
		n := min(len(batch), r.opts.Batch)
		err := r.sink.TouchCredentials(ctx, batch[:n])
		if err == nil {
			r.wrote(batch[:n])
			if batch = batch[n:]; len(batch) == 0 {
				return nil
			}
			err = pause(ctx, r.opts.Pause)
		}
		if err != nil {
			r.dropped.Add(int64(len(batch)))
			return err
		}
	}
	return nil
}

// wrote notes that touches were written, so that the keys' uses within
// Rewrite of them are not. At most MaxPending keys are noted: past that,
// uses are written more often, never less.
func (r *Recorder) wrote(touches []store.Touch) {
	if r.opts.Rewrite < 0 {
		return
	}
	r.drainMu.Lock()
	defer r.drainMu.Unlock()
	for _, t := range touches {
		if len(r.written) >= r.opts.MaxPending {
			break
		}
		r.written[t.ID] = t.At.UnixNano()
	}
}

// pause waits d, or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run drains the rings every DrainInterval and flushes every Interval
// until ctx ends, then flushes once more.
func (r *Recorder) Run(ctx context.Context) {
	t := time.NewTicker(r.opts.Interval)
	defer t.Stop()
	d := time.NewTicker(min(DrainInterval, r.opts.Interval))
	defer d.Stop()
	for {
		select {
		case <-d.C:
			r.drain()
			r.drainMu.Unlock()
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.FlushTimeout)
			r.flush(fctx)
			cancel()
			return
		case <-t.C:
			fctx, cancel := context.WithTimeout(ctx, r.opts.FlushTimeout)
			r.flush(fctx)
			cancel()
		}
	}
}

func (r *Recorder) flush(ctx context.Context) {
	if err := r.Flush(ctx); err != nil {
		r.opts.Logger.Warn("recording last use failed; those touches are dropped", "err", err)
	}
}
