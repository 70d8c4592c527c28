// Test strategy: these tests run the whole server as operators and Envoy
// meet it — app.Start on a real SQLite file, the admin API and Check over
// real gRPC on loopback with go-control-plane's client — and drive the
// credential lifecycle (issue, rotate with overlap, revoke, suspend,
// resume) through the admin API only, asserting each change is visible to
// the very next Check on this replica. Afterwards every byte the server
// wrote (its logs, the database and WAL files) is searched for every secret
// it issued.
package app

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/partnergate/partnergate/internal/config"
	"github.com/partnergate/partnergate/internal/logtest"
	"github.com/partnergate/partnergate/internal/pepper"
	"github.com/partnergate/partnergate/internal/telemetry"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

const testAdminToken = "pgadm_test-token-0123456789abcdef"

type harness struct {
	dir    string
	logs   *logtest.Buffer
	srv    *Server
	admin  adminv1.AdminClient
	check  authv3.AuthorizationClient
	health healthpb.HealthClient
	stop   func() error
}

func start(t *testing.T) *harness {
	t.Helper()
	return startReady(t, nil)
}

// startReady starts a server like start, letting configure adjust the
// configuration first, and waits until it is ready.
func startReady(t *testing.T, configure func(*config.Config)) *harness {
	t.Helper()
	cfg := testConfig(t.TempDir())
	if configure != nil {
		configure(&cfg)
	}
	return launch(t, cfg, 10*time.Second)
}

// testConfig is the configuration of a test server: loopback ports chosen
// by the kernel, a SQLite store in dir, and the test admin token.
func testConfig(dir string) config.Config {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.AdminListen = "127.0.0.1:0"
	cfg.MetricsListen = "127.0.0.1:0"
	cfg.Store = "sqlite://" + filepath.Join(dir, "partnergate.db")
	cfg.AdminToken = testAdminToken
	cfg.ShutdownGrace = 5 * time.Second
	cfg.ShutdownDelay = 0 // tests that need the delay set it
	return cfg
}

// launch validates cfg, starts a server with it and clients for it, and
// stops it when the test ends. With wait > 0 it waits that long for the
// server to be ready. A failed test's report ends with the server's last
// log lines.
func launch(t *testing.T, cfg config.Config, wait time.Duration) *harness {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &logtest.Buffer{}
	log := telemetry.NewLogger(logs, "json", slog.LevelDebug)
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := Start(ctx, &cfg, log, logs)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	h := &harness{logs: logs, srv: srv}
	if p, err := pepper.Path("", cfg.Store); err == nil { // SQLite: the pepper lives beside the database
		h.dir = filepath.Dir(p)
	}
	var once sync.Once
	var stopErr error
	h.stop = func() error {
		once.Do(func() {
			cancel()
			stopErr = srv.Wait()
		})
		return stopErr
	}
	t.Cleanup(func() {
		h.stop()
		if t.Failed() { // the server's last words, for the failure report
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			t.Logf("server %s, last log lines:\n%s", srv.AdminAddr, strings.Join(lines[max(0, len(lines)-15):], "\n"))
		}
	})
	if wait > 0 {
		select {
		case <-srv.Ready():
		case <-time.After(wait):
			t.Fatalf("server not ready within %s", wait)
		}
	}
	h.check = authv3.NewAuthorizationClient(dial(t, srv.CheckAddr.String()))
	h.health = healthpb.NewHealthClient(dial(t, srv.CheckAddr.String()))
	h.admin = adminv1.NewAdminClient(dial(t, srv.AdminAddr.String()))
	return h
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func adminCtx() context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+testAdminToken)
}

// checkKey sends a Check for GET /v1/orders requiring orders:read with key
// as x-api-key, and returns the response.
func (h *harness) checkKey(t *testing.T, key string) *authv3.CheckResponse {
	t.Helper()
	resp, err := h.check.Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "198.51.100.9"},
		}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: "req-1", Method: "GET", Path: "/v1/orders",
			Headers: map[string]string{"x-api-key": key, "x-partner-id": "acme", "x-partner-role": "admin"},
		}},
		ContextExtensions: map[string]string{"required_scopes": "orders:read"},
	}})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return resp
}

