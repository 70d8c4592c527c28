// Test strategy: several replicas are several app.Start calls in one
// process on one real PostgreSQL database (a throwaway one per test, from
// PARTNERGATE_TEST_POSTGRES; the tests skip without it), each with its own
// loopback ports and a shared pepper file, driven over real gRPC only:
// writes through one replica's admin API, Checks on another's. Outages are
// real too: pg_terminate_backend on every backend of the test database,
// and a TCP proxy between a replica and PostgreSQL that cuts every
// connection and refuses new ones. What is asserted is what operators are
// promised: a revocation or suspension made on one replica is refused on
// the others within a second (measured over 100 revocations, p50 and max
// logged); Checks for cached partners never fail while the database
// misbehaves; every change made before, during and after an outage arrives;
// admin writes during an outage fail with UNAVAILABLE and change nothing;
// a replica cut off past max_staleness fails closed; a replica started
// while its database is down stays not-ready until it comes up; and two
// admins racing on one key leave a state some serial order of their
// requests produces; and a change slipped into the database behind the
// feed's back is repaired by the reconcile. Reason codes are asserted from
// the decision audit log.
package app

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/partnergate/partnergate/internal/config"
	"github.com/partnergate/partnergate/internal/store/sqlstore/pgtest"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// replicaDeadline bounds every wait in these tests. It is far above the
// one-second promise, so a loaded machine does not flake; the promise
// itself is measured and reported.
const replicaDeadline = 10 * time.Second

// pepperFile writes a pepper every replica of a test shares.
func pepperFile(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	path := filepath.Join(t.TempDir(), "pepper")
	if err := os.WriteFile(path, []byte(hex.EncodeToString(b)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startReplica starts a replica on the PostgreSQL database at dbURL and,
// when wait is set, waits until it is ready.
func startReplica(t *testing.T, dbURL, pepper string, wait bool, configure func(*config.Config)) *harness {
	t.Helper()
	cfg := testConfig(t.TempDir())
	cfg.MetricsListen = ""
	cfg.Store = dbURL
	cfg.PepperFile = pepper
	if configure != nil {
		configure(&cfg)
	}
	var deadline time.Duration
	if wait {
		deadline = replicaDeadline
	}
	return launch(t, cfg, deadline)
}

// keyCheckRequest is a Check for GET /v1/orders requiring orders:read with
// key as x-api-key.
func keyCheckRequest(key, requestID string) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "198.51.100.9"},
		}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: requestID, Method: "GET", Path: "/v1/orders",
			Headers: map[string]string{"x-api-key": key},
		}},
		ContextExtensions: map[string]string{"required_scopes": "orders:read"},
	}}
}

// checkCode returns the decision code of a Check with key, or the gRPC
// code of a fault, which is never OK.
func (h *harness) checkCode(ctx context.Context, key string) (code codes.Code, fault bool) {
	resp, err := h.check.Check(ctx, keyCheckRequest(key, "req-replicas"))
	if err != nil {
		return grpcCode(err), true
	}
	return codes.Code(resp.GetStatus().GetCode()), false
}

// waitCheck polls Checks with key on h until they answer want (a decision,
// not a fault) and returns how long that took.
func (h *harness) waitCheck(t *testing.T, what, key string, want codes.Code) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(replicaDeadline)
	for {
		code, fault := h.checkCode(context.Background(), key)
		if !fault && code == want {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: Check = %v (fault %v) after %s, want %v", what, code, fault, replicaDeadline, want)
		}
	}
}

// waitHealth polls h's health service until it reports want.
func (h *harness) waitHealth(t *testing.T, service string, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	deadline := time.Now().Add(replicaDeadline)
	for {
		resp, err := h.health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
		if err == nil && resp.GetStatus() == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health %q = %v (%v), want %v", service, resp.GetStatus(), err, want)
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not a wait for a condition
	}
}

// healthOf returns h's status for service now.
func (h *harness) healthOf(t *testing.T, service string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	resp, err := h.health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatalf("health %q: %v", service, err)
	}
	return resp.GetStatus()
}

// waitLog polls h's logs until a line contains every one of parts.
func (h *harness) waitLog(t *testing.T, what string, parts ...string) {
	t.Helper()
	h.waitLogs(t, what, 1, parts...)
}

