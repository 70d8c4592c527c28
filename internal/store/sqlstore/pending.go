package sqlstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3"

	"github.com/partnergate/partnergate/internal/partner"
)

// Starting while PostgreSQL is down ([Options.StartUnavailable]).

// Backoff of the background connect-and-migrate loop.
const (
	initMinBackoff = 100 * time.Millisecond
	initMaxBackoff = 5 * time.Second
)

// initPostgres checks the database answers and applies migrations.
func (s *Store) initPostgres(ctx context.Context, rawURL string) error {
	if err := s.w.PingContext(ctx); err != nil {
		return s.wrap("connecting to "+Redact(rawURL), secretFree(err, rawURL))
	}
	if err := s.migrate(ctx, goose.DialectPostgres, "migrations/postgres"); err != nil {
		return secretFree(err, rawURL)
	}
	return nil
}

// listenerConfig is cfg for the LISTEN connection, marked in
// pg_stat_activity.
func listenerConfig(cfg *pgx.ConnConfig) *pgx.ConnConfig {
	lcfg := cfg.Copy()
	if lcfg.RuntimeParams == nil {
		lcfg.RuntimeParams = map[string]string{}
	}
	lcfg.RuntimeParams["application_name"] = listenerAppName
	return lcfg
}

// startPending returns s in the pending state: every call fails with
// ErrUnavailable (the database is down, or reachable but not yet
// migrated) while a goroutine retries initPostgres, then starts the
// notification listener, whose first connection wakes every reader.
func (s *Store) startPending(cfg *pgx.ConnConfig, rawURL string, cause error) *Store {
	s.initPending.Store(true)
	s.log.Warn("store unreachable at start; retrying in the background", "err", cause)
	ctx, cancel := context.WithCancel(context.Background())
	s.stopListen = cancel
	s.listenDone = make(chan struct{})
	go func() {
		backoff := initMinBackoff
		for {
			err := s.initPostgres(ctx, rawURL)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				close(s.listenDone)
				return
			}
			wait := backoff/2 + rand.N(backoff/2+1)
			s.log.Warn("store still unreachable", "err", err, "retry_in", wait)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				close(s.listenDone)
				return
			case <-t.C:
			}
			backoff = min(backoff*2, initMaxBackoff)
		}
		s.initPending.Store(false)
		s.log.Info("store reachable: connected and migrated")
		s.listen(ctx, listenerConfig(cfg), rawURL)
	}()
	return s
}

// pendingError classifies err while the store is still starting: before
// migrations are applied a missing table means "not yet", not a fault.
func (s *Store) pendingError(op string, err error) error {
	if !s.initPending.Load() {
		return nil
	}
	return fmt.Errorf("sqlstore: %s: %w: %w", op, partner.ErrUnavailable, err)
}

// Pending reports whether the store is still connecting or migrating in
// the background ([Options.StartUnavailable]).
func (s *Store) Pending() bool { return s.initPending.Load() }
