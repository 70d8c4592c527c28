package ratelimit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	ratelimitfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/partnergate/partnergate/envoy"
	"github.com/partnergate/partnergate/internal/app"
	"github.com/partnergate/partnergate/internal/config"
	"github.com/partnergate/partnergate/internal/extauthz"
	"github.com/partnergate/partnergate/internal/logtest"
	"github.com/partnergate/partnergate/internal/ratelimit"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// Test strategy: the real envoyproxy/ratelimit service, on loopback ports,
// against a real Redis, loaded with what Render makes of the shipped sample
// tiers. The descriptors are not written here: they are what the shipped
// envoy/partner-edge.yaml route's rate_limits actions make of the dynamic
// metadata a real Check returns (envoy.Descriptors evaluates them): a real
// partnergate (app.Start on a temp SQLite store, configured with the same
// tiers) holds the partners, issues their keys and answers Check over
// loopback gRPC. Per-partner limits set through the real admin API
// (SetPartnerLimits) travel the same way: Check metadata, then the route's
// limit override on the descriptor, then the service. Each run
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

type testPartner struct{ id, tier string }

// partnergate is a real partnergate (app.Start on a SQLite store in a temp
// directory) whose Check returns the dynamic metadata this test feeds the
// rate-limit service.
type partnergate struct {
	admin adminv1.AdminClient
	check authv3.AuthorizationClient
	keys  map[string]string // partner id -> API key secret
}

const adminToken = "integration-test-admin-token-0123456789abcdef"

func adminCtx(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+adminToken)
}

// startPartnergate starts partnergate with rl as its ratelimit section and
// creates each partner in its tier, with an API key allowed orders:read.
func startPartnergate(t *testing.T, rl ratelimit.Config, partners ...testPartner) *partnergate {
	t.Helper()
	cfg := config.Default()
	cfg.Listen, cfg.AdminListen, cfg.MetricsListen = "127.0.0.1:0", "127.0.0.1:0", ""
	cfg.Store = "sqlite://" + filepath.Join(t.TempDir(), "partnergate.db")
	cfg.AdminToken = adminToken
	cfg.RateLimit = rl
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := app.Start(ctx, &cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = srv.Wait() })
	select {
	case <-srv.Ready():
	case <-time.After(startTimeout):
		t.Fatal("partnergate not ready")
	}
	pg := &partnergate{
		admin: adminv1.NewAdminClient(dialLoopback(t, srv.AdminAddr.String())),
		check: authv3.NewAuthorizationClient(dialLoopback(t, srv.CheckAddr.String())),
		keys:  map[string]string{},
	}
	for _, p := range partners {
		actx := adminCtx(t.Context())
		if _, err := pg.admin.CreatePartner(actx, &adminv1.CreatePartnerRequest{Id: p.id, Tier: p.tier, Scopes: []string{"orders:read"}}); err != nil {
			t.Fatalf("CreatePartner %s: %v", p.id, err)
		}
		k, err := pg.admin.IssueKey(actx, &adminv1.IssueKeyRequest{PartnerId: p.id, AllGrantedScopes: true})
		if err != nil {
			t.Fatalf("IssueKey %s: %v", p.id, err)
		}
		pg.keys[p.id] = k.GetSecret()
	}
	return pg
}

// checkMetadata runs a real Check over gRPC with p's API key and returns
// the dynamic metadata of the allow: what Envoy hands its rate_limits
// actions under the ext_authz namespace.
func (pg *partnergate) checkMetadata(t *testing.T, p testPartner) *structpb.Struct {
	t.Helper()
	resp, err := pg.check.Check(t.Context(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: "rl-" + p.id, Method: "GET", Path: "/v1/orders",
			Headers: map[string]string{"x-api-key": pg.keys[p.id]},
		}},
		ContextExtensions: map[string]string{"required_scopes": "orders:read"},
	}})
	if err != nil {
		t.Fatalf("Check %s: %v", p.id, err)
	}
	if codes.Code(resp.GetStatus().GetCode()) != codes.OK {
		t.Fatalf("Check %s denied: %v", p.id, resp.GetDeniedResponse().GetBody())
	}
	md := resp.GetDynamicMetadata()
	if md.GetFields()["partner_id"].GetStringValue() != p.id || md.GetFields()["tier"].GetStringValue() != p.tier {
		t.Fatalf("Check %s: metadata %v, want partner_id %s and tier %s", p.id, md, p.id, p.tier)
	}
	return md
}

// setLimits sets a partner's own limits through the admin API.
func (pg *partnergate) setLimits(t *testing.T, id string, l *adminv1.Limits) {
	t.Helper()
	resp, err := pg.admin.SetPartnerLimits(adminCtx(t.Context()), &adminv1.SetPartnerLimitsRequest{Id: id, Limits: l, Reason: "integration test"})
	if err != nil {
		t.Fatalf("SetPartnerLimits %s: %v", id, err)
	}
	if !proto.Equal(resp.GetPartner().GetLimits(), l) {
		t.Fatalf("SetPartnerLimits %s stored %v, want %v", id, resp.GetPartner().GetLimits(), l)
	}
}

// wantOverrides checks the limit-override metadata of an allow: exactly
// the keys in want, each as "<requests_per_unit> <unit>".
func wantOverrides(t *testing.T, md *structpb.Struct, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, k := range []string{extauthz.MetadataLimitSecond, extauthz.MetadataLimitMinute, extauthz.MetadataLimitDay} {
		v, ok := md.GetFields()[k]
		if !ok {
			continue
		}
		f := v.GetStructValue().GetFields()
		got[k] = fmt.Sprintf("%v %s", f["requests_per_unit"].GetNumberValue(), f["unit"].GetStringValue())
	}
	if len(got) != len(want) {
		t.Fatalf("override metadata %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("override metadata %v, want %v", got, want)
		}
	}
}

