package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/partnergate/partnergate/internal/config"
	"github.com/partnergate/partnergate/internal/forwardauth"
)

// forwardAuth is the HTTP forward-auth server, when http.listen is set.
type forwardAuth struct {
	lis      net.Listener
	srv      *http.Server
	draining atomic.Bool
}

// startForwardAuth binds http.listen and builds the server over decider,
// the one Check uses (which audits), observed into the Check server's
// metrics and traces; nil when the server is off. Its ReadyPath answers
// ready while ready reports true and the server is not draining.
func startForwardAuth(cfg *config.Config, decider forwardauth.Decider, obs *observability, ready func() bool, log *slog.Logger) (*forwardAuth, error) {
	if cfg.HTTP.Listen == "" {
		return nil, nil
	}
	trusted, err := forwardauth.ParseTrusted("http.trusted_proxies", cfg.HTTP.TrustedProxies)
	if err != nil {
		return nil, err
	}
	log = log.With("component", "forwardauth")
	f := &forwardAuth{}
	h, err := forwardauth.New(forwardauth.Options{
		Decider: decider,
		Trusted: trusted,
		Ready:   func() bool { return ready() && !f.draining.Load() },
		Metrics: obs.metrics,
		Tracing: obs.tracing,
		Logger:  log,
	})
	if err != nil {
		return nil, err
	}
	if f.lis, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
		return nil, fmt.Errorf("http.listen: %w", err)
	}
	f.srv = &http.Server{
		Handler: h,
		// Proxies keep connections open and ask small GETs; nothing
		// here needs a body or a slow client.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("HTTP forward-auth server", "listen", f.lis.Addr().String(), "trusted_proxies", trusted.String())
	return f, nil
}

// serve serves until shutdown; it returns nil once shut down.
func (f *forwardAuth) serve() error {
	if err := f.srv.Serve(f.lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http: %w", err)
	}
	return nil
}

// drain makes the readiness path answer 503, so that proxies and
// Kubernetes stop sending, while requests are still served.
func (f *forwardAuth) drain() {
	if f != nil {
		f.draining.Store(true)
	}
}

// shutdown lets in-flight requests finish for up to grace, then cuts
// them off.
func (f *forwardAuth) shutdown(log *slog.Logger, grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		log.Warn("shutdown_grace passed: cutting off the requests still in flight", "server", "http", "grace", grace.String())
		_ = f.srv.Close()
	}
}

func (f *forwardAuth) addr() net.Addr {
	if f == nil {
		return nil
	}
	return f.lis.Addr()
}
