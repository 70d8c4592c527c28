package ratelimit_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	ratelimitfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/partnergate/partnergate/envoy"
	"github.com/partnergate/partnergate/internal/ratelimit"
)

// Test strategy: the real envoyproxy/ratelimit service, on loopback ports,
// against a real Redis, loaded with what Render makes of the shipped sample
// tiers. The descriptors are not written here: they are what the shipped
// envoy/partner-edge.yaml route's rate_limits actions make of the dynamic
// metadata a Check allow returns (envoy.Descriptors evaluates them). Each run
// uses its own domain, so counters left in Redis by earlier runs never
// collide with this one.
//
// Run it with PARTNERGATE_RATELIMIT_BIN set to the service binary
// (github.com/envoyproxy/ratelimit/src/service_cmd) and Redis at
// PARTNERGATE_REDIS_ADDR (default 127.0.0.1:6379).

const (
	edgeConfig   = "../../envoy/partner-edge.yaml"
	tiersConfig  = "../../envoy/ratelimit-tiers.yaml"
	extAuthzNS   = "envoy.filters.http.ext_authz"
	testedRoute  = "orders-read"
	startTimeout = 30 * time.Second
)

type testPartner struct{ id, tier, credentialID string }

// checkMetadata returns the dynamic metadata partnergate's Check puts in an
// allow for p. It is the one seam between this test and the Check handler:
// point it at a function that runs a real Check once that is wired here.
var checkMetadata = allowMetadata

// allowMetadata builds the allow metadata as the contract defines it:
// string fields partner_id, tier and credential_id.
func allowMetadata(_ *testing.T, p testPartner) *structpb.Struct {
	return &structpb.Struct{Fields: map[string]*structpb.Value{
		"partner_id":    structpb.NewStringValue(p.id),
		"tier":          structpb.NewStringValue(p.tier),
		"credential_id": structpb.NewStringValue(p.credentialID),
	}}
}