// wantCheck asserts the code of a Check with key.
func (h *harness) wantCheck(t *testing.T, step, key string, want codes.Code) {
	t.Helper()
	resp := h.checkKey(t, key)
	if got := codes.Code(resp.GetStatus().GetCode()); got != want {
		t.Fatalf("%s: Check = %v (%s), want %v", step, got, resp.GetDeniedResponse().GetBody(), want)
	}
}

func TestCredentialLifecycleThroughAdminAPI(t *testing.T) {
	h := start(t)
	ctx := adminCtx()
	var secrets []string

	if _, err := h.admin.CreatePartner(ctx, &adminv1.CreatePartnerRequest{Id: "acme", Tier: "gold", Scopes: []string{"orders:read", "orders:write"}}); err != nil {
		t.Fatal(err)
	}
	issued, err := h.admin.IssueKey(ctx, &adminv1.IssueKeyRequest{PartnerId: "acme", Scopes: []string{"orders:read"}, Name: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, issued.GetSecret())

	// Allowed, with the identity headers from the store.
	resp := h.checkKey(t, issued.GetSecret())
	ok := resp.GetOkResponse()
	if ok == nil {
		t.Fatalf("fresh key denied: %s", resp.GetDeniedResponse().GetBody())
	}
	got := map[string]string{}
	for _, hv := range ok.GetHeaders() {
		got[hv.GetHeader().GetKey()] = hv.GetHeader().GetValue()
	}
	want := map[string]string{"x-partner-id": "acme", "x-partner-scopes": "orders:read", "x-partner-credential": issued.GetKey().GetId(), "x-partner-tier": "gold"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("header %s = %q, want %q", k, got[k], v)
		}
	}
	if md := resp.GetDynamicMetadata().GetFields(); md["partner_id"].GetStringValue() != "acme" || md["credential_id"].GetStringValue() != issued.GetKey().GetId() {
		t.Errorf("metadata = %v", md)
	}

	// Rotation with overlap: both keys work until the overlap ends.
	rotated, err := h.admin.RotateKey(ctx, &adminv1.RotateKeyRequest{KeyId: issued.GetKey().GetId(), Overlap: durationpb.New(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, rotated.GetSecret())
	h.wantCheck(t, "old key during overlap", issued.GetSecret(), codes.OK)
	h.wantCheck(t, "new key", rotated.GetSecret(), codes.OK)
	// A second rotation with no overlap ends the (new) old key at once.
	again, err := h.admin.RotateKey(ctx, &adminv1.RotateKeyRequest{KeyId: rotated.GetKey().GetId(), Overlap: durationpb.New(0)})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, again.GetSecret())
	h.wantCheck(t, "rotated key after its overlap", rotated.GetSecret(), codes.Unauthenticated)
	h.wantCheck(t, "successor", again.GetSecret(), codes.OK)

	// Revocation is immediate on this replica: the next Check.
	if _, err := h.admin.RevokeKey(ctx, &adminv1.RevokeKeyRequest{KeyId: again.GetKey().GetId(), Reason: "leaked"}); err != nil {
		t.Fatal(err)
	}
	h.wantCheck(t, "revoked key", again.GetSecret(), codes.Unauthenticated)

	// Suspension is the kill switch; resume restores.
	h.wantCheck(t, "first key, still in overlap", issued.GetSecret(), codes.OK)
	if _, err := h.admin.SuspendPartner(ctx, &adminv1.SuspendPartnerRequest{Id: "acme", Reason: "incident"}); err != nil {
		t.Fatal(err)
	}
	h.wantCheck(t, "suspended partner", issued.GetSecret(), codes.PermissionDenied)
	if _, err := h.admin.ResumePartner(ctx, &adminv1.ResumePartnerRequest{Id: "acme"}); err != nil {
		t.Fatal(err)
	}
	h.wantCheck(t, "resumed partner", issued.GetSecret(), codes.OK)

	// A mistyped key is refused before any index or store is touched.
	before := *statsOf(h)
	typo := []byte(issued.GetSecret())
	typo[len(typo)-10] ^= 0x01
	h.wantCheck(t, "typo", string(typo), codes.Unauthenticated)
	if after := *statsOf(h); after != before {
		t.Errorf("a bad checksum reached the cache: stats %+v -> %+v", before, after)
	}

	// Shut down, then look for secrets in everything the server wrote.
	if err := h.stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	assertNoSecrets(t, h, secrets)
}

type statCounts struct{ hits, misses, negative, lookups int64 }

func statsOf(h *harness) *statCounts {
	s := h.srv.Cache.Stats()
	return &statCounts{s.Hits.Load(), s.Misses.Load(), s.NegativeHits.Load(), s.MissLookups.Load()}
}

// assertNoSecrets searches logs and every file in the data directory for
// each secret, and for its 43-character random part alone.
func assertNoSecrets(t *testing.T, h *harness, secrets []string) {
	t.Helper()
	blobs := map[string][]byte{"logs": []byte(h.logs.String())}
	entries, err := os.ReadDir(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(h.dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		blobs[e.Name()] = b
	}
	if len(blobs) < 3 {
		t.Fatalf("expected logs, a database and a pepper file, read %d blobs", len(blobs))
	}
	for _, s := range secrets {
		if len(s) < 50 {
			t.Fatalf("implausible secret %q", s)
		}
		body := s[len(s)-49 : len(s)-6] // the 43 random characters
		for name, b := range blobs {
			if bytes.Contains(b, []byte(s)) || bytes.Contains(b, []byte(body)) {
				t.Errorf("%s contains an issued secret", name)
			}
		}
	}
	if !strings.Contains(h.logs.String(), "key.revoke") {
		t.Error("logs lack the admin write records the search relies on")
	}
}

func TestHealthReportsServingOnceLoaded(t *testing.T) {
	h := start(t)
	for _, svc := range []string{"", "envoy.service.auth.v3.Authorization", LivenessService} {
		resp, err := h.health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q = %v, %v; want SERVING", svc, resp.GetStatus(), err)
		}
	}
}

func TestAdminRequiresToken(t *testing.T) {
	h := start(t)
	_, err := h.admin.ListPartners(context.Background(), &adminv1.ListPartnersRequest{})
	if code := grpcCode(err); code != codes.Unauthenticated {
		t.Fatalf("ListPartners without a token = %v, want Unauthenticated", err)
	}
	bad := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+testAdminToken+"x")
	if _, err := h.admin.ListPartners(bad, &adminv1.ListPartnersRequest{}); grpcCode(err) != codes.Unauthenticated {
		t.Fatalf("ListPartners with a wrong token = %v, want Unauthenticated", err)
	}
}