// waitLogs polls h's logs until n lines contain every one of parts.
func (h *harness) waitLogs(t *testing.T, what string, n int, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(replicaDeadline)
	for {
		found := 0
		for line := range strings.SplitSeq(h.logs.String(), "\n") {
			if allIn(line, parts) {
				found++
			}
		}
		if found >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no log line with %q", what, parts)
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not a wait for a condition
	}
}

func allIn(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// issueKeys creates partner id with orders:read and issues n keys on it
// through h, returning their secrets and ids.
func issueKeys(t *testing.T, h *harness, id string, n int) (secrets, ids []string) {
	t.Helper()
	ctx := adminCtx()
	if _, err := h.admin.CreatePartner(ctx, &adminv1.CreatePartnerRequest{Id: id, Tier: "standard", Scopes: []string{"orders:read"}}); err != nil {
		t.Fatal(err)
	}
	for range n {
		k, err := h.admin.IssueKey(ctx, &adminv1.IssueKeyRequest{PartnerId: id, Scopes: []string{"orders:read"}})
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, k.GetSecret())
		ids = append(ids, k.GetKey().GetId())
	}
	return secrets, ids
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

// TestRevocationReachesEveryReplica revokes 100 keys and suspends a partner
// through replica A, and measures how long replica B takes to refuse each.
func TestRevocationReachesEveryReplica(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pepper := pepperFile(t)
	a := startReplica(t, db, pepper, true, nil)
	b := startReplica(t, db, pepper, true, func(c *config.Config) { c.MetricsListen = "127.0.0.1:0" })
	ctx := adminCtx()

	const n = 100
	secrets, ids := issueKeys(t, a, "acme", n)
	suspSecrets, _ := issueKeys(t, a, "beta", 1)
	for i, s := range append(slices.Clone(secrets), suspSecrets...) {
		b.waitCheck(t, fmt.Sprintf("key %d reaches B", i), s, codes.OK)
	}

	took := make([]time.Duration, n)
	for i := range n {
		start := time.Now() // the operator's command, commit included
		if _, err := a.admin.RevokeKey(ctx, &adminv1.RevokeKeyRequest{KeyId: ids[i], Reason: "leaked"}); err != nil {
			t.Fatal(err)
		}
		b.waitCheck(t, fmt.Sprintf("revocation %d on B", i), secrets[i], codes.Unauthenticated)
		took[i] = time.Since(start)
	}
	start := time.Now()
	if _, err := a.admin.SuspendPartner(ctx, &adminv1.SuspendPartnerRequest{Id: "beta", Reason: "incident"}); err != nil {
		t.Fatal(err)
	}
	b.waitCheck(t, "suspension on B", suspSecrets[0], codes.PermissionDenied)
	suspension := time.Since(start)

	sorted := slices.Clone(took)
	slices.Sort(sorted)
	over := 0
	for _, d := range sorted {
		if d > time.Second {
			over++
		}
	}
	t.Logf("revocation on A refused on B, over %d revocations: p50 %s, p90 %s, p99 %s, max %s; over 1s: %d; suspension %s",
		n, percentile(sorted, 0.50), percentile(sorted, 0.90), percentile(sorted, 0.99), sorted[n-1], over, suspension)
	if p50 := percentile(sorted, 0.50); p50 > time.Second {
		t.Errorf("p50 propagation %s, want within 1s", p50)
	}

	// B measured the same propagation itself, from PostgreSQL's clock at
	// each commit to its own when it applied the change: every change of
	// this test (partners, keys, revocations, the suspension), each within
	// the time the test allowed it.
	page := scrape(t, b)
	count := sample(t, page, `partnergate_feed_propagation_seconds_count`)
	sum := sample(t, page, `partnergate_feed_propagation_seconds_sum`)
	maxProp := sample(t, page, `partnergate_feed_propagation_max_seconds`)
	t.Logf("B's own measure: %v changes, mean %.1fms, max %.1fms", count, 1000*sum/count, 1000*maxProp)
	if want := float64(2*n + 4); count < want || maxProp <= 0 || maxProp > replicaDeadline.Seconds() || sum > count*maxProp {
		t.Errorf("B's feed propagation: %v changes, sum %vs, max %vs; want at least %v, each within %s", count, sum, maxProp, want, replicaDeadline)
	}

	// B refused for the right reasons.
	b.waitLog(t, "B audits a revoked key", `"reason":"revoked_credential"`, `"credential_id":"`+ids[n-1]+`"`)
	b.waitLog(t, "B audits the suspension", `"reason":"partner_suspended"`, `"partner_id":"beta"`)
}

// TestDatabaseOutageMidTraffic runs Checks on replica B in a loop while
// every database connection is terminated and then while B is cut off from
// PostgreSQL altogether.
func TestDatabaseOutageMidTraffic(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pepper := pepperFile(t)
	proxy := pgtest.NewProxy(t, db, false)
	a := startReplica(t, db, pepper, true, nil)
	b := startReplica(t, proxy.URL(db)+"&connect_timeout=2", pepper, true, nil)
	ctx := adminCtx()

	secrets, ids := issueKeys(t, a, "acme", 6)
	for i, s := range secrets {
		b.waitCheck(t, fmt.Sprintf("key %d reaches B", i), s, codes.OK)
	}
	// A change before the outage arrives.
	if _, err := a.admin.RevokeKey(ctx, &adminv1.RevokeKeyRequest{KeyId: ids[5], Reason: "before"}); err != nil {
		t.Fatal(err)
	}
	b.waitCheck(t, "revocation before the outage", secrets[5], codes.Unauthenticated)

	// Checks for keys 0-2 must be allowed throughout; count every other
	// answer.
	trafficCtx, stopTraffic := context.WithCancel(context.Background())
	var checks, failed atomic.Int64
	var firstFailure atomic.Value
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for trafficCtx.Err() == nil {
				code, fault := b.checkCode(context.Background(), secrets[w])
				checks.Add(1)
				if fault || code != codes.OK {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, fmt.Sprintf("key %d: code %v fault %v", w, code, fault))
				}
			}
		})
	}
	t.Cleanup(func() { stopTraffic(); wg.Wait() })
	waitChecks := func(more int64) {
		t.Helper()
		target := checks.Load() + more
		deadline := time.Now().Add(replicaDeadline)
		for checks.Load() < target {
			if time.Now().After(deadline) {
				t.Fatalf("traffic stalled at %d Checks", checks.Load())
			}
			time.Sleep(time.Millisecond) // poll interval
		}
	}
	waitChecks(100)

	// 1. Every backend of the test database terminated, twice, as a
	// restart or failover does; a change after each still arrives.
	for round := range 2 {
		if n := pgtest.TerminateBackends(t, db); n == 0 {
			t.Fatalf("round %d: no backend terminated; the test proves nothing", round)
		}
		waitChecks(100)
		k, err := a.admin.IssueKey(ctx, &adminv1.IssueKeyRequest{PartnerId: "acme", Scopes: []string{"orders:read"}})
		if err != nil {
			t.Fatalf("round %d: IssueKey after terminating backends: %v", round, err)
		}
		b.waitCheck(t, fmt.Sprintf("round %d: key issued after termination reaches B", round), k.GetSecret(), codes.OK)
	}

	// 2. B cut off from PostgreSQL: it keeps serving from its cache and
	// says the store is degraded.
	proxy.Down()
	b.waitHealth(t, StoreService, healthpb.HealthCheckResponse_NOT_SERVING)
	if got := b.healthOf(t, ""); got != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health \"\" during a short outage = %v, want SERVING", got)
	}
	b.waitLog(t, "B logs the degraded store", "store degraded")
	waitChecks(100)

	// An admin write on B fails with UNAVAILABLE and changes nothing.
	_, err := b.admin.RevokeKey(ctx, &adminv1.RevokeKeyRequest{KeyId: ids[0], Reason: "during outage"})
	if got := grpcCode(err); got != codes.Unavailable {
		t.Fatalf("RevokeKey on a cut-off replica: %v, want Unavailable", err)
	}
	_, err = b.admin.SuspendPartner(ctx, &adminv1.SuspendPartnerRequest{Id: "acme", Reason: "during outage"})
	if got := grpcCode(err); got != codes.Unavailable {
		t.Fatalf("SuspendPartner on a cut-off replica: %v, want Unavailable", err)
	}
	keys, err := a.admin.ListKeys(ctx, &adminv1.ListKeysRequest{PartnerId: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys.GetKeys() {
		if k.GetId() == ids[0] && k.GetState() != "active" {
			t.Errorf("key refused a revocation is %s, want active", k.GetState())
		}
	}
	if p, err := a.admin.GetPartner(ctx, &adminv1.GetPartnerRequest{Id: "acme"}); err != nil || p.GetPartner().GetState() != "active" {
		t.Errorf("partner after a refused suspension: %v, %v; want active", p.GetPartner().GetState(), err)
	}

	// A change made elsewhere during the outage.
	if _, err := a.admin.RevokeKey(ctx, &adminv1.RevokeKeyRequest{KeyId: ids[4], Reason: "during"}); err != nil {
		t.Fatal(err)
	}
	waitChecks(100)

	// 3. Back up: B catches up and reports the store healthy.
	proxy.Up()
	b.waitCheck(t, "revocation made during the outage", secrets[4], codes.Unauthenticated)
	b.waitHealth(t, StoreService, healthpb.HealthCheckResponse_SERVING)
	b.waitLog(t, "B logs the recovery", "change feed recovered")
	if _, err := a.admin.RevokeKey(ctx, &adminv1.RevokeKeyRequest{KeyId: ids[3], Reason: "after"}); err != nil {
		t.Fatal(err)
	}
	b.waitCheck(t, "revocation after recovery", secrets[3], codes.Unauthenticated)
	waitChecks(100)
	stopTraffic()
	wg.Wait()
	t.Logf("%d Checks on B through the outages, %d failed", checks.Load(), failed.Load())
	if f := failed.Load(); f > 0 {
		v, _ := firstFailure.Load().(string)
		t.Errorf("%d failed Checks for cached partners; first: %s", f, v)
	}

	// B's own admin API writes again.
	if _, err := b.admin.RevokeKey(ctx, &adminv1.RevokeKeyRequest{KeyId: ids[2], Reason: "after"}); err != nil {
		t.Fatalf("RevokeKey on B after recovery: %v", err)
	}
	a.waitCheck(t, "B's revocation on A", secrets[2], codes.Unauthenticated)
}

// TestReplicaStartedWhileStoreDownStaysNotReady starts a replica whose
// database refuses every connection: it binds its ports, stays alive and
// not-ready, refuses Checks with UNAVAILABLE, and becomes ready and serves
// once the database answers.
func TestReplicaStartedWhileStoreDownStaysNotReady(t *testing.T) {
	db := pgtest.NewDatabase(t)
	proxy := pgtest.NewProxy(t, db, true)
	h := startReplica(t, proxy.URL(db)+"&connect_timeout=2", pepperFile(t), false, nil)

	// Retried at least twice, and still not ready.
	h.waitLogs(t, "retrying the store", 2, "store still unreachable", `"retry_in"`)
	for _, tc := range []struct {
		service string
		want    healthpb.HealthCheckResponse_ServingStatus
	}{
		{LivenessService, healthpb.HealthCheckResponse_SERVING},
		{"", healthpb.HealthCheckResponse_NOT_SERVING},
		{authv3.Authorization_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_NOT_SERVING},
		{StoreService, healthpb.HealthCheckResponse_NOT_SERVING},
	} {
		if got := h.healthOf(t, tc.service); got != tc.want {
			t.Errorf("while down: health %q = %v, want %v", tc.service, got, tc.want)
		}
	}
	if code, fault := h.checkCode(context.Background(), "pg_live_whatever"); !fault || code != codes.Unavailable {
		t.Errorf("Check while not ready = %v (fault %v), want an Unavailable fault", code, fault)
	}
	select {
	case <-h.srv.Ready():
		t.Fatal("ready while the store is down")
	default:
	}
	_, err := h.admin.CreatePartner(adminCtx(), &adminv1.CreatePartnerRequest{Id: "acme", Scopes: []string{"orders:read"}})
	if got := grpcCode(err); got != codes.Unavailable {
		t.Errorf("CreatePartner while down: %v, want Unavailable", err)
	}

	proxy.Up()
	select {
	case <-h.srv.Ready():
	case <-time.After(replicaDeadline):
		t.Fatal("not ready after the store came up")
	}
	h.waitHealth(t, "", healthpb.HealthCheckResponse_SERVING)
	h.waitHealth(t, StoreService, healthpb.HealthCheckResponse_SERVING)
	secrets, _ := issueKeys(t, h, "acme", 1)
	h.waitCheck(t, "key issued after the store came up", secrets[0], codes.OK)
}

// TestStaleReplicaFailsClosed cuts a replica off from its database for
// longer than max_staleness: it refuses Checks with UNAVAILABLE (Envoy
// fails closed) and reports NOT_SERVING, then serves again on its own once
// the database is back.
func TestStaleReplicaFailsClosed(t *testing.T) {
	db := pgtest.NewDatabase(t)
	proxy := pgtest.NewProxy(t, db, false)
	h := startReplica(t, proxy.URL(db)+"&connect_timeout=2", pepperFile(t), true, func(c *config.Config) {
		c.MaxStaleness = 2 * time.Second
	})
	secrets, _ := issueKeys(t, h, "acme", 1)
	h.waitCheck(t, "fresh key", secrets[0], codes.OK)

	// The bound runs from the last good feed read, which is at or after
	// this.
	synced := h.srv.Cache.LastSync()
	proxy.Down()
	h.waitHealth(t, StoreService, healthpb.HealthCheckResponse_NOT_SERVING)
	// Within the bound the cache still answers.
	if since := time.Since(synced); since < 1500*time.Millisecond {
		if code, fault := h.checkCode(context.Background(), secrets[0]); fault || code != codes.OK {
			t.Errorf("Check %s after the last feed read = %v (fault %v), want OK from cache", since, code, fault)
		}
	}
	h.waitHealth(t, "", healthpb.HealthCheckResponse_NOT_SERVING)
	if since := time.Since(synced); since < 2*time.Second {
		t.Errorf("NOT_SERVING %s after the last feed read, before max_staleness", since)
	}
	if code, fault := h.checkCode(context.Background(), secrets[0]); !fault || code != codes.Unavailable {
		t.Errorf("Check past max_staleness = %v (fault %v), want an Unavailable fault", code, fault)
	}
	if got := h.healthOf(t, authv3.Authorization_ServiceDesc.ServiceName); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("Authorization health past max_staleness = %v", got)
	}
	if got := h.healthOf(t, LivenessService); got != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("liveness past max_staleness = %v; a restart would not help", got)
	}
	h.waitLog(t, "stale cache logged", "cache stale")

	proxy.Up()
	h.waitCheck(t, "after the store is back", secrets[0], codes.OK)
	h.waitHealth(t, "", healthpb.HealthCheckResponse_SERVING)
	h.waitHealth(t, StoreService, healthpb.HealthCheckResponse_SERVING)
}

