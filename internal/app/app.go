package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
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
	"github.com/partnergate/partnergate/internal/config"
	"github.com/partnergate/partnergate/internal/lastuse"
	"github.com/partnergate/partnergate/internal/policy"
	"github.com/partnergate/partnergate/internal/store/sqlstore"
	"github.com/partnergate/partnergate/internal/wire"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// LivenessService is the gRPC health service name that reports SERVING
// for as long as the process runs.
const LivenessService = "liveness"

// metaAdminTokenHash is the store setting holding the generated admin
// token's SHA-256, hex.
const metaAdminTokenHash = "admin_token_sha256"

// Server is a running partnergate: build it with [Start], stop it by
// cancelling the context given to Start and calling [Server.Wait].
type Server struct {
	// CheckAddr and AdminAddr are the bound addresses.
	CheckAddr, AdminAddr net.Addr
	// MetricsAddr is the bound metrics address; nil with metrics off.
	MetricsAddr net.Addr
	// Cache is the hot index, for tests and diagnostics.
	Cache *cache.Cache

	log   *slog.Logger
	done  chan struct{}
	err   error
	ready chan struct{}
}

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
	var closers []func() error
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

	kind, _ := config.StoreKind(cfg.Store)
	path, err := pepperPath(cfg.PepperFile, cfg.Store)
	if err != nil {
		return fail(err)
	}
	pepper, err := loadPepper(path, kind == "sqlite" && cfg.PepperFile == "")
	if err != nil {
		return fail(err)
	}
	hasher, err := apikey.NewHasher(cfg.PepperVersion, map[int][]byte{cfg.PepperVersion: pepper})
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
	tokenHash, err := adminTokenHash(ctx, cfg, st, out)
	if err != nil {
		return fail(err)
	}

	idx, err := cache.New(st, cache.Options{
		NegativeTTL:       cfg.NegativeCacheTTL,
		MaxStaleness:      cfg.MaxStaleness,
		ReconcileInterval: reconcileInterval(cfg.ReconcileInterval),
		MissLookups:       missLookups(cfg.MissLookups),
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
	if verifier != nil {
		tokens = verifier
		closers = append(closers, func() error { verifier.Close(); return nil })
	}

	obs, err := startObservability(ctx, cfg, log, st, idx, verifier)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, obs.close)

	checker, err := authz.New(authz.Options{
		Index:   checkIndex{idx}, // refuses with UNAVAILABLE once stale
		Keys:    format,
		Hasher:  hasher,
		Policy:  pol,
		Tokens:  tokens,
		Auditor: obs.auditor(),
		Usage:   obs.lastUsed,
		// Check reports a key's use at most once a second, the
		// precision the recorder keeps anyway.
		UsageResolution: lastuse.Resolution,
		Logger:          log.With("component", "authz"),
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
	authz.Register(checkSrv, obs.observeCheck(recoverCheck(checker.Respond, log)))
	hs := health.NewServer()
	// "liveness" answers while the process runs, so a Kubernetes liveness
	// probe never restarts a replica that is only waiting for its store;
	// "" and the Authorization service say whether Check can be served.
	hs.SetServingStatus(LivenessService, healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	hs.SetServingStatus(authv3.Authorization_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
	hs.SetServingStatus(StoreService, healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(checkSrv, hs)

	adminAPI := &admin.Server{
		Store:              st,
		Format:             format,
		Hasher:             hasher,
		Sync:               idx,
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
	authUnary, authStream := admin.AuthInterceptors(tokenHash)
	adminSrv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(recoverUnary(log), authUnary),
		grpc.ChainStreamInterceptor(authStream),
	)
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

	s := &Server{
		CheckAddr:   checkLis.Addr(),
		AdminAddr:   adminLis.Addr(),
		MetricsAddr: obs.metricsAddr(),
		Cache:       idx,
		log:         log,
		done:        make(chan struct{}),
		ready:       make(chan struct{}),
	}
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
	log.Info("listening", "check", s.CheckAddr.String(), "admin", s.AdminAddr.String(), "config", *cfg)

	runCtx, stopRun := context.WithCancel(ctx)
	wg.Go(func() { watchStore(runCtx, hs, idx, s.isReady, log) })
	wg.Go(func() {
		if err := loadWithRetry(runCtx, idx, log); err != nil {
			return
		}
		if err := waitForIssuers(runCtx, verifier, log); err != nil {
			return
		}
		if verifier != nil {
			wg.Go(func() { purgeRevocations(runCtx, st, log) })
		}
		hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		hs.SetServingStatus(authv3.Authorization_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
		close(s.ready)
		log.Info("ready", "keys", idx.Len(), "version", idx.Version())
		_ = idx.Run(runCtx)
	})

	go func() {
		<-ctx.Done()
		log.Info("shutting down: draining in-flight requests", "grace", cfg.ShutdownGrace.String())
		// Leave rotation first, so Envoy and Kubernetes stop sending.
		hs.Shutdown()
		graceful(checkSrv, cfg.ShutdownGrace)
		graceful(adminSrv, cfg.ShutdownGrace)
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

// graceful stops g, letting in-flight RPCs finish for up to grace.
func graceful(g *grpc.Server, grace time.Duration) {
	done := make(chan struct{})
	go func() {
		g.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		g.Stop()
		<-done
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

// adminTokenHash returns the SHA-256 of the admin token: from the
// environment or token file, else the one generated on first start. A
// generated token is printed once to out and only its hash is stored.
func adminTokenHash(ctx context.Context, cfg *config.Config, st interface {
	InitMeta(ctx context.Context, key, value string) (string, error)
}, out io.Writer) ([]byte, error) {
	tok := cfg.AdminToken
	if cfg.AdminTokenFile != "" {
		var err error
		if tok, err = readTokenFile(cfg.AdminTokenFile); err != nil {
			return nil, err
		}
	}
	if tok != "" {
		return admin.HashToken(tok), nil
	}
	fresh := admin.NewToken()
	freshHash := hex.EncodeToString(admin.HashToken(fresh))
	stored, err := st.InitMeta(ctx, metaAdminTokenHash, freshHash)
	if err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	if stored == freshHash {
		fmt.Fprintf(out, "\nGenerated admin token (shown once; only its hash is kept):\n\n    export %s=%s\n\n", config.EnvAdminToken, fresh)
	}
	h, err := hex.DecodeString(stored)
	if err != nil {
		return nil, fmt.Errorf("admin token: stored hash is corrupt: %w", err)
	}
	return h, nil
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

// recoverCheck returns check with a panic turned into an Internal error,
// as recoverUnary does on the admin server, so that a bug denies one
// request (Envoy fails closed) instead of killing the process; wrapped
// inside the observer, the panic is observed as an error. The Check
// server has no interceptor: grpc-go allocates two objects per call to
// run one.
func recoverCheck(check authz.RespondFunc, log *slog.Logger) authz.RespondFunc {
	return func(ctx context.Context, req *authv3.CheckRequest) (resp authz.Response, err error) {
		defer func() {
			if r := recover(); r != nil {
				resp, err = authz.Response{}, panicked(log, authv3.Authorization_Check_FullMethodName, r)
			}
		}()
		return check(ctx, req)
	}
}

// checkStreamWorkers is how many long-lived goroutines serve Check
// streams. Without them grpc-go starts a goroutine per call, whose stack
// grows (and is copied) twice on its way through the transport and the
// handler: about a tenth of a saturated core. With 256 workers the load
// benchmark measured 2–3 µs less server CPU per Check, for partnergate and
// the baseline alike; past 256 calls in flight grpc-go falls back to a
// goroutine per call.
const checkStreamWorkers = 256

// CheckTransport returns the gRPC transport settings of the Check server,
// without its handlers, so that the load benchmark's
// do-nothing baseline runs on the same transport.
func CheckTransport() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.NumStreamWorkers(checkStreamWorkers),
		wire.ServerOption(), // sends the allow memo's encodings as they are
	}
}
