package loadgen

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/partnergate/partnergate/authz"
	"github.com/partnergate/partnergate/envoy"
	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/cache"
	"github.com/partnergate/partnergate/internal/extauthz"
	"github.com/partnergate/partnergate/internal/lastuse"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
	"github.com/partnergate/partnergate/internal/telemetry"
)

// genSource is a cache source that generates n credentials of one partner
// while the snapshot streams, keeping only the first hot keys: a million
// credentials never sit in memory twice.
type genSource struct {
	format apikey.Format
	hasher *apikey.Hasher
	n, hot int
	keys   []apikey.Key
}

func (g *genSource) Snapshot(_ context.Context, v store.Visitor) (int64, error) {
	p := &partner.Partner{ID: SeedPartner, Tier: partner.DefaultTier, Scopes: partner.Scopes{Scope}, State: partner.Active}
	if err := v.Partner(p); err != nil {
		return 0, err
	}
	for i := range g.n {
		k, err := g.format.Generate(rand.Reader)
		if err != nil {
			return 0, err
		}
		digest, pv := g.hasher.Digest(k)
		c := &partner.Credential{ID: k.ID(), PartnerID: SeedPartner, Scopes: partner.Scopes{Scope},
			Digest: digest, PepperVersion: pv, CreatedAt: time.Now(), Version: 1}
		if err := v.Credential(c); err != nil {
			return 0, err
		}
		if i < g.hot {
			g.keys = append(g.keys, k)
		}
	}
	return 1, nil
}

func (g *genSource) Changes(context.Context, int64, int) ([]store.Change, error) { return nil, nil }
func (g *genSource) Notify(context.Context) <-chan struct{}                      { return nil }
func (g *genSource) GetPartner(context.Context, string) (*partner.Partner, error) {
	return nil, partner.ErrNotFound
}
func (g *genSource) GetCredential(context.Context, string) (*partner.Credential, error) {
	return nil, partner.ErrNotFound
}
func (g *genSource) GetCredentials(context.Context, []string) ([]*partner.Credential, error) {
	return nil, nil
}
func (g *genSource) GetClient(context.Context, string, string) (*partner.Client, error) {
	return nil, partner.ErrNotFound
}
func (g *genSource) GetTokenRevocation(context.Context, string, string) (*partner.TokenRevocation, error) {
	return nil, partner.ErrNotFound
}
func (g *genSource) GetCertificate(context.Context, string) (*partner.Certificate, error) {
	return nil, partner.ErrNotFound
}

// decisionFixture is BenchmarkDecision1M's server over a cache of a
// million keys. It is built once: the benchmark function runs again for
// each b.N, and rebuilding would leave the previous million keys' garbage
// for the collector to clear inside the timed loop.
var decisionFixture = sync.OnceValues(func() (*decisionSetup, error) { return newDecisionSetup(1_000_000, 100_000) })

// newGenSource returns a source of n generated keys of SeedPartner,
// keeping the first hot of them, hashed with a fixed test pepper.
func newGenSource(n, hot int) (*genSource, error) {
	format, err := apikey.NewFormat(apikey.DefaultPrefix)
	if err != nil {
		return nil, err
	}
	hasher, err := apikey.NewHasher(1, map[int][]byte{1: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		return nil, err
	}
	return &genSource{format: format, hasher: hasher, n: n, hot: hot}, nil
}

// newDecisionSetup builds the servers over a cache of n keys of
// SeedPartner, keeping the first hot of them to send, with the hot-key
// table and the allow memo sized for them as hot_keys is (twice over).
func newDecisionSetup(n, hot int) (*decisionSetup, error) {
	src, err := newGenSource(n, hot)
	if err != nil {
		return nil, err
	}
	format, hasher := src.format, src.hasher
	idx, err := cache.New(src, cache.Options{ExpectedKeys: n, HotKeys: 2 * hot})
	if err != nil {
		return nil, err
	}
	if err := idx.Load(context.Background()); err != nil {
		return nil, err
	}
	dec, err := authz.New(authz.Options{Index: idx, Keys: format, Hasher: hasher})
	if err != nil {
		return nil, err
	}
	srv, err := extauthz.New(extauthz.Options{Decider: dec, AllowResponses: 2 * hot})
	if err != nil {
		return nil, err
	}
	// The Check server's handler, as app.Start builds it: last use
	// recorded, decisions counted and audited (to a log that discards),
	// each call observed.
	metrics, err := telemetry.NewMetrics(telemetry.MetricsOptions{})
	if err != nil {
		return nil, err
	}
	audit := telemetry.NewDecisionLog(slog.New(slog.DiscardHandler), telemetry.DecisionLogOptions{})
	var stops []func()
	serve := func(a authz.Auditor) (*extauthz.Server, error) {
		// The recorder's goroutine drains its rings as the server's does.
		usage := lastuse.New(discardTouches{}, lastuse.Options{})
		stops = append(stops, goRun(usage.Run))
		served, err := authz.New(authz.Options{Index: idx, Keys: format, Hasher: hasher,
			Usage:   usage,
			Auditor: a})
		if err != nil {
			return nil, err
		}
		return extauthz.New(extauthz.Options{Decider: served, Metrics: metrics, Tracing: &telemetry.Tracing{}, AllowResponses: 2 * hot})
	}
	respond, err := serve(telemetry.Auditors{metrics, audit})
	if err != nil {
		return nil, err
	}
	uncounted, err := serve(audit)
	if err != nil {
		return nil, err
	}
	bearers := make([]string, hot)
	for i, k := range src.keys {
		bearers[i] = "Bearer " + k.Reveal()
	}
	stop := func() {
		for _, f := range stops {
			f()
		}
	}
	return &decisionSetup{srv: srv, respond: respond, uncounted: uncounted, bearers: bearers, stop: stop}, nil
}

// goRun runs run in a goroutine until the returned function is called,
// and waits for it to return then.
func goRun(run func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(ctx)
	}()
	return func() { cancel(); <-done }
}

