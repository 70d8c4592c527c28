package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/partnergate/partnergate/authz"
	"github.com/partnergate/partnergate/internal/admin"
	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/cache"
	"github.com/partnergate/partnergate/internal/clientaddr"
	"github.com/partnergate/partnergate/internal/config"
	"github.com/partnergate/partnergate/internal/dpop"
	"github.com/partnergate/partnergate/internal/expiry"
	"github.com/partnergate/partnergate/internal/extauthz"
	"github.com/partnergate/partnergate/internal/jwtverify"
	"github.com/partnergate/partnergate/internal/lastuse"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/pepper"
	"github.com/partnergate/partnergate/internal/policy"
	"github.com/partnergate/partnergate/internal/store/sqlstore"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// LivenessService is the gRPC health service name that reports SERVING
// for as long as the process runs.
const LivenessService = "liveness"

// Server is a running partnergate: build it with [Start], stop it by
// cancelling the context given to Start and calling [Server.Wait].
type Server struct {
	// CheckAddr and AdminAddr are the bound addresses.
	CheckAddr, AdminAddr net.Addr
	// MetricsAddr is the bound metrics address; nil with metrics off.
	MetricsAddr net.Addr
	// SecretScanningAddr is the bound leaked-key endpoint; nil when off.
	SecretScanningAddr net.Addr
	// HTTPAddr is the bound HTTP forward-auth server; nil when off.
	HTTPAddr net.Addr
	// Cache is the hot index, for tests and diagnostics.
	Cache *cache.Cache

	uses *lastuse.Recorder

	log   *slog.Logger
	done  chan struct{}
	err   error
	ready chan struct{}
}

// FlushUses writes every credential use recorded so far to the store,
// after any write already under way: the work that Checks of API keys
// leave behind them, which a load benchmark charges to the run whose
// Checks caused it rather than to whichever run comes next.
func (s *Server) FlushUses(ctx context.Context) error { return s.uses.Flush(ctx) }

// Ready is closed once the cache is loaded and Check serves.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// isReady reports whether Ready is closed.
func (s *Server) isReady() bool {
	select {
	case <-s.ready:
		return true
	default:
		return false
	}
}

// Wait blocks until the server has shut down and returns why it stopped.
func (s *Server) Wait() error {
	<-s.done
	return s.err
}