func TestGeneratedAdminTokenIsPrintedOnceAndOnlyItsHashKept(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Listen, cfg.AdminListen, cfg.MetricsListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Store = "sqlite://" + filepath.Join(dir, "pg.db")
	cfg.ShutdownDelay = 0
	run := func() string {
		var out logtest.Buffer
		ctx, cancel := context.WithCancel(context.Background())
		srv, err := Start(ctx, &cfg, slog.New(slog.DiscardHandler), &out)
		if err != nil {
			t.Fatal(err)
		}
		<-srv.Ready()
		cancel()
		if err := srv.Wait(); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	first := run()
	i := strings.Index(first, "pgadm_")
	if i < 0 {
		t.Fatalf("first start printed no token: %q", first)
	}
	token := strings.Fields(first[i:])[0]
	if second := run(); strings.Contains(second, "pgadm_") {
		t.Errorf("second start printed a token again: %q", second)
	}
	db, err := os.ReadFile(filepath.Join(dir, "pg.db"))
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(filepath.Join(dir, "pg.db-wal"))
	if bytes.Contains(db, []byte(token)) || bytes.Contains(wal, []byte(token)) {
		t.Error("the database holds the admin token itself, not only its hash")
	}
}

func TestShutdownDrainsAndStops(t *testing.T) {
	h := start(t)
	if _, err := h.admin.CreatePartner(adminCtx(), &adminv1.CreatePartnerRequest{Id: "acme", Scopes: []string{"orders:read"}}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.stop() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Wait after shutdown = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop within 10s")
	}
}

func grpcCode(err error) codes.Code { return status.Code(err) }