type decisionSetup struct {
	srv     *extauthz.Server
	respond *extauthz.Server // the Check server's handler
	// uncounted is respond with no decision metrics: what a Check
	// allocates without them.
	uncounted *extauthz.Server
	bearers   []string
	// stop ends the last-use recorders' goroutines. The benchmarks'
	// fixture lives as long as the process and never calls it.
	stop func()
}

type discardTouches struct{}

func (discardTouches) TouchCredentials(context.Context, []store.Touch) error { return nil }

// BenchmarkHandler measures the Check server's work per call besides the
// transport, on the baseline and on partnergate in turn: unmarshal a
// realistic request from its bytes and answer it, as grpc-go and the
// handler do, then encode the answer with the server's codec. The
// unmarshal streams through fresh memory, as it does in the server, so
// the decision meets the CPU caches it would meet there. The two servers'
// difference is the handler's share of the load benchmark's gap, measured
// without the network's noise. The allow runs rotate through 1,000 keys;
// allow-edge sends the same requests as the shipped Envoy config does,
// with only the headers its allowed_headers forwards; the flood runs
// through the deny flood's requests, which partnergate denies and the
// baseline, as in the load benchmark, allows.
func BenchmarkHandler(b *testing.B) {
	f, err := decisionFixture()
	if err != nil {
		b.Fatal(err)
	}
	edge, err := envoy.Load("../../envoy/partner-edge.yaml")
	if err != nil {
		b.Fatal(err)
	}
	az, err := edge.ExtAuthz()
	if err != nil {
		b.Fatal(err)
	}
	const hot = 1000 // keys in rotation, as in the load benchmark
	allow := make([]mem.BufferSlice, hot)
	allowEdge := make([]mem.BufferSlice, hot)
	for i := range allow {
		req := Request("authorization", f.bearers[i], i)
		allow[i] = frame(b, req)
		hdrs := req.GetAttributes().GetRequest().GetHttp().GetHeaders()
		for name := range hdrs {
			sent, err := envoy.SentToAuthz(az, name)
			if err != nil {
				b.Fatal(err)
			}
			if !sent {
				delete(hdrs, name)
			}
		}
		allowEdge[i] = frame(b, req)
	}
	format, err := apikey.NewFormat(apikey.DefaultPrefix)
	if err != nil {
		b.Fatal(err)
	}
	floodRaw, err := floodRequests(format, 20_000)
	if err != nil {
		b.Fatal(err)
	}
	flood := make([]mem.BufferSlice, len(floodRaw))
	for i, raw := range floodRaw {
		flood[i] = mem.BufferSlice{mem.SliceBuffer(raw)}
	}
	codec := extauthz.Codec()
	runtime.GC()
	for _, load := range []struct {
		name    string
		reqs    []mem.BufferSlice
		allowed bool // partnergate's answer
	}{{"allow", allow, true}, {"allow-edge", allowEdge, true}, {"flood", flood, false}} {
		for _, srv := range []struct {
			name   string
			answer answerer
		}{
			{"baseline", NewBaseline(SeedPartner, "baselinekey0")},
			{"partnergate", f.respond},
		} {
			want := load.allowed || srv.name == "baseline"
			b.Run(load.name+"/"+srv.name, func(b *testing.B) {
				b.ReportAllocs()
				ctx := context.Background()
				i := 0
				for b.Loop() {
					req := new(authv3.CheckRequest)
					if err := codec.Unmarshal(load.reqs[i%len(load.reqs)], req); err != nil {
						b.Fatal(err)
					}
					reply, allowed, err := srv.answer.Answer(ctx, req)
					if err != nil || allowed != want {
						b.Fatalf("allowed = %v, want %v: %v", allowed, want, err)
					}
					out, err := codec.Marshal(reply)
					if err != nil {
						b.Fatal(err)
					}
					out.Free()
					i += 7
				}
			})
		}
	}
}