// Start validates nothing (the caller validated cfg), opens everything,
// binds both listeners and returns; the cache fills in the background and
// the health service reports SERVING once it is loaded. Everything shuts
// down gracefully when ctx ends. out receives the one-time admin token
// notice.
func Start(ctx context.Context, cfg *config.Config, log *slog.Logger, out io.Writer) (*Server, error) {
	// stop shuts the server down from inside, as a fault that makes serving
	// pointless does.
	ctx, stop := context.WithCancel(ctx)
	var closers []func() error
	closers = append(closers, func() error { stop(); return nil })
	fail := func(err error) (*Server, error) {
		for i := len(closers) - 1; i >= 0; i-- {
			_ = closers[i]()
		}
		return nil, err
	}

	logWarnings(cfg, log)
	st, err := sqlstore.Open(ctx, cfg.Store, storeOptions(cfg, log))
	if err != nil {
		return fail(fmt.Errorf("store: %w", err))
	}
	closers = append(closers, st.Close)

	peppers, verifyPepper, err := openPepper(ctx, cfg, st, log)
	if err != nil {
		return fail(err)
	}
	hasher, err := apikey.NewHasher(peppers.Current, peppers.Peppers)
	if err != nil {
		return fail(fmt.Errorf("pepper_file: %w", err))
	}
	format, err := apikey.NewFormat(cfg.KeyPrefix)
	if err != nil {
		return fail(fmt.Errorf("key_prefix: %w", err))
	}
	pol := policy.Empty(policy.Deny)
	if cfg.PolicyFile != "" {
		if pol, err = policy.Load(cfg.PolicyFile); err != nil {
			return fail(fmt.Errorf("policy_file: %w", err))
		}
	}
	idx, err := cache.New(st, cache.Options{
		NegativeTTL:       cfg.NegativeCacheTTL,
		MaxStaleness:      cfg.MaxStaleness,
		ReconcileInterval: reconcileInterval(cfg.ReconcileInterval),
		MissLookups:       missLookups(cfg.MissLookups),
		HotKeys:           cfg.HotKeys,
		Logger:            log.With("component", "cache"),
	})
	if err != nil {
		return fail(err)
	}
	closers = append(closers, idx.Close)

	verifier, err := newVerifier(ctx, cfg, log)
	if err != nil {
		return fail(err)
	}
	var tokens authz.TokenVerifier // a nil *Verifier must stay a nil interface
	var proofs authz.ProofVerifier
	if verifier != nil {
		tokens = verifier
		closers = append(closers, func() error { verifier.Close(); return nil })
		pv, err := dpop.New(cfg.JWT.DPoP.Options())
		if err != nil {
			return fail(fmt.Errorf("jwt.dpop: %w", err))
		}
		proofs = pv
	}

	obs, err := startObservability(ctx, cfg, log, st, idx, verifier)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, obs.close)
	// Every change the feed applies reports how long it took to arrive.
	idx.ReportPropagation(obs.metrics.FeedPropagation)

	checker, err := authz.New(authz.Options{
		Index:  checkIndex{idx}, // refuses with UNAVAILABLE once stale
		Keys:   format,
		Hasher: hasher,
		Policy: pol,
		Tokens: tokens,
		Proofs: proofs,
		// Registered client certificates, read from the same hot index.
		Certificates: idx,
		Auditor:      obs.auditor(),
		Usage:        obs.lastUsed,
		Logger:       log.With("component", "authz"),
	})
	if err != nil {
		return fail(err)
	}

	checkOpts := CheckTransport()
	if cfg.TLS.CertFile != "" {
		tc, err := serverTLS(cfg.TLS)
		if err != nil {
			return fail(err)
		}
		checkOpts = append(checkOpts, grpc.Creds(credentials.NewTLS(tc)))
	}
	checkOpts = append(checkOpts, obs.checkServerOptions()...)
	checkSrv := grpc.NewServer(checkOpts...)
	check, err := extauthz.New(extauthz.Options{
		Decider: checker, Metrics: obs.metrics, Tracing: obs.tracing, Logger: log,
		AllowResponses: cfg.HotKeys,
		Source: clientaddr.Resolver{
			FromXFF:     cfg.SourceAddress.From == config.SourceFromXFF,
			TrustedHops: cfg.SourceAddress.XFFNumTrustedHops,
		},
	})
	if err != nil {
		return fail(err)
	}
	check.Register(checkSrv)
	hs := health.NewServer()
	// "liveness" answers while the process runs, so a Kubernetes liveness
	// probe never restarts a replica that is only waiting for its store;
	// "" and the Authorization service say whether Check can be served.
	hs.SetServingStatus(LivenessService, healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	hs.SetServingStatus(authv3.Authorization_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
	hs.SetServingStatus(StoreService, healthpb.HealthCheckResponse_NOT_SERVING)
	draining := make(chan struct{}) // closed when the listeners start to drain
	healthpb.RegisterHealthServer(checkSrv, drainingHealth{Server: hs, draining: draining})

	adminAPI := &admin.Server{
		Store:              st,
		Format:             format,
		Hasher:             hasher,
		Sync:               writeSync{idx},
		DefaultKeyLifetime: cfg.KeyDefaultLifetime,
		MaxKeyLifetime:     cfg.KeyMaxLifetime,
		MaxOverlap:         cfg.MaxRotationOverlap,
		Logger:             log.With("component", "admin"),
		Tiers:              cfg.RateLimit.TierNames(),
		Issuers:            cfg.JWT.Issuers.Names(),
	}
	if err := adminAPI.Validate(); err != nil {
		return fail(err)
	}
	auth := &admin.Authenticator{
		Store:  st,
		Keys:   idx,
		Hasher: hasher,
		Logger: log.With("component", "admin"),
	}
	expiring := &expiry.Watcher{Store: st, Logger: log.With("component", "expiry"), Interval: expiryInterval}
	if m := obs.metrics; m != nil {
		auth.Failed = func(_ context.Context, method admin.AuthMethod) { m.AdminAuthFailed(string(method)) }
		adminAPI.Leaked = func(partnerID string) { m.KeyLeaked("scan", partnerID) }
		if err := m.ObserveKeyExpiry(expiring.Counts); err != nil {
			return fail(err)
		}
	}
	if cfg.AdminOIDC.Enabled() {
		oidc, err := jwtverify.New(ctx, []jwtverify.IssuerConfig{cfg.AdminOIDC.IssuerConfig()}, jwtverify.Options{
			Logger: log.With("component", "admin-oidc"),
		})
		if err != nil {
			return fail(fmt.Errorf("admin_oidc: %w", err))
		}
		closers = append(closers, func() error { oidc.Close(); return nil })
		roles := make(map[string]partner.Role, len(cfg.AdminOIDC.Roles))
		for k, v := range cfg.AdminOIDC.Roles {
			roles[k] = partner.Role(v)
		}
		auth.OIDC = &admin.OIDC{Verifier: oidc, Roles: roles,
			NameClaim: cfg.AdminOIDC.OperatorClaim, RolesClaim: cfg.AdminOIDC.RolesClaim}
	}
	authUnary, authStream := auth.Interceptors()
	adminOpts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(recoverUnary(log), authUnary),
		grpc.ChainStreamInterceptor(authStream),
	}
	if cfg.AdminTLS.CertFile != "" {
		tc, err := serverTLS(cfg.AdminTLS)
		if err != nil {
			return fail(fmt.Errorf("admin_%w", err))
		}
		if tc.ClientCAs != nil {
			// A client certificate is one way to authenticate, not the
			// only one: operators with tokens connect over TLS too.
			tc.ClientAuth = tls.VerifyClientCertIfGiven
		}
		adminOpts = append(adminOpts, grpc.Creds(credentials.NewTLS(tc)))
	}
	adminSrv := grpc.NewServer(adminOpts...)
	adminv1.RegisterAdminServer(adminSrv, adminAPI)

	checkLis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fail(fmt.Errorf("listen: %w", err))
	}
	closers = append(closers, checkLis.Close)
	adminLis, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		return fail(fmt.Errorf("admin_listen: %w", err))
	}
	closers = append(closers, adminLis.Close)
	leaks, err := startSecretScanning(ctx, cfg, st, format, hasher, idx, obs.metrics, log)
	if err != nil {
		return fail(err)
	}
	if leaks != nil {
		closers = append(closers, leaks.lis.Close)
	}
	// The HTTP server makes the same decision, observed the same way.
	// Its readiness waits for s below, which exists only once every port
	// is bound.
	var s *Server
	httpAuth, err := startForwardAuth(cfg, checker, obs, func() bool { return s != nil && s.isReady() }, log)
	if err != nil {
		return fail(err)
	}
	if httpAuth != nil {
		closers = append(closers, httpAuth.lis.Close)
	}
	// Only now, with both ports bound, is a bootstrap token generated and
	// printed: a start that fails earlier leaves the next one to print it.
	if cfg.AdminBootstrap != "disabled" {
		b := admin.Bootstrap{Token: cfg.AdminToken, TokenFile: cfg.AdminTokenFile,
			EnvName: config.EnvAdminToken, FileKey: "admin_token_file", Out: out}
		if auth.Bootstrap, err = b.Hash(ctx, st); err != nil {
			return fail(err)
		}
		warnBootstrapWithAdmins(ctx, st, log)
	} else if cfg.AdminToken != "" {
		log.Warn("admin_bootstrap is disabled: " + config.EnvAdminToken + " is ignored by the server")
	}

	s = &Server{
		CheckAddr:   checkLis.Addr(),
		AdminAddr:   adminLis.Addr(),
		MetricsAddr: obs.metricsAddr(),
		Cache:       idx,
		uses:        obs.lastUsed,
		log:         log,
		done:        make(chan struct{}),
		ready:       make(chan struct{}),
	}
	s.SecretScanningAddr = leaks.addr()
	s.HTTPAddr = httpAuth.addr()
	var wg sync.WaitGroup
	var errMu sync.Mutex
	record := func(err error) {
		errMu.Lock()
		s.err = errors.Join(s.err, err)
		errMu.Unlock()
	}
	serve := func(name string, g *grpc.Server, lis net.Listener) {
		wg.Go(func() {
			if err := g.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				record(fmt.Errorf("%s: %w", name, err))
			}
		})
	}
	serve("check", checkSrv, checkLis)
	serve("admin", adminSrv, adminLis)
	if leaks != nil {
		wg.Go(func() {
			if err := leaks.serve(); err != nil {
				record(err)
			}
		})
	}
	if httpAuth != nil {
		wg.Go(func() {
			if err := httpAuth.serve(); err != nil {
				record(err)
			}
		})
	}
	log.Info("listening", "check", s.CheckAddr.String(), "admin", s.AdminAddr.String(), "config", *cfg)

	runCtx, stopRun := context.WithCancel(ctx)
	wg.Go(func() { watchStore(runCtx, hs, idx, s.isReady, log) })
	wg.Go(func() {
		if verifyPepper != nil {
			if err := retry(runCtx, log, "pepper check", verifyPepper); err != nil {
				if runCtx.Err() == nil {
					// The wrong pepper refuses every key: stop rather than
					// serve a replica that can only deny.
					log.Error("refusing to serve: wrong pepper", "err", err)
					record(err)
					stop()
				}
				return
			}
		}
		if err := loadWithRetry(runCtx, idx, log); err != nil {
			return
		}
		if err := waitForIssuers(runCtx, verifier, log); err != nil {
			return
		}
		if verifier != nil {
			wg.Go(func() { purgeRevocations(runCtx, st, log) })
		}
		if cfg.FeedRetention > 0 {
			wg.Go(func() { pruneFeed(runCtx, st, cfg.FeedRetention, log) })
		}
		if cfg.AuditRetention > 0 {
			wg.Go(func() { pruneAudit(runCtx, st, cfg.AuditRetention, log) })
		}
		wg.Go(func() { expiring.Run(runCtx) })
		hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		hs.SetServingStatus(authv3.Authorization_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
		close(s.ready)
		log.Info("ready", "keys", idx.Len(), "version", idx.Version())
		_ = idx.Run(runCtx)
	})

	go func() {
		<-ctx.Done()
		// Leave rotation first, so Envoy and Kubernetes stop sending; keep
		// serving for shutdown_delay, so that a load balancer that only
		// polls health sees NOT_SERVING before the listeners close.
		hs.Shutdown()
		httpAuth.drain()
		if d := cfg.ShutdownDelay; d > 0 {
			log.Info("shutting down: health NOT_SERVING; serving for shutdown_delay before draining", "shutdown_delay", d.String())
			time.Sleep(d)
		}
		log.Info("shutting down: draining in-flight requests", "grace", cfg.ShutdownGrace.String())
		close(draining) // health Watch streams end rather than hold the drain
		graceful(log, "check", checkSrv, cfg.ShutdownGrace)
		graceful(log, "admin", adminSrv, cfg.ShutdownGrace)
		if leaks != nil {
			leaks.shutdown(cfg.ShutdownGrace)
		}
		if httpAuth != nil {
			httpAuth.shutdown(log, cfg.ShutdownGrace)
		}
		stopRun()
		wg.Wait()
		for i := len(closers) - 1; i >= 0; i-- {
			if err := closers[i](); err != nil && !errors.Is(err, net.ErrClosed) {
				record(err)
			}
		}
		log.Info("stopped")
		close(s.done)
	}()
	return s, nil
}

