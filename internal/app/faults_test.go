// Test strategy: faults an operator meets, each through the whole server
// (app.Start on real SQLite or PostgreSQL, real gRPC on loopback, real
// signals): a lost or wrong pepper refuses start-up instead of serving a
// replica that denies every key; a stale cache is told the same way by
// Check, health and metrics; SIGHUP leaves the server serving; SIGTERM
// keeps serving for shutdown_delay while health says NOT_SERVING, and an
// open health Watch does not hold the drain. Each test asserts what the
// operator is told — the error, the health service, the metric, the log
// line — not only that something failed.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/partnergate/partnergate/internal/config"
	"github.com/partnergate/partnergate/internal/logtest"
	"github.com/partnergate/partnergate/internal/store/sqlstore/pgtest"
	"github.com/partnergate/partnergate/internal/telemetry"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// startErr runs Start with cfg and returns its error, stopping a server
// that did start.
func startErr(t *testing.T, cfg config.Config) error {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := Start(ctx, &cfg, telemetry.NewLogger(&logtest.Buffer{}, "json", slog.LevelDebug), &logtest.Buffer{})
	if err == nil {
		cancel()
		_ = srv.Wait()
	}
	return err
}

// overwritePepper replaces the pepper at path with a new random one.
func overwritePepper(t *testing.T, path string) {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	if err := os.WriteFile(path, []byte(hex.EncodeToString(b)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestLostOrWrongPepperRefusesStart issues a key, stops the server, then
// restarts it over the same store with the pepper file removed or
// replaced: start-up is refused naming the file and the version, and no
// pepper is written in place of the lost one.
func TestLostOrWrongPepperRefusesStart(t *testing.T) {
	cases := []struct {
		name    string
		fault   func(t *testing.T, path string)
		wantErr []string
	}{
		{"missing-pepper", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, []string{"does not exist", "pepper version 1", "restore"}},
		{"wrong-pepper", overwritePepper, []string{"is not pepper version 1"}},
	}
	backends := []struct {
		name string
		cfg  func(t *testing.T) config.Config
	}{
		// SQLite with the pepper beside the database, generated at first
		// start: the case of a database restored without its pepper.
		{"sqlite", func(t *testing.T) config.Config { return testConfig(t.TempDir()) }},
		{"postgres", func(t *testing.T) config.Config {
			cfg := testConfig(t.TempDir())
			cfg.MetricsListen = ""
			cfg.Store = pgtest.NewDatabase(t)
			cfg.PepperFile = pepperFile(t)
			return cfg
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					cfg := b.cfg(t)
					h := launch(t, cfg, 10*time.Second)
					secrets, _ := issueKeys(t, h, "acme", 1)
					h.wantCheck(t, "fresh key", secrets[0], codes.OK)
					if err := h.stop(); err != nil {
						t.Fatal(err)
					}
					path := cfg.PepperFile
					if path == "" {
						path = filepath.Join(h.dir, "pepper")
					}
					before, _ := os.ReadFile(path)
					if b.name == "sqlite" && len(before) == 0 {
						t.Fatalf("no generated pepper at %s", path)
					}

					tc.fault(t, path)
					faulted, _ := os.ReadFile(path)
					err := startErr(t, cfg)
					if err == nil {
						t.Fatal("the server started")
					}
					for _, w := range append([]string{path}, tc.wantErr...) {
						if !strings.Contains(err.Error(), w) {
							t.Errorf("start-up error %q does not name %q", err, w)
						}
					}
					if after, _ := os.ReadFile(path); string(after) != string(faulted) {
						t.Error("the refused start changed the pepper file")
					}

					// The right pepper back: the key works again.
					if err := os.WriteFile(path, before, 0o600); err != nil {
						t.Fatal(err)
					}
					h = launch(t, cfg, 10*time.Second)
					h.wantCheck(t, "pepper restored", secrets[0], codes.OK)
				})
			}
		})
	}
}

