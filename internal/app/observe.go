package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/partnergate/partnergate/authz"
	"github.com/partnergate/partnergate/internal/cache"
	"github.com/partnergate/partnergate/internal/config"
	"github.com/partnergate/partnergate/internal/jwtverify"
	"github.com/partnergate/partnergate/internal/lastuse"
	"github.com/partnergate/partnergate/internal/store/sqlstore"
	"github.com/partnergate/partnergate/internal/telemetry"
)

// observability is everything that watches Check: the decision audit log,
// metrics and their endpoint, tracing, and the last-used recorder.
type observability struct {
	audit    *telemetry.DecisionLog
	metrics  *telemetry.Metrics
	tracing  *telemetry.Tracing
	lastUsed *lastuse.Recorder

	metricsLis net.Listener // nil when metrics_listen is empty
	metricsSrv *http.Server

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// tracingFromEnv builds tracing; a test replaces it to read spans back.
var tracingFromEnv = func(ctx context.Context) (*telemetry.Tracing, error) {
	return telemetry.TracingFromEnv(ctx, os.Getenv)
}

// lastUsedFlush is how often last use is written to the store; tests
// shorten it.
var lastUsedFlush = 5 * time.Second

// startObservability builds and starts the observers. verifier may be nil.
func startObservability(ctx context.Context, cfg *config.Config, log *slog.Logger, st *sqlstore.Store, idx *cache.Cache, verifier *jwtverify.Verifier) (*observability, error) {
	o := &observability{
		audit: telemetry.NewDecisionLog(log.With("log", "audit"), telemetry.DecisionLogOptions{
			AllowSample:        cfg.AuditAllowSample,
			DenyRate:           cfg.AuditDenyRate,
			WarnRatePerPartner: cfg.AuditWarnRatePerPartner,
			KeyPrefix:          cfg.KeyPrefix,
		}),
		lastUsed: lastuse.New(st, lastuse.Options{
			Interval: lastUsedFlush,
			Logger:   log.With("component", "lastuse"),
		}),
	}
	var err error
	if o.tracing, err = tracingFromEnv(ctx); err != nil {
		_ = o.audit.Close()
		return nil, fmt.Errorf("tracing: %w", err)
	}
	issuers := func() telemetry.IssuerStatuser {
		if verifier == nil { // a nil *Verifier must not become a non-nil interface
			return nil
		}
		return verifier
	}
	o.metrics, err = telemetry.NewMetrics(telemetry.MetricsOptions{
		Cache:    checkIndex{idx}, // ready as Check is: not while stale
		Store:    st,
		Issuers:  issuers,
		AuditLog: o.audit,
		LastUsed: o.lastUsed,
	})
	if err != nil {
		_ = o.audit.Close()
		_ = o.tracing.Shutdown(ctx)
		return nil, err
	}
	if cfg.MetricsListen != "" {
		if o.metricsLis, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			_ = o.audit.Close()
			_ = o.tracing.Shutdown(ctx)
			_ = o.metrics.Shutdown(ctx)
			return nil, fmt.Errorf("metrics_listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", o.metrics.Handler())
		o.metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		o.wg.Go(func() {
			if err := o.metricsSrv.Serve(o.metricsLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics endpoint stopped", "err", err)
			}
		})
		log.Info("metrics", "listen", o.metricsLis.Addr().String())
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	o.cancel = cancel
	o.wg.Go(func() { o.lastUsed.Run(runCtx) })
	if o.tracing.Enabled() {
		log.Info("tracing on: exporting spans over OTLP")
	}
	return o, nil
}

// auditor is what Check reports each decision to.
func (o *observability) auditor() authz.Auditor {
	a := telemetry.Auditors{o.metrics, o.audit}
	if o.tracing.Enabled() {
		a = append(a, o.tracing)
	}
	return a
}

// checkServerOptions instruments the Check gRPC server.
func (o *observability) checkServerOptions() []grpc.ServerOption {
	return o.tracing.ServerOptions()
}

// metricsAddr is the bound metrics address, or nil.
func (o *observability) metricsAddr() net.Addr {
	if o.metricsLis == nil {
		return nil
	}
	return o.metricsLis.Addr()
}

// close runs after the gRPC servers have stopped: it flushes last use and
// the audit log, then stops metrics and tracing.
func (o *observability) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	if o.metricsSrv != nil {
		errs = append(errs, o.metricsSrv.Shutdown(ctx))
	}
	o.cancel() // the recorder flushes once more as it stops
	o.wg.Wait()
	errs = append(errs, o.audit.Close(), o.metrics.Shutdown(ctx), o.tracing.Shutdown(ctx))
	return errors.Join(errs...)
}
