package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/partnergate/partnergate/internal/config"
	"github.com/partnergate/partnergate/internal/jwtverify"
)

// firstFetchTimeout bounds how long Start waits for the issuers' first
// JWKS fetch; an issuer still without keys then keeps the replica
// not-ready while its keys are fetched in the background.
const firstFetchTimeout = 5 * time.Second

// issuerWaitLog is how often a replica waiting for issuer keys says so.
const issuerWaitLog = 10 * time.Second

// revocationPurge is how often token revocations past their token's exp
// are deleted from the store.
const revocationPurge = time.Hour

// newVerifier builds the access-token verifier, or returns nil when no
// issuer is configured (tokens are then refused as malformed API keys).
func newVerifier(ctx context.Context, cfg *config.Config, log *slog.Logger) (*jwtverify.Verifier, error) {
	if len(cfg.JWT.Issuers) == 0 {
		return nil, nil
	}
	fctx, cancel := context.WithTimeout(ctx, firstFetchTimeout)
	defer cancel()
	v, err := jwtverify.New(fctx, cfg.JWT.Issuers, jwtverify.Options{
		Logger:    log.With("component", "jwtverify"),
		CacheSize: cfg.JWT.CacheSize,
		CacheTTL:  cfg.JWT.CacheTTL,
	})
	if err != nil {
		return nil, fmt.Errorf("jwt: %w", err)
	}
	return v, nil
}

// waitForIssuers returns once every issuer has keys, logging which ones
// are unreachable while it waits: a replica that cannot verify tokens stays
// out of rotation rather than refusing every partner on OAuth.
func waitForIssuers(ctx context.Context, v *jwtverify.Verifier, log *slog.Logger) error {
	if v == nil {
		return nil
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, issuerWaitLog)
		err := v.Ready(wctx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Error("not ready: waiting for token issuer keys (is the IdP reachable?)", "err", err)
	}
}

// purgeRevocations deletes token revocations no longer live, hourly, until
// ctx ends. Every replica may run it; the delete is idempotent.
func purgeRevocations(ctx context.Context, st interface {
	PurgeTokenRevocations(ctx context.Context, now time.Time) (int64, error)
}, log *slog.Logger) {
	t := time.NewTicker(revocationPurge)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := st.PurgeTokenRevocations(ctx, time.Now()); err != nil {
			log.Warn("purging expired token revocations failed", "err", err)
		} else if n > 0 {
			log.Info("purged expired token revocations", "count", n)
		}
	}
}

// feedPrune is how often the change feed is pruned.
const feedPrune = time.Hour

// pruneFeed deletes change-feed entries older than retention, hourly and
// once at start, until ctx ends. Every replica may run it; the delete is
// idempotent, and a replica behind what it deleted reloads a snapshot.
func pruneFeed(ctx context.Context, st interface {
	PruneChanges(ctx context.Context, before time.Time) (int64, error)
}, retention time.Duration, log *slog.Logger) {
	t := time.NewTicker(feedPrune)
	defer t.Stop()
	for {
		if n, err := st.PruneChanges(ctx, time.Now().Add(-retention)); err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("pruning the change feed failed", "err", err)
		} else if n > 0 {
			log.Info("pruned the change feed", "entries", n, "retention", retention.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pruneAudit deletes admin audit events older than retention, hourly and
// once at start, until ctx ends. Every replica may run it.
func pruneAudit(ctx context.Context, st interface {
	PruneAudit(ctx context.Context, before time.Time) (int64, error)
}, retention time.Duration, log *slog.Logger) {
	t := time.NewTicker(feedPrune)
	defer t.Stop()
	for {
		if n, err := st.PruneAudit(ctx, time.Now().Add(-retention)); err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("pruning the audit trail failed", "err", err)
		} else if n > 0 {
			log.Info("pruned the audit trail", "events", n, "retention", retention.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