// TestConcurrentAdminsOnOneKey races two admins, on two replicas, on the
// same key, many times over: revoke against revoke, rotate against revoke,
// rotate against rotate. Every outcome must be one that running the two
// requests one after the other, in some order, could produce.
func TestConcurrentAdminsOnOneKey(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pepper := pepperFile(t)
	a := startReplica(t, db, pepper, true, nil)
	b := startReplica(t, db, pepper, true, nil)
	ctx := adminCtx()
	if _, err := a.admin.CreatePartner(ctx, &adminv1.CreatePartnerRequest{Id: "acme", Tier: "standard", Scopes: []string{"orders:read"}}); err != nil {
		t.Fatal(err)
	}
	revoke := func(h *harness, id string) error {
		_, err := h.admin.RevokeKey(ctx, &adminv1.RevokeKeyRequest{KeyId: id, Reason: "race"})
		return err
	}
	rotate := func(h *harness, id string) error {
		_, err := h.admin.RotateKey(ctx, &adminv1.RotateKeyRequest{KeyId: id, Overlap: durationpb.New(time.Hour)})
		return err
	}
	type op func(*harness, string) error
	tests := []struct {
		name   string
		first  op
		second op
		// check asserts the outcome given each request's error, the key
		// and the keys rotated from it.
		check func(t *testing.T, err1, err2 error, key *adminv1.Key, successors int)
	}{
		{"revoke-revoke", revoke, revoke, func(t *testing.T, err1, err2 error, key *adminv1.Key, successors int) {
			// One revokes; the other finds it revoked.
			got := []codes.Code{grpcCode(err1), grpcCode(err2)}
			slices.Sort(got) // OK sorts before FailedPrecondition
			if got[0] != codes.OK || got[1] != codes.FailedPrecondition {
				t.Errorf("codes %v, want one OK and one FailedPrecondition", got)
			}
			if key.GetState() != "revoked" || successors != 0 {
				t.Errorf("key %s with %d successors, want revoked with none", key.GetState(), successors)
			}
		}},
		{"rotate-revoke", rotate, revoke, func(t *testing.T, rotErr, revErr error, key *adminv1.Key, successors int) {
			// The revocation always lands (before or after a rotation);
			// the rotation either came first or found the key revoked.
			if revErr != nil {
				t.Errorf("revoke: %v", revErr)
			}
			if key.GetState() != "revoked" {
				t.Errorf("key %s after a successful revoke; the revocation was lost", key.GetState())
			}
			switch grpcCode(rotErr) {
			case codes.OK:
				if successors != 1 {
					t.Errorf("rotate succeeded with %d successors, want 1", successors)
				}
			case codes.FailedPrecondition:
				if successors != 0 {
					t.Errorf("rotate refused yet %d successors exist", successors)
				}
			default:
				t.Errorf("rotate: %v", rotErr)
			}
		}},
		{"rotate-rotate", rotate, rotate, func(t *testing.T, err1, err2 error, key *adminv1.Key, successors int) {
			// One succeeds; the other, whether it lost the race or came
			// second, finds a live successor and is refused: one
			// successor, never two, and the old key still live for the
			// overlap, never revoked.
			got := []codes.Code{grpcCode(err1), grpcCode(err2)}
			slices.Sort(got)
			if !slices.Equal(got, []codes.Code{codes.OK, codes.FailedPrecondition}) {
				t.Errorf("codes %v, want one OK and one FailedPrecondition (%v, %v)", got, err1, err2)
			}
			if successors != 1 || key.GetState() != "active" {
				t.Errorf("key %s with %d successors, want active with 1", key.GetState(), successors)
			}
		}},
	}
	const rounds = 15
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for round := range rounds {
				k, err := a.admin.IssueKey(ctx, &adminv1.IssueKeyRequest{PartnerId: "acme", Scopes: []string{"orders:read"}})
				if err != nil {
					t.Fatal(err)
				}
				id := k.GetKey().GetId()
				b.waitCheck(t, "key reaches B", k.GetSecret(), codes.OK)
				var err1, err2 error
				var wg sync.WaitGroup
				gate := make(chan struct{})
				wg.Go(func() { <-gate; err1 = tt.first(a, id) })
				wg.Go(func() { <-gate; err2 = tt.second(b, id) })
				close(gate)
				wg.Wait()
				keys, err := a.admin.ListKeys(ctx, &adminv1.ListKeysRequest{PartnerId: "acme"})
				if err != nil {
					t.Fatal(err)
				}
				var key *adminv1.Key
				successors := 0
				for _, kk := range keys.GetKeys() {
					if kk.GetId() == id {
						key = kk
					}
					if kk.GetRotatedFrom() == id {
						successors++
					}
				}
				if key == nil {
					t.Fatalf("round %d: key %s gone", round, id)
				}
				tt.check(t, err1, err2, key, successors)
				if t.Failed() {
					t.Fatalf("round %d failed", round)
				}
				// Both replicas agree with the store.
				want := codes.OK
				if key.GetState() == "revoked" {
					want = codes.Unauthenticated
				}
				a.waitCheck(t, "A agrees", k.GetSecret(), want)
				b.waitCheck(t, "B agrees", k.GetSecret(), want)
			}
		})
	}
}

