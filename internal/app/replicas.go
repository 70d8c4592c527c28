package app

import (
	"context"
	"log/slog"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/partnergate/partnergate/internal/cache"
	"github.com/partnergate/partnergate/internal/config"
	"github.com/partnergate/partnergate/internal/store/sqlstore"
)

// Many replicas over one store: what a replica does when the store is
// slow, down or gone for too long.
//
//   - The "store" health service is SERVING while the change feed is being
//     read and NOT_SERVING from the first failed read until the next good
//     one. It is informational: nothing should take a replica out of
//     rotation for it, since Checks keep being answered from the cache.
//   - "" and the Authorization service stay SERVING through an outage
//     shorter than max_staleness (a stale read beats an outage), and turn
//     NOT_SERVING once the feed has gone unread for longer, when Check also
//     answers UNAVAILABLE so that Envoy fails closed (NIST SP 800-53 SC-24):
//     a replica cut off for that long may be missing revocations.

// StoreService is the gRPC health service name that reports whether the
// store's change feed is being read.
const StoreService = "store"

// healthPoll is how often watchStore looks at the cache's feed health.
const healthPoll = 200 * time.Millisecond

// storeOptions configures the store. A PostgreSQL store may start while
// its database is down: the replica then binds its ports and stays
// not-ready until the database answers (SQLite is a local file: an error
// opening it is a fault to report at once).
func storeOptions(cfg *config.Config, log *slog.Logger) sqlstore.Options {
	kind, _ := config.StoreKind(cfg.Store)
	return sqlstore.Options{Logger: log, StartUnavailable: kind == "postgres"}
}

// reconcileInterval maps reconcile_interval (0: off) to cache.Options
// (negative: off).
func reconcileInterval(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// checkIndex is the cache as Check reads it: not ready once the cache is
// stale, or behind a write this replica acknowledged, so Check answers
// UNAVAILABLE rather than trust it.
type checkIndex struct{ *cache.Cache }

// Ready reports whether the cache is loaded and fresh enough to decide.
func (c checkIndex) Ready() bool { return c.Cache.Ready() && !c.Stale() }

// Stale reports whether a loaded cache may be missing changes: the feed
// has gone unread past max_staleness, or a write this replica committed
// could not be applied. Check names it in its error.
func (c checkIndex) Stale() bool { return c.Cache.Stale() || c.Behind() }

// writeSync is the cache as the admin API syncs it after a write: a sync
// that fails leaves the replica not ready until the feed catches up.
type writeSync struct{ *cache.Cache }

func (w writeSync) Sync(ctx context.Context) error { return w.SyncWrite(ctx) }

// logWarnings logs what config.Load found worth a warning.
func logWarnings(cfg *config.Config, log *slog.Logger) {
	for _, w := range cfg.LoadWarnings {
		log.Warn("config: " + w)
	}
}

// watchStore keeps the health services in step with the cache's feed
// until ctx ends, logging each change. ready reports whether the replica
// has finished starting; before that only "store" is managed.
func watchStore(ctx context.Context, hs *health.Server, idx *cache.Cache, ready func() bool, log *slog.Logger) {
	tick := time.NewTicker(healthPoll)
	defer tick.Stop()
	var storeUp, serving, storeKnown, started bool
	for {
		up := idx.FeedHealthy()
		if !storeKnown || up != storeUp {
			hs.SetServingStatus(StoreService, servingStatus(up))
			switch {
			case up && storeKnown:
				log.Info("store healthy: change feed read", "version", idx.Version())
			case !up && storeKnown && ready():
				log.Warn("store degraded: serving Checks from cache",
					"failing_since", idx.FeedFailingSince(), "max_staleness", idx.MaxStaleness().String())
			}
			storeUp, storeKnown = up, true
		}
		if ready() {
			fresh := checkIndex{idx}.Ready()
			if !started || fresh != serving {
				serving = fresh
				hs.SetServingStatus("", servingStatus(fresh))
				hs.SetServingStatus(authv3.Authorization_ServiceDesc.ServiceName, servingStatus(fresh))
				switch {
				case fresh && started:
					log.Info("cache fresh again: Checks served", "version", idx.Version())
				case !fresh && idx.Stale():
					log.Error("cache stale: store unreachable past max_staleness; refusing Checks with UNAVAILABLE",
						"staleness", idx.Staleness().Round(time.Millisecond).String(), "max_staleness", idx.MaxStaleness().String())
				case !fresh:
					log.Error("cache stale: behind a committed admin write; refusing Checks with UNAVAILABLE until the change feed catches up",
						"version", idx.Version())
				}
			}
			started = true
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func servingStatus(ok bool) healthpb.HealthCheckResponse_ServingStatus {
	if ok {
		return healthpb.HealthCheckResponse_SERVING
	}
	return healthpb.HealthCheckResponse_NOT_SERVING
}