// answerer is a Check handler without its transport.
type answerer interface {
	Answer(ctx context.Context, req *authv3.CheckRequest) (reply any, allowed bool, err error)
}

// frame returns req's bytes as grpc-go hands them to the codec.
func frame(b *testing.B, req *authv3.CheckRequest) mem.BufferSlice {
	b.Helper()
	raw, err := proto.Marshal(req)
	if err != nil {
		b.Fatal(err)
	}
	return mem.BufferSlice{mem.SliceBuffer(raw)}
}

// BenchmarkDecision1M measures one allowed API-key Check in process, with
// the real hot cache holding a million keys and the realistic request:
// decision and response, without gRPC.
func BenchmarkDecision1M(b *testing.B) {
	f, err := decisionFixture()
	if err != nil {
		b.Fatal(err)
	}
	checkParallel(b, f.srv, f.bearers[:4096])
}

// BenchmarkDecisionInUse is [BenchmarkDecision1M] with 1,000, 10,000 and
// 100,000 keys of the million in use, through the decision and its Envoy
// response (decision) and through the Check server's handler as app.Start
// wires it, last use recorded, decisions counted and audited (served).
// Run with -cpu 1,2: a Check that takes no lock a writer, or another
// Check, holds does twice the work on two cores, however many keys are in
// use.
func BenchmarkDecisionInUse(b *testing.B) {
	f, err := decisionFixture()
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) { checkParallel(b, f.srv, f.bearers[:n]) })
		b.Run(fmt.Sprintf("keys=%d/served", n), func(b *testing.B) { checkParallel(b, f.respond, f.bearers[:n]) })
	}
}

// checkParallel runs allowed Checks of the keys in bearers, in turn, on
// GOMAXPROCS callers, each starting at its own place in bearers: clients
// on other connections send other keys.
func checkParallel(b *testing.B, srv *extauthz.Server, bearers []string) {
	hot := len(bearers)
	var callers atomic.Int64
	runtime.GC() // the load's garbage is not the decision's cost
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		// One request per caller, its credential swapped each time: a
		// request freshly unmarshalled by gRPC is hot in the CPU cache,
		// while the key it names is any of the million.
		req := Request("authorization", bearers[0], 0)
		hdrs := req.GetAttributes().GetRequest().GetHttp().GetHeaders()
		ctx := context.Background()
		i := int(callers.Add(1)-1) * (hot/runtime.GOMAXPROCS(0) + 1)
		for pb.Next() {
			hdrs["authorization"] = bearers[i%hot]
			resp, err := srv.Check(ctx, req)
			if err != nil || resp.GetOkResponse() == nil {
				b.Fatalf("not allowed: %v %v", resp.GetStatus(), err)
			}
			i += 7
		}
	})
}

// TestCheckAllocationsWithMetrics: counting decisions, by reason and by
// partner, adds no allocation to a Check as the Check server answers it
// (last use recorded, audited, observed), whether the partner is allowed,
// denied after its key was validated, or not identified at all.
//
// It runs without the race detector (go test ./internal/loadgen), whose
// sync.Pool drops recycled HMAC states at random; telemetry's
// TestMetricsDecisionAllocatesNothing guards the counter itself under it.
func TestCheckAllocationsWithMetrics(t *testing.T) {
	if raceEnabled {
		t.Skip("-race: sync.Pool drops items at random, so allocations per Check vary")
	}
	f, err := newDecisionSetup(64, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer f.stop()
	outOfScope := Request("authorization", f.bearers[1], 1)
	outOfScope.GetAttributes().ContextExtensions = map[string]string{extauthz.ContextKeyRequiredScopes: "admin:write"}
	for _, tc := range []struct {
		name    string
		req     *authv3.CheckRequest
		allowed bool
	}{
		{"allowed-partner", Request("authorization", f.bearers[0], 0), true},
		{"denied-partner", outOfScope, false},
		{"unidentified-denial", Request("x-api-key", "garbage", 2), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			allocs := func(srv *extauthz.Server) float64 {
				return testing.AllocsPerRun(200, func() {
					_, allowed, err := srv.Answer(ctx, tc.req)
					if err != nil || allowed != tc.allowed {
						t.Fatalf("allowed = %v, want %v: %v", allowed, tc.allowed, err)
					}
				})
			}
			without := allocs(f.uncounted)
			if with := allocs(f.respond); with != without {
				t.Errorf("a Check allocates %v times with decision metrics, %v without", with, without)
			}
		})
	}
}
