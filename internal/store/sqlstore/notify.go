package sqlstore

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// hub fans a change signal out to subscribers. Each subscriber has a
// channel of capacity one: a send never blocks, and signals that arrive
// while one is pending coalesce into it.
type hub struct {
	mu     sync.Mutex
	subs   map[chan struct{}]struct{}
	closed bool // no more signals after Close
}

func (h *hub) init() { h.subs = make(map[chan struct{}]struct{}) }

func (h *hub) subscribe(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	if ctx.Err() != nil {
		close(ch)
		return ch
	}
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.subs, ch)
		close(ch) // under mu, so broadcast never sends on a closed channel
	})
	return ch
}

func (h *hub) broadcast() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	for ch := range h.subs {
		select {
		case ch <- struct{}{}:
		default: // one is pending already
		}
	}
}

func (h *hub) shut() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
}

// listenerAppName marks the LISTEN connection in pg_stat_activity.
const listenerAppName = "partnergate-listener"

// Reconnect backoff of the LISTEN connection; tests lengthen it.
var (
	listenMinBackoff = 100 * time.Millisecond
	listenMaxBackoff = 10 * time.Second
)

// listen keeps a dedicated connection LISTENing on the change channel until
// ctx is done, and signals the hub on every notification. While it is down,
// readers still poll the feed; each time it (re)connects it signals once, so
// readers catch up on whatever they missed while it was away. A feed read
// that succeeds while it waits out its backoff cuts the wait short (see
// [Store.answered]): the database is back, and each replica's own poll
// spreads the reconnects out as the jitter does.
func (s *Store) listen(ctx context.Context, cfg *pgx.ConnConfig, rawURL string) {
	defer close(s.listenDone)
	backoff := listenMinBackoff
	for {
		err := s.listenOnce(ctx, cfg, func() { backoff = listenMinBackoff })
		if ctx.Err() != nil {
			return
		}
		// Full jitter, so replicas cut off together do not reconnect in step.
		wait := backoff/2 + rand.N(backoff/2+1)
		s.log.Warn("change notifications lost; polling until reconnected",
			"err", secretFree(err, rawURL), "retry_in", wait)
		// A kick left over from before this failure says nothing about now.
		select {
		case <-s.listenKick:
		default:
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-s.listenKick:
			t.Stop()
			s.log.Info("change notifications: store answering again; reconnecting the listener now")
		}
		backoff = min(backoff*2, listenMaxBackoff)
	}
}

func (s *Store) listenOnce(ctx context.Context, cfg *pgx.ConnConfig, connected func()) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		s.listenerPID.Store(0)
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(cctx) //nolint:errcheck // the connection is being dropped
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	s.listenerPID.Store(conn.PgConn().PID())
	connected()
	s.log.Debug("change notifications: listening", "channel", notifyChannel)
	s.hub.broadcast()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err == nil {
				err = errors.New("listener connection closed")
			}
			return err
		}
		s.hub.broadcast()
	}
}