// graceful stops g, letting in-flight RPCs finish for up to grace, and
// logs when grace ran out and RPCs were cut off.
func graceful(log *slog.Logger, name string, g *grpc.Server, grace time.Duration) {
	done := make(chan struct{})
	go func() {
		g.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		log.Warn("shutdown_grace passed: cutting off the requests still in flight", "server", name, "grace", grace.String())
		g.Stop()
		<-done
	}
}

// drainingHealth is the health service with Watch streams that end when
// draining closes: a watcher has been told NOT_SERVING by then, and an
// open stream would otherwise hold the graceful stop for all of
// shutdown_grace.
type drainingHealth struct {
	*health.Server
	draining <-chan struct{}
}

func (h drainingHealth) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	go func() {
		select {
		case <-h.draining:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := h.Server.Watch(req, watchStream{stream, ctx})
	select {
	case <-h.draining:
		return status.Error(codes.Unavailable, "partnergate: shutting down")
	default:
		return err
	}
}

// watchStream is a Watch stream whose context ends when drainingHealth
// says so.
type watchStream struct {
	healthpb.Health_WatchServer
	ctx context.Context
}

func (w watchStream) Context() context.Context { return w.ctx }

// openPepper loads the pepper and proves it is the one the store's keys
// were hashed with (see package pepper). A PostgreSQL store may be down at
// start; the pepper is then read from its file and the returned verify
// function, run before the cache loads, makes the same check once the
// store answers.
//
// With a rotating set (peppers), every listed pepper is checked against its
// version's fingerprint, and keys no listed pepper verifies are counted in
// the log (they are refused at Check).
func openPepper(ctx context.Context, cfg *config.Config, st *sqlstore.Store, log *slog.Logger) (pepper.Set, func(context.Context) error, error) {
	if len(cfg.Peppers) > 0 {
		entries := make([]pepper.Entry, len(cfg.Peppers))
		for i, p := range cfg.Peppers {
			entries[i] = pepper.Entry{Version: p.Version, Path: p.File}
		}
		set, err := pepper.ReadSet(entries)
		if err != nil {
			return pepper.Set{}, nil, err
		}
		verify := func(ctx context.Context) error {
			_, err := pepper.VerifySet(ctx, st, st, entries, set, log)
			return err
		}
		switch err := verify(ctx); {
		case err == nil:
			return set, nil, nil
		case !errors.Is(err, partner.ErrUnavailable):
			return pepper.Set{}, nil, err
		}
		log.Warn("store unavailable: the peppers are checked against it once it answers; not ready until then")
		return set, verify, nil
	}
	p, verify, err := openOnePepper(ctx, cfg, st, log)
	if err != nil {
		return pepper.Set{}, nil, err
	}
	return pepper.Set{Peppers: map[int][]byte{cfg.PepperVersion: p}, Current: cfg.PepperVersion}, verify, nil
}

// openOnePepper is openPepper for pepper_file and pepper_version.
func openOnePepper(ctx context.Context, cfg *config.Config, st *sqlstore.Store, log *slog.Logger) (p []byte, verify func(context.Context) error, err error) {
	path, err := pepper.Path(cfg.PepperFile, cfg.Store)
	if err != nil {
		return nil, nil, err
	}
	kind, _ := config.StoreKind(cfg.Store)
	opts := pepper.Options{
		Path:     path,
		Version:  cfg.PepperVersion,
		Generate: kind == "sqlite" && cfg.PepperFile == "",
		Logger:   log,
	}
	p, err = pepper.Open(ctx, st, opts)
	if err == nil || kind != "postgres" || !errors.Is(err, partner.ErrUnavailable) {
		return p, nil, err
	}
	if p, err = pepper.Read(path); err != nil {
		return nil, nil, err
	}
	log.Warn("store unavailable: the pepper is checked against it once it answers; not ready until then", "file", path)
	return p, func(ctx context.Context) error {
		return pepper.Verify(ctx, st, path, cfg.PepperVersion, log, p)
	}, nil
}

// retry runs fn until it succeeds, fails with an error other than the
// store being unavailable, or ctx ends, waiting with capped backoff in
// between.
func retry(ctx context.Context, log *slog.Logger, what string, fn func(context.Context) error) error {
	backoff := 100 * time.Millisecond
	for {
		err := fn(ctx)
		if err == nil || !errors.Is(err, partner.ErrUnavailable) {
			return err
		}
		log.Warn(what+": store unavailable; not ready, retrying", "err", err, "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// loadWithRetry loads the cache, retrying with capped backoff: a replica
// that starts while its store is down stays not-ready rather than serving
// an empty cache.
func loadWithRetry(ctx context.Context, idx *cache.Cache, log *slog.Logger) error {
	backoff := 100 * time.Millisecond
	for {
		err := idx.Load(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Error("cache load failed; not ready, retrying", "err", err, "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func missLookups(perSecond float64) float64 {
	if perSecond == 0 {
		return -1 // cache.Options: negative disables
	}
	return perSecond
}

// warnBootstrapWithAdmins says, once named admins exist, that the
// bootstrap token should now be turned off: it is break-glass only.
func warnBootstrapWithAdmins(ctx context.Context, st *sqlstore.Store, log *slog.Logger) {
	ops, err := st.ListOperators(ctx)
	if err != nil {
		return // the store's trouble is reported elsewhere
	}
	now := time.Now()
	for _, o := range ops {
		if o.Role == partner.RoleAdmin && o.Usable(now) {
			log.Warn("the bootstrap admin token is enabled although named admins exist; set admin_bootstrap: disabled", "admin", o.Name)
			return
		}
	}
}

func serverTLS(c config.TLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2"}}
	if c.ClientCAFile != "" {
		pem, err := os.ReadFile(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.client_ca_file: no PEM certificates in %s", c.ClientCAFile)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// recoverUnary turns a panic into an Internal error, so a bug denies one
// request (Envoy fails closed) instead of killing the process.
func recoverUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				resp, err = nil, panicked(log, info.FullMethod, r)
			}
		}()
		return handler(ctx, req)
	}
}

// panicked logs a panic recovered from method and returns the error the
// caller gets for it.
func panicked(log *slog.Logger, method string, r any) error {
	log.Error("panic in handler", "method", method, "panic", fmt.Sprint(r))
	return status.Error(codes.Internal, "partnergate: internal error")
}

// checkStreamWorkers is how many long-lived goroutines serve Check
// streams. Without them grpc-go starts a goroutine per call, whose stack
// grows (and is copied) twice on its way through the transport and the
// handler; workers keep their grown stacks, which the load benchmark
// shows in server CPU per Check for partnergate and the baseline alike
// (BENCHMARKS.md). Past 256 calls in flight grpc-go falls back to a
// goroutine per call.
const checkStreamWorkers = 256

// CheckTransport returns the gRPC transport settings of the Check server,
// without its handlers, so that the load benchmark's
// do-nothing baseline runs on the same transport.
func CheckTransport() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.NumStreamWorkers(checkStreamWorkers),
		extauthz.ServerOption(), // sends the allow memo's encodings as they are
	}
}