// TestReconcileRepairsWhatTheFeedNeverSaw revokes a key in the database
// directly, with no change-feed row, as a lost feed entry would leave it:
// the feed never delivers it, and the periodic reconcile does.
func TestReconcileRepairsWhatTheFeedNeverSaw(t *testing.T) {
	db := pgtest.NewDatabase(t)
	h := startReplica(t, db, pepperFile(t), true, nil)
	secrets, ids := issueKeys(t, h, "acme", 2)
	h.waitCheck(t, "fresh key", secrets[0], codes.OK)

	sqlDB, err := sql.Open("pgx", db)
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	res, err := sqlDB.ExecContext(context.Background(),
		`UPDATE credentials SET revoked_at = now(), version = version + 1 WHERE id = $1`, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("updated %d rows, want 1", n)
	}
	// A write through the API moves the feed on; the sneaked change is
	// still not in it.
	if _, err := h.admin.RevokeKey(adminCtx(), &adminv1.RevokeKeyRequest{KeyId: ids[1], Reason: "feed moves on"}); err != nil {
		t.Fatal(err)
	}
	h.waitCheck(t, "key revoked through the API", secrets[1], codes.Unauthenticated)
	if code, fault := h.checkCode(context.Background(), secrets[0]); fault || code != codes.OK {
		t.Fatalf("key revoked behind the feed = %v before reconcile, want OK; the test proves nothing", code)
	}

	if err := h.srv.Cache.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.waitCheck(t, "key revoked behind the feed, after reconcile", secrets[0], codes.Unauthenticated)
	if runs, repaired := h.srv.Cache.Reconciles(); runs != 1 || repaired != 1 {
		t.Errorf("Reconciles = %d runs, %d repaired; want 1, 1", runs, repaired)
	}
	h.waitLog(t, "repair logged", "cache reconcile repaired entries the feed missed", `"repaired":1`)
}