func TestRateLimitServiceEnforcesTiers(t *testing.T) {
	bin := os.Getenv("PARTNERGATE_RATELIMIT_BIN")
	if bin == "" {
		t.Skip("PARTNERGATE_RATELIMIT_BIN is unset: set it to an envoyproxy/ratelimit service_cmd binary to run this test")
	}
	redisAddr := os.Getenv("PARTNERGATE_REDIS_ADDR")
	if redisAddr == "" {
		redisAddr = "127.0.0.1:6379"
	}
	if c, err := net.DialTimeout("tcp", redisAddr, 2*time.Second); err != nil {
		t.Fatalf("Redis is not reachable at %s (set PARTNERGATE_REDIS_ADDR): %v", redisAddr, err)
	} else {
		c.Close()
	}

	// What the shipped Envoy config sends.
	filter, rateLimits := edgeRateLimits(t)
	b, err := os.ReadFile(tiersConfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ratelimit.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if filter.GetDomain() != cfg.Domain {
		t.Fatalf("Envoy's ratelimit domain %q != the tiers' domain %q", filter.GetDomain(), cfg.Domain)
	}
	domain := cfg.Domain + "-it-" + randomHex(t)
	rendered, err := ratelimit.Render(domain, cfg.Tiers, cfg.Overrides)
	if err != nil {
		t.Fatal(err)
	}

	client := startService(t, bin, redisAddr, rendered)
	ctx := t.Context()
	call := func(t *testing.T, md *structpb.Struct) *rlsv3.RateLimitResponse {
		t.Helper()
		var dm map[string]*structpb.Struct
		if md != nil {
			dm = map[string]*structpb.Struct{extAuthzNS: md}
		}
		ds, err := envoy.Descriptors(rateLimits, filter.GetStage(), dm)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != len(ratelimit.Windows) {
			t.Fatalf("route %s produced %d descriptors, want one per window (%d)", testedRoute, len(ds), len(ratelimit.Windows))
		}
		resp, err := client.ShouldRateLimit(ctx, &rlsv3.RateLimitRequest{Domain: domain, Descriptors: ds})
		if err != nil {
			t.Fatalf("ShouldRateLimit: %v", err)
		}
		if len(resp.GetStatuses()) != len(ds) {
			t.Fatalf("got %d statuses for %d descriptors", len(resp.GetStatuses()), len(ds))
		}
		return resp
	}

	free := tier(t, cfg, "free")
	gold := tier(t, cfg, "gold")
	freeA := testPartner{"free-a", "free", "key_free_a"}
	freeB := testPartner{"free-b", "free", "key_free_b"}
	goldA := testPartner{"gold-a", "gold", "key_gold_a"}

	t.Run("free-partner-goes-over-limit-gold-stays-ok", func(t *testing.T) {
		// Envoy's per-second window is a fixed clock second, so a run that
		// straddles a second boundary needs a few more requests: bound the
		// loop by count and time, not by the limit alone.
		deadline := time.Now().Add(10 * time.Second)
		ok := 0
		var over *rlsv3.RateLimitResponse
		for i := 0; over == nil && i < 4*int(free.PerSecond)+4 && time.Now().Before(deadline); i++ {
			r := call(t, checkMetadata(t, freeA))
			if r.GetOverallCode() == rlsv3.RateLimitResponse_OVER_LIMIT {
				over = r
				break
			}
			ok++
			if g := call(t, checkMetadata(t, goldA)); g.GetOverallCode() != rlsv3.RateLimitResponse_OK {
				t.Fatalf("gold partner limited after %d requests: %v", ok, g)
			}
		}
		if over == nil {
			t.Fatalf("free partner never went OVER_LIMIT in %d requests (limit %d/s)", ok, free.PerSecond)
		}
		if ok < int(free.PerSecond) {
			t.Fatalf("free partner limited after %d requests, before its limit of %d/s", ok, free.PerSecond)
		}
		s := over.GetStatuses()[0] // the window=second descriptor
		if s.GetCode() != rlsv3.RateLimitResponse_OVER_LIMIT ||
			s.GetCurrentLimit().GetRequestsPerUnit() != free.PerSecond ||
			s.GetCurrentLimit().GetUnit() != rlsv3.RateLimitResponse_RateLimit_SECOND {
			t.Fatalf("want the per-second window over its %d/s limit, got %v", free.PerSecond, s)
		}
		g := call(t, checkMetadata(t, goldA))
		if g.GetOverallCode() != rlsv3.RateLimitResponse_OK {
			t.Fatalf("gold partner: %v", g)
		}
		if got := g.GetStatuses()[0].GetCurrentLimit().GetRequestsPerUnit(); got != gold.PerSecond {
			t.Errorf("gold partner's per-second limit = %d, want %d", got, gold.PerSecond)
		}
	})

	t.Run("partners-do-not-share-quota", func(t *testing.T) {
		// free-a has spent part of its daily quota above; free-b, in the
		// same tier, must start with all of its own.
		b := call(t, checkMetadata(t, freeB))
		if b.GetOverallCode() != rlsv3.RateLimitResponse_OK {
			t.Fatalf("free-b limited by free-a's traffic: %v", b)
		}
		for i, w := range ratelimit.Windows {
			want := free.Limit(w) - 1
			if got := b.GetStatuses()[i].GetLimitRemaining(); got != want {
				t.Errorf("free-b %s window: %d remaining, want %d (untouched by free-a)", w, got, want)
			}
		}
		a := call(t, checkMetadata(t, freeA))
		day := len(ratelimit.Windows) - 1
		if a.GetStatuses()[day].GetLimitRemaining() >= b.GetStatuses()[day].GetLimitRemaining() {
			t.Errorf("free-a's daily remaining %d should be below free-b's %d",
				a.GetStatuses()[day].GetLimitRemaining(), b.GetStatuses()[day].GetLimitRemaining())
		}
	})

	t.Run("override-applies", func(t *testing.T) {
		if len(cfg.Overrides) == 0 {
			t.Skip("the sample has no override")
		}
		o := cfg.Overrides[0]
		r := call(t, checkMetadata(t, testPartner{o.PartnerID, "free", "key_override"}))
		for i, w := range ratelimit.Windows {
			want := o.Limit(w)
			if want == 0 {
				want = free.Limit(w)
			}
			if got := r.GetStatuses()[i].GetCurrentLimit().GetRequestsPerUnit(); got != want {
				t.Errorf("%s %s window: limit %d, want %d", o.PartnerID, w, got, want)
			}
		}
	})

	t.Run("missing-metadata-is-still-limited", func(t *testing.T) {
		// No metadata at all: the actions' default_value must keep every
		// descriptor, and the catch-all must apply the strictest limits.
		strict := ratelimit.Strictest(cfg.Tiers)
		r := call(t, nil)
		for i, w := range ratelimit.Windows {
			if got := r.GetStatuses()[i].GetCurrentLimit().GetRequestsPerUnit(); got != strict.Limit(w) {
				t.Errorf("%s window: limit %d, want the strictest %d", w, got, strict.Limit(w))
			}
		}
	})
}

// edgeRateLimits returns the shipped edge's ratelimit filter and the
// rate_limits of the tested route.
func edgeRateLimits(t *testing.T) (*ratelimitfilterv3.RateLimit, []*routev3.RateLimit) {
	t.Helper()
	bs, err := envoy.Load(edgeConfig)
	if err != nil {
		t.Fatal(err)
	}
	var hcm hcmv3.HttpConnectionManager
	if err := bs.GetStaticResources().GetListeners()[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		t.Fatal(err)
	}
	var filter *ratelimitfilterv3.RateLimit
	for _, f := range hcm.GetHttpFilters() {
		if f.GetName() == "envoy.filters.http.ratelimit" {
			filter = &ratelimitfilterv3.RateLimit{}
			if err := f.GetTypedConfig().UnmarshalTo(filter); err != nil {
				t.Fatal(err)
			}
		}
	}
	if filter == nil {
		t.Fatal("no ratelimit filter in " + edgeConfig)
	}
	for _, vh := range hcm.GetRouteConfig().GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			if r.GetName() == testedRoute {
				return filter, r.GetRoute().GetRateLimits()
			}
		}
	}
	t.Fatalf("no route %q in %s", testedRoute, edgeConfig)
	return nil, nil
}