// TestWrongPepperFoundOnceTheStoreAnswers starts a replica whose database
// is down with a pepper other than the one its keys were hashed with: it
// cannot check the pepper yet, so it waits not-ready, and once the
// database answers it stops with the error instead of becoming ready.
func TestWrongPepperFoundOnceTheStoreAnswers(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pepper := pepperFile(t)
	first := startReplica(t, db, pepper, true, nil)
	issueKeys(t, first, "acme", 1)
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	overwritePepper(t, pepper)

	proxy := pgtest.NewProxy(t, db, true)
	h := startReplica(t, proxy.URL(db)+"&connect_timeout=2", pepper, false, nil)
	h.waitLog(t, "pepper check deferred", "the pepper is checked against it once it answers")
	proxy.Up()
	done := make(chan error, 1)
	go func() { done <- h.srv.Wait() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "is not pepper version 1") || !strings.Contains(err.Error(), pepper) {
			t.Errorf("server stopped with %v; want the wrong-pepper error naming %s", err, pepper)
		}
	case <-time.After(replicaDeadline):
		t.Fatal("the server kept running with the wrong pepper")
	}
	select {
	case <-h.srv.Ready():
		t.Error("the server became ready with the wrong pepper")
	default:
	}
}

// metricValue returns the value of the unlabelled series name in a scrape
// of h, or "" if it is absent.
func metricValue(t *testing.T, h *harness, name string) string {
	t.Helper()
	for line := range strings.SplitSeq(scrape(t, h), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// TestStaleCacheToldTheSameEverywhere cuts a replica off from PostgreSQL
// past max_staleness: Check refuses with "cache stale" (not the "not
// ready" of start-up), readiness is NOT_SERVING, and
// partnergate_cache_ready drops to 0 so the PartnergateNotReady alert can
// fire; all three recover together.
func TestStaleCacheToldTheSameEverywhere(t *testing.T) {
	db := pgtest.NewDatabase(t)
	proxy := pgtest.NewProxy(t, db, false)
	h := startReplica(t, proxy.URL(db)+"&connect_timeout=2", pepperFile(t), true, func(c *config.Config) {
		c.MaxStaleness = 2 * time.Second
		c.MetricsListen = "127.0.0.1:0"
	})
	secrets, _ := issueKeys(t, h, "acme", 1)
	h.wantCheck(t, "fresh", secrets[0], codes.OK)
	if got := metricValue(t, h, "partnergate_cache_ready"); got != "1" {
		t.Fatalf("partnergate_cache_ready = %q while serving, want 1", got)
	}

	proxy.Down()
	h.waitHealth(t, "", healthpb.HealthCheckResponse_NOT_SERVING)
	_, err := h.check.Check(context.Background(), keyCheckRequest(secrets[0], "req-stale"))
	if st, _ := status.FromError(err); st.Code() != codes.Unavailable || st.Message() != "partnergate: cache stale" {
		t.Errorf("Check while stale = %v; want UNAVAILABLE \"partnergate: cache stale\"", err)
	}
	if got := metricValue(t, h, "partnergate_cache_ready"); got != "0" {
		t.Errorf("partnergate_cache_ready = %q while Check refuses every request, want 0", got)
	}
	if got := metricValue(t, h, "partnergate_feed_staleness_seconds"); got == "" {
		t.Error("partnergate_feed_staleness_seconds missing while stale")
	}

	proxy.Up()
	h.waitCheck(t, "after the store is back", secrets[0], codes.OK)
	deadline := time.Now().Add(replicaDeadline)
	for metricValue(t, h, "partnergate_cache_ready") != "1" {
		if time.Now().After(deadline) {
			t.Fatal("partnergate_cache_ready did not return to 1")
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not a wait for a condition
	}
}

// TestSIGHUPLeavesTheServerServing sends the test process a real SIGHUP
// with the server's signal handling in place: the server logs it and
// keeps serving. Without a handler the process would die of it, as
// partnergate serve did (exit 129, in-flight Checks reset).
func TestSIGHUPLeavesTheServerServing(t *testing.T) {
	logs := &logtest.Buffer{}
	log := telemetry.NewLogger(logs, "json", slog.LevelDebug)
	ctx, stop := notifySignals(context.Background(), log)
	defer stop()
	cfg := testConfig(t.TempDir())
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := Start(ctx, &cfg, log, logs)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		stop()
		_ = srv.Wait()
	}()
	select {
	case <-srv.Ready():
	case <-time.After(replicaDeadline):
		t.Fatal("not ready")
	}
	h := &harness{logs: logs, srv: srv,
		check:  authv3.NewAuthorizationClient(dial(t, srv.CheckAddr.String())),
		health: healthpb.NewHealthClient(dial(t, srv.CheckAddr.String())),
		admin:  adminv1.NewAdminClient(dial(t, srv.AdminAddr.String())),
	}
	secrets, _ := issueKeys(t, h, "acme", 1)

	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	h.waitLog(t, "SIGHUP logged", "SIGHUP received and ignored")
	if ctx.Err() != nil {
		t.Fatal("SIGHUP started a shutdown")
	}
	if got := h.healthOf(t, ""); got != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health after SIGHUP = %v, want SERVING", got)
	}
	h.wantCheck(t, "Check after SIGHUP", secrets[0], codes.OK)
}

// TestShutdownDelayKeepsServingWhileNotServing stops a server with a
// shutdown_delay: the health service reports NOT_SERVING over a
// connection that still works, and Checks are still answered after that,
// until the delay ends and the listeners drain.
func TestShutdownDelayKeepsServingWhileNotServing(t *testing.T) {
	h := startReady(t, func(c *config.Config) { c.ShutdownDelay = 2 * time.Second })
	secrets, _ := issueKeys(t, h, "acme", 1)
	stopped := make(chan error, 1)
	go func() { stopped <- h.stop() }()

	h.waitHealth(t, "", healthpb.HealthCheckResponse_NOT_SERVING)
	code, fault := h.checkCode(context.Background(), secrets[0])
	if fault || code != codes.OK {
		t.Errorf("Check after health went NOT_SERVING = %v (fault %v); want it still served during shutdown_delay", code, fault)
	}
	h.waitLog(t, "delay logged", "serving for shutdown_delay before draining")
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Wait: %v", err)
		}
	case <-time.After(replicaDeadline):
		t.Fatal("the server did not stop after shutdown_delay")
	}
}