func dialLoopback(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
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
	freeA := testPartner{"free-a", "free"}
	freeB := testPartner{"free-b", "free"}
	goldA := testPartner{"gold-a", "gold"}
	partners := []testPartner{freeA, freeB, goldA}
	for _, o := range cfg.Overrides {
		partners = append(partners, testPartner{o.PartnerID, "free"})
	}
	// Free partners whose own limits are set through the admin API, and
	// one left alone beside them.
	raised := testPartner{"free-raised", "free"}
	cut := testPartner{"free-cut", "free"}
	bystander := testPartner{"free-bystander", "free"}
	partners = append(partners, raised, cut, bystander)
	pg := startPartnergate(t, cfg, partners...)
	checkMetadata := pg.checkMetadata

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
		r := call(t, checkMetadata(t, testPartner{o.PartnerID, "free"}))
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

	// Admin overrides: SetPartnerLimits over the real admin API (which
	// returns once the serving cache has the change), then real Checks,
	// the shipped route's descriptors (now carrying the override as their
	// limit) and the real service.
	t.Run("admin-override-raises-a-free-partners-limit", func(t *testing.T) {
		perMinute := 2 * free.PerMinute
		pg.setLimits(t, raised.id, &adminv1.Limits{PerSecond: proto.Int64(1000), PerMinute: proto.Int64(int64(perMinute))})
		md := checkMetadata(t, raised)
		wantOverrides(t, md, map[string]string{extauthz.MetadataLimitSecond: "1000 SECOND", extauthz.MetadataLimitMinute: fmt.Sprintf("%d MINUTE", perMinute)})
		// One more request than the tier allows in a minute, in far less
		// than a minute (and far more than 5 in a second): every one OK.
		n := int(free.PerMinute) + 1
		for i := range n {
			r := call(t, checkMetadata(t, raised))
			if r.GetOverallCode() != rlsv3.RateLimitResponse_OK {
				t.Fatalf("request %d of %d refused under the raised limits: %v", i+1, n, r)
			}
			if i > 0 {
				continue
			}
			for j, want := range []uint32{1000, perMinute, free.PerDay} {
				if got := r.GetStatuses()[j].GetCurrentLimit().GetRequestsPerUnit(); got != want {
					t.Errorf("%s window: limit %d, want %d", ratelimit.Windows[j], got, want)
				}
			}
		}
	})

	t.Run("admin-override-cuts-a-free-partners-limit-then-clears", func(t *testing.T) {
		const perDay = 3
		pg.setLimits(t, cut.id, &adminv1.Limits{PerDay: proto.Int64(perDay)})
		wantOverrides(t, checkMetadata(t, cut), map[string]string{extauthz.MetadataLimitDay: "3 DAY"})
		day := len(ratelimit.Windows) - 1
		for i := range perDay {
			if r := call(t, checkMetadata(t, cut)); r.GetOverallCode() != rlsv3.RateLimitResponse_OK {
				t.Fatalf("request %d refused within the override of %d/day: %v", i+1, perDay, r)
			}
		}
		r := call(t, checkMetadata(t, cut))
		s := r.GetStatuses()[day]
		if r.GetOverallCode() != rlsv3.RateLimitResponse_OVER_LIMIT || s.GetCode() != rlsv3.RateLimitResponse_OVER_LIMIT ||
			s.GetCurrentLimit().GetRequestsPerUnit() != perDay || s.GetCurrentLimit().GetUnit() != rlsv3.RateLimitResponse_RateLimit_DAY {
			t.Fatalf("request %d: want the day window OVER_LIMIT at %d/day (the tier allows %d), got %v", perDay+1, perDay, free.PerDay, r)
		}

		// The bystander, same tier, untouched: tier limits, full quota.
		b := call(t, checkMetadata(t, bystander))
		for i, w := range ratelimit.Windows {
			if got := b.GetStatuses()[i].GetCurrentLimit().GetRequestsPerUnit(); got != free.Limit(w) {
				t.Errorf("bystander %s window: limit %d, want the tier's %d", w, got, free.Limit(w))
			}
			if got := b.GetStatuses()[i].GetLimitRemaining(); got != free.Limit(w)-1 {
				t.Errorf("bystander %s window: %d remaining, want %d", w, got, free.Limit(w)-1)
			}
		}

		// Cleared: no override metadata, the tier's limit again, and the
		// requests already counted today still count (the counter is the
		// same; only the limit changed).
		if _, err := pg.admin.SetPartnerLimits(adminCtx(t.Context()), &adminv1.SetPartnerLimitsRequest{Id: cut.id, Clear: true}); err != nil {
			t.Fatalf("clear: %v", err)
		}
		md := checkMetadata(t, cut)
		wantOverrides(t, md, nil)
		r = call(t, md)
		s = r.GetStatuses()[day]
		if r.GetOverallCode() != rlsv3.RateLimitResponse_OK || s.GetCurrentLimit().GetRequestsPerUnit() != free.PerDay {
			t.Fatalf("after clear: want OK at the tier's %d/day, got %v", free.PerDay, r)
		}
		if s.GetLimitRemaining() > free.PerDay-perDay-1 {
			t.Errorf("after clear: %d remaining today, want at most %d (earlier requests still count)", s.GetLimitRemaining(), free.PerDay-perDay-1)
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
	var out logtest.Buffer
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
