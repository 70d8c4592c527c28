// Package lastuse records when each credential was last used, and from
// where, without making Check wait for a write.
//
// [Recorder.Used] is called on the hot path: it stores the touch in a
// sharded in-memory map (one short critical section, no I/O), coalescing
// repeated uses of a key into its latest, to the second. [Recorder.Run]
// flushes the map to the store every few seconds, in writes of a bounded
// size with a pause between them (see [Options.Batch]). When the map
// is full, new keys are dropped and counted rather than growing memory
// without bound; a failed flush is counted, and its touches are dropped
// (the next use records them again). All methods are safe for concurrent
// use.
package lastuse

import (
	"context"
	"hash/maphash"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/cpu"

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

const shards = 32

// Recorder coalesces credential uses and flushes them in batches.
type Recorder struct {
	sink  Sink
	opts  Options
	seed  maphash.Seed
	shard [shards]struct {
		mu      sync.Mutex
		pending map[string]store.Touch
		_       cpu.CacheLinePad // keep shards on separate cache lines
	}
	count   atomic.Int64 // keys pending, across shards
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
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Recorder{sink: sink, opts: opts, seed: maphash.MakeSeed()}
	for i := range r.shard {
		r.shard[i].pending = map[string]store.Touch{}
	}
	return r
}

// Resolution is the precision of a recorded last use: a use less than
// this after the one pending for its key is not recorded, which spares a
// map write on nearly every Check of a busy key.
const Resolution = time.Second

// Used records that credential id passed a Check at at, from the client
// address from, to within [Resolution]. It never waits for I/O.
func (r *Recorder) Used(id, from string, at time.Time) {
	sh := &r.shard[maphash.String(r.seed, id)%shards]
	sh.mu.Lock()
	prev, ok := sh.pending[id]
	switch {
	case ok:
		if at.Sub(prev.At) >= Resolution {
			sh.pending[prev.ID] = store.Touch{ID: prev.ID, At: at, From: from}
		}
	case r.count.Load() >= int64(r.opts.MaxPending):
		r.dropped.Add(1)
	default:
		// An API key's id is a substring of the secret the caller sent:
		// keep a copy, not the caller's memory.
		id = strings.Clone(id)
		sh.pending[id] = store.Touch{ID: id, At: at, From: from}
		r.count.Add(1)
	}
	sh.mu.Unlock()
}

// Dropped returns how many touches were dropped: for a full map or a
// failed flush.
func (r *Recorder) Dropped() int64 { return r.dropped.Load() }

// Pending returns how many keys wait for a flush.
func (r *Recorder) Pending() int { return int(r.count.Load()) }

// Flush writes every pending touch, [Options.Batch] at a time. If a write
// fails, the touches not yet written are dropped and counted.
func (r *Recorder) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	var batch []store.Touch
	for i := range r.shard {
		sh := &r.shard[i]
		sh.mu.Lock()
		if len(sh.pending) > 0 {
			taken := sh.pending
			sh.pending = make(map[string]store.Touch, len(taken))
			r.count.Add(-int64(len(taken)))
			sh.mu.Unlock()
			for _, t := range taken {
				batch = append(batch, t)
			}
			continue
		}
		sh.mu.Unlock()
	}
	for len(batch) > 0 {
		n := min(len(batch), r.opts.Batch)
		err := r.sink.TouchCredentials(ctx, batch[:n])
		if err == nil {
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

// Run flushes every Interval until ctx ends, then flushes once more.
func (r *Recorder) Run(ctx context.Context) {
	t := time.NewTicker(r.opts.Interval)
	defer t.Stop()
	for {
		select {
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