// TestWatchStreamDoesNotHoldShutdown opens a health Watch, as a load
// balancer or a mesh does, and stops the server with a shutdown_grace
// longer than the test's deadline: the watcher is told NOT_SERVING, its
// stream ends when the drain starts, and the server stops without
// waiting out the grace.
func TestWatchStreamDoesNotHoldShutdown(t *testing.T) {
	h := startReady(t, func(c *config.Config) { c.ShutdownGrace = 3 * replicaDeadline })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := h.health.Watch(ctx, &healthpb.HealthCheckRequest{Service: ""})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := w.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first Watch status = %v, %v; want SERVING", r.GetStatus(), err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- h.stop() }()

	sawNotServing := false
	for {
		r, err := w.Recv()
		if err != nil {
			break // the stream ended, as it must
		}
		if r.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING {
			sawNotServing = true
		}
	}
	if !sawNotServing {
		t.Error("the watcher was never told NOT_SERVING")
	}
	select {
	case <-stopped:
	case <-time.After(replicaDeadline):
		t.Fatal("an open Watch stream held the shutdown")
	}
	if strings.Contains(h.logs.String(), "shutdown_grace passed") {
		t.Error("the drain needed the grace to cut the Watch stream off")
	}
}

// TestGracefulLogsWhatTheGraceCutOff holds a stream open on a plain gRPC
// server past its grace: graceful cuts it off and says so in the log.
func TestGracefulLogsWhatTheGraceCutOff(t *testing.T) {
	g := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(g, hs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(lis)
	w, err := healthpb.NewHealthClient(dial(t, lis.Addr().String())).Watch(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Recv(); err != nil { // the stream is open on the server
		t.Fatal(err)
	}
	var logs logtest.Buffer
	graceful(telemetry.NewLogger(&logs, "json", slog.LevelDebug), "check", g, 50*time.Millisecond)
	if got := logs.String(); !strings.Contains(got, "shutdown_grace passed") || !strings.Contains(got, `"server":"check"`) {
		t.Errorf("log after a forced stop:\n%s\nwant a line saying shutdown_grace cut requests off, naming the server", got)
	}
}