// TestOperatorChangesReachEveryReplica revokes and narrows operators
// through one replica's admin API and expects the other replica to refuse
// them on their very next call: authentication reads the shared store, and
// the change goes through its feed.
func TestOperatorChangesReachEveryReplica(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pepper := pepperFile(t)
	a := startReplica(t, db, pepper, true, nil)
	b := startReplica(t, db, pepper, true, nil)
	ctx := adminCtx()
	if _, err := a.admin.CreatePartner(ctx, &adminv1.CreatePartnerRequest{Id: "acme", Scopes: []string{"orders:read"}}); err != nil {
		t.Fatal(err)
	}
	issuer, err := a.admin.CreateOperator(ctx, &adminv1.CreateOperatorRequest{Name: "deployer", Role: "issuer"})
	if err != nil {
		t.Fatal(err)
	}
	leaver, err := a.admin.CreateOperator(ctx, &adminv1.CreateOperatorRequest{Name: "leaver", Role: "viewer"})
	if err != nil {
		t.Fatal(err)
	}
	tok := bearer(issuer.GetSecret())
	if _, err := b.admin.IssueKey(tok, &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true}); err != nil {
		t.Fatalf("issuer on replica b: %v", err)
	}
	if _, err := b.admin.WhoAmI(bearer(leaver.GetSecret()), &adminv1.WhoAmIRequest{}); err != nil {
		t.Fatalf("viewer on replica b: %v", err)
	}

	if _, err := a.admin.UpdateOperator(ctx, &adminv1.UpdateOperatorRequest{Name: "deployer", Role: "viewer"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.admin.IssueKey(tok, &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true}); grpcCode(err) != codes.PermissionDenied {
		t.Fatalf("narrowed operator on replica b = %v, want PermissionDenied", err)
	}
	if _, err := a.admin.RevokeOperator(ctx, &adminv1.RevokeOperatorRequest{Name: "leaver"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.admin.WhoAmI(bearer(leaver.GetSecret()), &adminv1.WhoAmIRequest{}); grpcCode(err) != codes.Unauthenticated {
		t.Fatalf("revoked operator on replica b = %v, want Unauthenticated", err)
	}
	// Expiry, on the real clock: polled, not slept for.
	brief, err := a.admin.CreateOperator(ctx, &adminv1.CreateOperatorRequest{Name: "brief", Role: "viewer", ExpiresIn: durationpb.New(2 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.admin.WhoAmI(bearer(brief.GetSecret()), &adminv1.WhoAmIRequest{}); err != nil {
		t.Fatalf("operator before its expiry on replica b: %v", err)
	}
	deadline := time.Now().Add(replicaDeadline)
	for {
		_, err := b.admin.WhoAmI(bearer(brief.GetSecret()), &adminv1.WhoAmIRequest{})
		if grpcCode(err) == codes.Unauthenticated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("expired operator on replica b = %v after %s, want Unauthenticated", err, replicaDeadline)
		}
	}
	// The change feed carries every operator write.
	for b.srv.Cache.Version() < 7 { // partner, 3 operators, key, update, revoke
		if time.Now().After(deadline) {
			t.Fatalf("replica b's feed is at %d, want the operator writes", b.srv.Cache.Version())
		}
	}
}