func tier(t *testing.T, c ratelimit.Config, name string) ratelimit.Tier {
	t.Helper()
	for _, tr := range c.Tiers {
		if tr.Name == name {
			return tr
		}
	}
	t.Fatalf("the sample tiers have no %q tier", name)
	return ratelimit.Tier{}
}

// startService runs envoyproxy/ratelimit with config and returns a client
// once its gRPC health service reports SERVING.
func startService(t *testing.T, bin, redisAddr string, config []byte) rlsv3.RateLimitServiceClient {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "ratelimit", "config")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "partnergate.yaml"), config, 0o644); err != nil {
		t.Fatal(err)
	}
	grpcPort, httpPort, debugPort := freePort(t), freePort(t), freePort(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"RUNTIME_ROOT="+root,
		"RUNTIME_SUBDIRECTORY=ratelimit",
		"RUNTIME_WATCH_ROOT=false",
		"USE_STATSD=false",
		"LOG_LEVEL=warn",
		"LOG_FORMAT=json",
		"REDIS_SOCKET_TYPE=tcp",
		"REDIS_TYPE=SINGLE",
		"REDIS_URL="+redisAddr,
		// As in k8s/ratelimit.yaml: a request refused in one window does
		// not spend the others.
		"STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT=true",
		"HOST=127.0.0.1",
		"GRPC_HOST=127.0.0.1",
		"DEBUG_HOST=127.0.0.1",
		"PORT="+strconv.Itoa(httpPort),
		"GRPC_PORT="+strconv.Itoa(grpcPort),
		"DEBUG_PORT="+strconv.Itoa(debugPort),
	)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("ratelimit service output:\n%s", out.String())
		}
	})

	conn, err := grpc.NewClient(net.JoinHostPort("127.0.0.1", strconv.Itoa(grpcPort)),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })

	health := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		hctx, hcancel := context.WithTimeout(ctx, time.Second)
		r, err := health.Check(hctx, &healthpb.HealthCheckRequest{})
		hcancel()
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return rlsv3.NewRateLimitServiceClient(conn)
		}
		select {
		case e := <-exited:
			t.Fatalf("ratelimit service exited before serving: %v\n%s", e, out.String())
		case <-ctx.Done():
			t.Fatalf("ratelimit service not serving within %s (last: %v, %v)\n%s", startTimeout, r.GetStatus(), err, out.String())
		case <-tick.C:
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// syncBuffer is a bytes.Buffer safe for the writes of a child's stdout and
// stderr and the test's reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
