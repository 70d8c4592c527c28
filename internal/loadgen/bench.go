package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/config"
	"github.com/partnergate/partnergate/internal/partner"
)

// BenchOptions configures [Bench]. Zero fields take the default beside
// them.
type BenchOptions struct {
	Self   string // this binary, re-executed as the server children; required
	Dir    string // scratch directory for the store and logs; required
	Keys   int    // credentials loaded into partnergate (1,000,000)
	Hot    int    // distinct keys the allowed traffic cycles through (1,000)
	Spread []int  // more numbers of distinct keys in use, each two closed-loop runs of their own beside Hot's, cold then again (none)
	// SpreadTokens is the number of distinct RS256 access tokens in use
	// in one more closed-loop run (0: none); the verified-token cache is
	// sized by config to hold them and every other token sent.
	SpreadTokens int
	// HotKeys is partnergate's hot_keys (0: twice the most keys in use,
	// and at least its default), as an operator sizes it.
	HotKeys   int
	Rounds    int           // A/B rounds (3)
	Duration  time.Duration // length of each run (5s)
	Rate      float64       // open-loop rate, requests/s (5,000)
	Conns     int           // client connections per server (2)
	Streams   int           // closed-loop concurrent calls (64)
	Workers   int           // open-loop callers, the most in flight (256)
	Flood     int           // deny-flood concurrent calls (32)
	ServerCPU string        // taskset CPU list for the servers ("": unpinned)
	Baseline  string        // "baseline", served as partnergate is, or "conventional" ("baseline")
	H2Load    string        // path of h2load; "" skips the h2load runs
	SkipJWT   bool          // skip the JWT allow runs (and the issuer)
	Profile   string        // where partnergate writes its CPU profile ("": none)
	Out       io.Writer
}

func (o *BenchOptions) defaults() {
	if o.Keys <= 0 {
		o.Keys = 1_000_000
	}
	if o.Hot <= 0 {
		o.Hot = 1000
	}
	o.Hot = min(o.Hot, o.Keys)
	o.Spread = slices.DeleteFunc(slices.Clone(o.Spread), func(n int) bool { return n <= 0 })
	for i := range o.Spread {
		o.Spread[i] = min(o.Spread[i], o.Keys)
	}
	if o.Rounds <= 0 {
		o.Rounds = 3
	}
	if o.Duration <= 0 {
		o.Duration = 5 * time.Second
	}
	if o.Rate <= 0 {
		o.Rate = 5000
	}
	if o.Conns <= 0 {
		o.Conns = 2
	}
	if o.Streams <= 0 {
		o.Streams = 64
	}
	if o.Workers <= 0 {
		o.Workers = 256
	}
	if o.Flood <= 0 {
		o.Flood = 32
	}
	if o.Baseline == "" {
		o.Baseline = "baseline"
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
}

// sample is one server's figures in one round: closed loop with API keys
// (embedded), open loop, the deny flood, and closed loop with each
// algorithm's tokens.
type sample struct {
	closedLoop
	openP50, openP99, openP999, openCPU float64
	floodP99, floodRate, floodLookups   float64
	jwt                                 [len(TokenAlgs)]closedLoop
	spread                              []closedLoop // one per BenchOptions.Spread, grpc-go client only
	spreadAgain                         []closedLoop // the same keys again at once, each used seconds before
	spreadJWT                           closedLoop   // BenchOptions.SpreadTokens RS256 tokens, grpc-go client only
}

// closedLoop is one server's closed-loop figures for one kind of request
// in one round: the grpc-go client's, and h2load's.
type closedLoop struct {
	closedRate, closedP50, closedP99, closedP999, closedCPU float64
	h2Rate, h2CPU                                           float64
}

// Bench seeds a store, starts partnergate and the baseline as child
// processes, and alternates them run by run for several rounds: closed
// loop (grpc-go client, and h2load when given), open loop at a fixed rate,
// open loop under a deny flood, and, unless SkipJWT, closed loop with
// RS256 and ES256 access tokens. It prints each round and a summary of
// medians with partnergate/baseline ratios.
func Bench(ctx context.Context, o BenchOptions) error {
	o.defaults()
	w := o.Out
	format, err := apikey.NewFormat(apikey.DefaultPrefix)
	if err != nil {
		return err
	}
	// The token issuer runs in this process for the whole benchmark:
	// partnergate fetches its JWKS at start and refreshes it as from an IdP.
	var (
		iss     *Issuer
		clients []*partner.Client
		cfgPath string
	)
	if !o.SkipJWT {
		if iss, err = StartIssuer(); err != nil {
			return err
		}
		defer iss.Close()
		clients = append(clients, iss.Client())
		cfgPath = filepath.Join(o.Dir, "partnergate.json")
		// Every token must fit the verified-token cache, as in a
		// production deployment sized for its clients.
		cacheSize := 0
		if n := len(TokenAlgs)*o.Hot + o.SpreadTokens; n > config.Default().JWT.CacheSize {
			cacheSize = 2 * n
		}
		// With many tokens in use, a run that comes back to them after a
		// round's other runs would find most of them expired from a
		// one-minute cache and measure re-verification, a cost of the
		// benchmark's bursts: in steady use a token is re-verified once
		// per cache_ttl whatever the load. The longest TTL allowed keeps
		// them all for the whole benchmark.
		var cacheTTL time.Duration
		if o.SpreadTokens > 0 {
			cacheTTL = 10 * time.Minute
		}
		if err := iss.WriteConfig(cfgPath, cacheSize, cacheTTL); err != nil {
			return err
		}
	}
	// The many tokens are signed while the store is seeded, by a child
	// on every CPU, and waited for before the servers start: signing
	// them on the client's one core took longer than the rest of the
	// set-up together.
	type minted struct {
		toks []string
		err  error
		took time.Duration
	}
	var mintDone chan minted
	if iss != nil && o.SpreadTokens > 0 {
		mintDone = make(chan minted, 1)
		go func() {
			t0 := time.Now()
			toks, err := iss.TokensOnEveryCPU(ctx, o.Self, "RS256", o.SpreadTokens)
			mintDone <- minted{toks, err, time.Since(t0)}
		}()
	}
	fmt.Fprintf(w, "machine: %s\n", describeMachine())
	fmt.Fprintf(w, "seeding %d credentials into SQLite...\n", o.Keys)
	inUse := o.Hot
	for _, n := range o.Spread {
		inUse = max(inUse, n)
	}
	if o.HotKeys <= 0 {
		o.HotKeys = max(2*inUse, config.DefaultHotKeys)
	}
	seeded, err := Seed(ctx, o.Dir, format, o.Keys, inUse, clients...)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "seeded in %s\n", seeded.Took.Round(time.Millisecond))
	var spreadToks []string
	if mintDone != nil {
		t0 := time.Now()
		m := <-mintDone
		if m.err != nil {
			return m.err
		}
		spreadToks = m.toks
		fmt.Fprintf(w, "jwt-rs256: %d more distinct tokens minted in %s, beside the seeding (%s waited after it)\n",
			len(m.toks), m.took.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	}

	logf, err := os.Create(filepath.Join(o.Dir, "servers.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	pg, err := startChild(o.Self, o.ServerCPU, "partnergate", logf,
		"--kind", "partnergate", "--store", seeded.StoreURL, "--pepper-file", seeded.PepperFile, "--cpuprofile", o.Profile,
		"--config", cfgPath, "--hot-keys", strconv.Itoa(o.HotKeys))
	if err != nil {
		return err
	}
	defer pg.stop()
	pgStats, err := pg.stats()
	if err != nil {
		return err
	}
	pgRSS, _ := rss(pg.pid())
	// The baseline gets a ballast as large as partnergate's heap, so both
	// collect garbage equally often; see ServeOptions.BallastMiB.
	baseProfile := ""
	if o.Profile != "" {
		baseProfile = o.Profile + ".baseline"
	}
	base, err := startChild(o.Self, o.ServerCPU, "baseline", logf, "--kind", o.Baseline, "--cpuprofile", baseProfile,
		"--ballast-mib", strconv.FormatUint(pgStats.HeapAlloc>>20, 10))
	if err != nil {
		return err
	}
	defer base.stop()
	baseRSS, _ := rss(base.pid())
	fmt.Fprintf(w, "partnergate ready in %s with %d keys (spawn to serving); RSS %d MiB, heap %d MiB: %.0f B/key heap; baseline ballast %d MiB, RSS %d MiB\n",
		pg.startup.Round(time.Millisecond), pgStats.Keys, pgRSS>>20, pgStats.HeapAlloc>>20,
		float64(pgStats.HeapAlloc)/float64(o.Keys), pgStats.HeapAlloc>>20, baseRSS>>20)

	// allowed are the requests of the Hot keys; spreadReqs[i], of the
	// first Spread[i] keys: prefixes of one set of requests.
	inUseReqs := make([][]byte, len(seeded.Hot))
	for i, k := range seeded.Hot {
		inUseReqs[i] = Marshal(Request("authorization", "Bearer "+k.Reveal(), i))
	}
	allowed := inUseReqs[:o.Hot]
	spreadReqs := make([][][]byte, len(o.Spread))
	for i, n := range o.Spread {
		spreadReqs[i] = inUseReqs[:n]
	}
	fmt.Fprintf(w, "request: %d bytes, 15 headers, 3 context extensions\n", len(allowed[0]))
	// jwtReqs[a] are the allowed requests carrying o.Hot distinct tokens
	// signed with TokenAlgs[a]: each token's first sight pays the
	// signature, later ones hit the verified-token cache.
	var jwtReqs [][][]byte
	if iss != nil {
		for _, alg := range TokenAlgs {
			toks, err := iss.Tokens(alg, o.Hot)
			if err != nil {
				return err
			}
			reqs := make([][]byte, len(toks))
			for i, t := range toks {
				reqs[i] = Marshal(Request("authorization", "Bearer "+t, i))
			}
			jwtReqs = append(jwtReqs, reqs)
			fmt.Fprintf(w, "jwt-%s: %d distinct tokens of %d bytes (request %d bytes)\n", strings.ToLower(alg), len(toks), len(toks[0]), len(reqs[0]))
		}
	}
	var spreadTokReqs [][]byte
	if spreadToks != nil {
		spreadTokReqs = make([][]byte, len(spreadToks))
		for i, t := range spreadToks {
			spreadTokReqs[i] = Marshal(Request("authorization", "Bearer "+t, i))
		}
	}
	flood, err := floodRequests(format, 20_000)
	if err != nil {
		return err
	}

	servers := []*child{pg, base}
	conns := make(map[*child]clientConns, 2)
	for _, s := range servers {
		cs, err := Dial(ctx, s.addr, o.Conns, allowed[0])
		if err != nil {
			return err
		}
		defer Close(cs)
		fc, err := Dial(ctx, s.addr, o.Conns, allowed[0])
		if err != nil {
			return err
		}
		defer Close(fc)
		conns[s] = clientConns{cs, fc}
		// Warm up: connections, caches, the Go runtime's heap size.
		Closed(ctx, cs, o.Streams, time.Second, allowed, nil)
		// The tokens too: half a second at thousands of calls per second
		// sends each one, so their first sight is paid here, and a
		// misconfigured issuer fails now rather than in round 1.
		for a, reqs := range jwtReqs {
			if err := expectAllowed(s.name, "jwt-"+strings.ToLower(TokenAlgs[a])+" warm-up", Closed(ctx, cs, o.Streams, 500*time.Millisecond, reqs, nil)); err != nil {
				return err
			}
		}
		// Every one of the many tokens pays its signature here, not in
		// a measured run.
		if err := warmEach(ctx, s.name, "jwt-rs256 spread warm-up", cs, o.Streams, spreadTokReqs); err != nil {
			return err
		}
		if err := s.settle(); err != nil {
			return err
		}
	}
	var body string
	jwtBodies := make([]string, len(jwtReqs))
	if o.H2Load != "" {
		// h2load sends one body over and over: the first request of each
		// set, so the JWT runs measure the verified-token cache's hit path.
		body = filepath.Join(o.Dir, "check.grpc")
		if err := writeFrame(body, allowed[0]); err != nil {
			return err
		}
		for a, reqs := range jwtReqs {
			jwtBodies[a] = filepath.Join(o.Dir, "check-jwt-"+strings.ToLower(TokenAlgs[a])+".grpc")
			if err := writeFrame(jwtBodies[a], reqs[0]); err != nil {
				return err
			}
		}
	}

	// Each figure is measured on both servers back to back, in an order
	// that alternates by round: the machine's speed drifts over tens of
	// seconds, and the two runs of a pair should see the same machine.
	// closed and h2load are the closed-loop runs of one kind of request,
	// reqs, into the figures that at picks from a server's sample.
	// A run's server CPU includes the work its Checks leave behind: each
	// run ends with the server settled (partnergate's last-use writes of
	// the API keys it allowed flushed), else a run that follows one with
	// 100,000 keys in use paid for the writes of those keys.
	closed := func(run string, reqs [][]byte, at func(*sample) *closedLoop) func(*child, *sample) error {
		return func(s *child, sm *sample) error {
			cpu0 := s.cpu()
			r := Closed(ctx, conns[s].allowed, o.Streams, o.Duration, reqs, nil)
			if err := expectAllowed(s.name, run, r); err != nil {
				return err
			}
			if err := s.settle(); err != nil {
				return err
			}
			c := at(sm)
			c.closedRate, c.closedCPU = r.Rate(), perCheck(s.cpu()-cpu0, r.N)
			c.closedP50, c.closedP99, c.closedP999 = ms(r.Quantile(.5)), ms(r.Quantile(.99)), ms(r.Quantile(.999))
			return nil
		}
	}
	h2load := func(body string, reqs [][]byte, at func(*sample) *closedLoop) func(*child, *sample) error {
		return func(s *child, sm *sample) error {
			n, cpu, err := h2loadAllowed(ctx, o.H2Load, s, conns[s].allowed, body, reqs[0], o.Duration)
			c := at(sm)
			c.h2Rate, c.h2CPU = float64(n)/o.Duration.Seconds(), perCheck(cpu, n)
			return err
		}
	}
	keys := func(sm *sample) *closedLoop { return &sm.closedLoop }
	runs := []func(s *child, sm *sample) error{closed("closed", allowed, keys)}
	if body != "" {
		runs = append(runs, h2load(body, allowed, keys))
	}
	runs = append(runs,
		func(s *child, sm *sample) error {
			cpu0 := s.cpu()
			r := Open(ctx, conns[s].allowed, o.Rate, o.Duration, o.Workers, allowed)
			if err := expectAllowed(s.name, "open", r); err != nil {
				return err
			}
			if err := s.settle(); err != nil {
				return err
			}
			sm.openCPU = perCheck(s.cpu()-cpu0, r.N)
			sm.openP50, sm.openP99, sm.openP999 = ms(r.Quantile(.5)), ms(r.Quantile(.99)), ms(r.Quantile(.999))
			return nil
		},
		func(s *child, sm *sample) error {
			st0, _ := s.stats()
			stop := make(chan struct{})
			fr := make(chan *Result, 1)
			go func() { fr <- Closed(ctx, conns[s].flood, o.Flood, time.Hour, flood, stop) }()
			r := Open(ctx, conns[s].allowed, o.Rate, o.Duration, o.Workers, allowed)
			close(stop)
			f := <-fr
			st1, _ := s.stats()
			if err := expectAllowed(s.name, "flood", r); err != nil {
				return err
			}
			sm.floodP99, sm.floodRate = ms(r.Quantile(.99)), f.Rate()
			sm.floodLookups = float64(st1.MissLookups-st0.MissLookups) / f.Elapsed.Seconds()
			return s.settle() // the flood's work is not the next run's
		})
	for a, reqs := range jwtReqs {
		tokens := func(sm *sample) *closedLoop { return &sm.jwt[a] }
		runs = append(runs, closed("jwt-"+strings.ToLower(TokenAlgs[a])+" closed", reqs, tokens))
		if body != "" {
			runs = append(runs, h2load(jwtBodies[a], reqs, tokens))
		}
	}

	// Each number of keys in use is run twice in a row. In the first run
	// nearly every key's last use was written over a minute before (in the
	// round before, or never), so nearly every Check leaves a last-use row
	// write behind it: keys coming back into use. The second run sends the
	// same keys seconds later, when no write is due: keys in steady use,
	// where a key's last use is written once a minute
	// (lastuse.DefaultRewrite), not once a Check.
	for i, reqs := range spreadReqs {
		runs = append(runs,
			closed(fmt.Sprintf("closed %d keys", len(reqs)), reqs, func(sm *sample) *closedLoop { return &sm.spread[i] }),
			closed(fmt.Sprintf("closed %d keys again", len(reqs)), reqs, func(sm *sample) *closedLoop { return &sm.spreadAgain[i] }))
	}
	if spreadTokReqs != nil {
		runs = append(runs, closed(fmt.Sprintf("jwt-rs256 closed %d tokens", len(spreadTokReqs)), spreadTokReqs, func(sm *sample) *closedLoop { return &sm.spreadJWT }))
	}

	samples := map[*child][]sample{pg: make([]sample, o.Rounds), base: make([]sample, o.Rounds)}
	for _, ss := range samples {
		for i := range ss {
			ss[i].spread = make([]closedLoop, len(spreadReqs))
			ss[i].spreadAgain = make([]closedLoop, len(spreadReqs))
		}
	}
	for round := range o.Rounds {
		order := servers
		if round%2 == 1 {
			order = []*child{base, pg}
		}
		for _, run := range runs {
			for _, s := range order {
				if err := run(s, &samples[s][round]); err != nil {
					return err
				}
			}
		}
		for _, s := range servers {
			sm := samples[s][round]
			fmt.Fprintf(w, "round %d %-11s closed %6.0f/s p99 %.2fms cpu %5.1fµs | h2load %6.0f/s cpu %5.1fµs | open %.0f/s p50 %.3fms p99 %.3fms p99.9 %.3fms cpu %5.1fµs | flood %6.0f/s allowed p99 %.3fms store %.1f/s\n",
				round+1, s.name, sm.closedRate, sm.closedP99, sm.closedCPU, sm.h2Rate, sm.h2CPU,
				o.Rate, sm.openP50, sm.openP99, sm.openP999, sm.openCPU, sm.floodRate, sm.floodP99, sm.floodLookups)
			for a := range jwtReqs {
				js := sm.jwt[a]
				fmt.Fprintf(w, "round %d %-11s jwt-%s closed %6.0f/s cpu %5.1fµs | h2load %6.0f/s cpu %5.1fµs\n",
					round+1, s.name, strings.ToLower(TokenAlgs[a]), js.closedRate, js.closedCPU, js.h2Rate, js.h2CPU)
			}
			for i, n := range o.Spread {
				fmt.Fprintf(w, "round %d %-11s %d keys closed %6.0f/s cpu %5.1fµs\n", round+1, s.name, n, sm.spread[i].closedRate, sm.spread[i].closedCPU)
				fmt.Fprintf(w, "round %d %-11s %d keys again closed %6.0f/s cpu %5.1fµs\n", round+1, s.name, n, sm.spreadAgain[i].closedRate, sm.spreadAgain[i].closedCPU)
			}
			if spreadTokReqs != nil {
				fmt.Fprintf(w, "round %d %-11s jwt-rs256 %d tokens closed %6.0f/s cpu %5.1fµs\n", round+1, s.name, len(spreadTokReqs), sm.spreadJWT.closedRate, sm.spreadJWT.closedCPU)
			}
		}
	}
	summarize(w, o, samples[pg], samples[base])
	return nil
}

// warmEach sends every one of reqs at least once through conns, in
// chunks, and reports an error unless each call was allowed.
func warmEach(ctx context.Context, name, run string, conns []*grpc.ClientConn, streams int, reqs [][]byte) error {
	const chunk = 2000
	for off := 0; off < len(reqs); off += chunk {
		part := reqs[off:min(off+chunk, len(reqs))]
		// A closed loop starts each stream at its own index and steps
		// by the streams: a run that makes twice as many calls as there
		// are requests has sent each. A run that falls short is repeated
		// for twice as long.
		for dur, n := 200*time.Millisecond, int64(0); n < int64(2*len(part)); dur *= 2 {
			r := Closed(ctx, conns, streams, dur, part, nil)
			if err := expectAllowed(name, run, r); err != nil {
				return err
			}
			n = r.N
		}
	}
	return nil
}

// writeFrame writes msg as one gRPC length-prefixed message, h2load's
// request body.
func writeFrame(path string, msg []byte) error {
	frame := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg)))
	return os.WriteFile(path, append(frame, msg...), 0o600)
}

// h2loadAllowed drives s with h2load sending body (the framed msg) for
// dur, and returns the calls completed and the server CPU they took.
// h2load sees only HTTP and gRPC status, and a denial is an OK Check, so
// msg is sent through conns before and after the run and must be allowed
// both times: the server decides the same bytes the same way.
func h2loadAllowed(ctx context.Context, bin string, s *child, conns []*grpc.ClientConn, body string, msg []byte, dur time.Duration) (int64, time.Duration, error) {
	if err := probeAllowed(ctx, conns, msg); err != nil {
		return 0, 0, fmt.Errorf("%s h2load: before the run: %w", s.name, err)
	}
	cpu0 := s.cpu()
	n, err := h2load(ctx, bin, s.addr, body, dur)
	if err != nil {
		return 0, 0, err
	}
	if err := s.settle(); err != nil {
		return 0, 0, err
	}
	cpu := s.cpu() - cpu0
	if err := probeAllowed(ctx, conns, msg); err != nil {
		return 0, 0, fmt.Errorf("%s h2load: after the run: %w", s.name, err)
	}
	return n, cpu, nil
}

// probeAllowed sends msg once and reports an error unless it is allowed.
func probeAllowed(ctx context.Context, conns []*grpc.ClientConn, msg []byte) error {
	var resp []byte
	if err := conns[0].Invoke(ctx, checkMethod, &msg, &resp); err != nil {
		return err
	}
	if !bytes.Contains(resp, allowMarker) {
		return errors.New("the request h2load sends is not allowed: the benchmark must measure allowed traffic")
	}
	return nil
}

// clientConns are a server's connections: one set for allowed traffic,
// one for the deny flood.
type clientConns struct{ allowed, flood []*grpc.ClientConn }

func perCheck(d time.Duration, n int64) float64 {
	if n == 0 {
		return 0
	}
	return float64(d.Microseconds()) / float64(n)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func expectAllowed(name, run string, r *Result) error {
	if r.Errors > 0 || r.Allowed != r.N || r.N == 0 {
		return fmt.Errorf("%s %s run: %d calls, %d allowed, %d errors: the benchmark must measure allowed traffic", name, run, r.N, r.Allowed, r.Errors)
	}
	return nil
}

// floodRequests returns n requests, half with random bytes where a key
// belongs (malformed, refused by format and checksum) and half with
// well-formed keys no store holds (each a cache miss).
func floodRequests(format apikey.Format, n int) ([][]byte, error) {
	out := make([][]byte, n)
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	raw := make([]byte, format.Len())
	for i := range out {
		var key string
		if i%2 == 0 {
			if _, err := rand.Read(raw); err != nil {
				return nil, err
			}
			for j := range raw {
				raw[j] = alphabet[int(raw[j])%len(alphabet)]
			}
			key = format.Prefix() + string(raw[len(format.Prefix()):])
		} else {
			k, err := format.Generate(rand.Reader)
			if err != nil {
				return nil, err
			}
			key = k.Reveal()
		}
		out[i] = Marshal(Request("authorization", "Bearer "+key, i))
	}
	return out, nil
}

var h2Finished = regexp.MustCompile(`requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded`)

// h2load drives addr with h2load for dur (to the millisecond) and returns
// the calls completed.
func h2load(ctx context.Context, bin, addr, body string, dur time.Duration) (int64, error) {
	d := strconv.FormatInt(dur.Milliseconds(), 10) + "ms" // whole seconds unless a unit is given
	out, err := exec.CommandContext(ctx, bin, "-D", d, "-c", "2", "-m", "32",
		"-d", body, "-H", "content-type: application/grpc", "-H", "te: trailers",
		"http://"+addr+checkMethod).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("h2load: %w: %s", err, out)
	}
	m := h2Finished.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("h2load: unexpected output: %s", out)
	}
	done, _ := strconv.ParseInt(string(m[2]), 10, 64)
	ok, _ := strconv.ParseInt(string(m[3]), 10, 64)
	if ok != done || done == 0 {
		return 0, fmt.Errorf("h2load: %d of %d calls failed: %s", done-ok, done, out)
	}
	return done, nil
}

// median returns the median of v, sorting it; 0 for none.
func median(v []float64) float64 {
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// summarize prints, per figure, each server's median over the rounds and
// the median and range of the rounds' own ratios: a round's two runs are
// back to back, so its ratio is the figure least moved by the machine's
// drift.
func summarize(w io.Writer, o BenchOptions, pg, base []sample) {
	fmt.Fprintf(w, "\nmedians of %d rounds, %s per run, partnergate with %d keys (hot_keys %d), baseline %q; ratio = partnergate / baseline, the median and range of the rounds' ratios\n", o.Rounds, o.Duration, o.Keys, o.HotKeys, o.Baseline)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "figure\tpartnergate\tbaseline\tratio\tratio range\t")
	row := func(name, unit string, f func(sample) float64) {
		var a, b, ratios []float64
		for i := range pg {
			a, b = append(a, f(pg[i])), append(b, f(base[i]))
			if f(base[i]) != 0 {
				ratios = append(ratios, f(pg[i])/f(base[i]))
			}
		}
		ratio, spread := "-", "-"
		if len(ratios) > 0 {
			ratio = fmt.Sprintf("%.2f", median(ratios)) // sorts ratios
			spread = fmt.Sprintf("%.2f–%.2f", ratios[0], ratios[len(ratios)-1])
		}
		fmt.Fprintf(tw, "%s\t%.3g %s\t%.3g %s\t%s\t%s\t\n", name, median(a), unit, median(b), unit, ratio, spread)
	}
	row("closed-loop throughput (grpc-go client)", "/s", func(s sample) float64 { return s.closedRate })
	row("closed-loop p99", "ms", func(s sample) float64 { return s.closedP99 })
	row("closed-loop server CPU per Check", "µs", func(s sample) float64 { return s.closedCPU })
	if o.H2Load != "" {
		row("closed-loop throughput (h2load)", "/s", func(s sample) float64 { return s.h2Rate })
		row("h2load server CPU per Check", "µs", func(s sample) float64 { return s.h2CPU })
	}
	rate := fmt.Sprintf("%.0f/s", o.Rate)
	row("open-loop "+rate+" p50", "ms", func(s sample) float64 { return s.openP50 })
	row("open-loop "+rate+" p99", "ms", func(s sample) float64 { return s.openP99 })
	row("open-loop "+rate+" p99.9", "ms", func(s sample) float64 { return s.openP999 })
	row("open-loop "+rate+" server CPU per Check", "µs", func(s sample) float64 { return s.openCPU })
	row("deny flood: flood throughput", "/s", func(s sample) float64 { return s.floodRate })
	row("deny flood: allowed p99 at "+rate, "ms", func(s sample) float64 { return s.floodP99 })
	row("deny flood: allowed p99 / undisturbed", "x", func(s sample) float64 { return s.floodP99 / s.openP99 })
	row("deny flood: store look-ups", "/s", func(s sample) float64 { return s.floodLookups })
	if !o.SkipJWT {
		for a, alg := range TokenAlgs {
			name := "jwt-" + strings.ToLower(alg)
			row(name+" closed-loop throughput (grpc-go client)", "/s", func(s sample) float64 { return s.jwt[a].closedRate })
			row(name+" closed-loop server CPU per Check", "µs", func(s sample) float64 { return s.jwt[a].closedCPU })
			if o.H2Load != "" {
				row(name+" closed-loop throughput (h2load)", "/s", func(s sample) float64 { return s.jwt[a].h2Rate })
				row(name+" h2load server CPU per Check", "µs", func(s sample) float64 { return s.jwt[a].h2CPU })
			}
		}
	}
	for i, n := range o.Spread {
		row(fmt.Sprintf("%d keys in use: closed-loop throughput (grpc-go client)", n), "/s", func(s sample) float64 { return s.spread[i].closedRate })
		row(fmt.Sprintf("%d keys in use: server CPU per Check", n), "µs", func(s sample) float64 { return s.spread[i].closedCPU })
		row(fmt.Sprintf("%d keys in use again: closed-loop throughput (grpc-go client)", n), "/s", func(s sample) float64 { return s.spreadAgain[i].closedRate })
		row(fmt.Sprintf("%d keys in use again: server CPU per Check", n), "µs", func(s sample) float64 { return s.spreadAgain[i].closedCPU })
	}
	if o.SpreadTokens > 0 && !o.SkipJWT {
		row(fmt.Sprintf("jwt-rs256 %d tokens in use: closed-loop throughput (grpc-go client)", o.SpreadTokens), "/s", func(s sample) float64 { return s.spreadJWT.closedRate })
		row(fmt.Sprintf("jwt-rs256 %d tokens in use: server CPU per Check", o.SpreadTokens), "µs", func(s sample) float64 { return s.spreadJWT.closedCPU })
	}
	_ = tw.Flush()
	summarizeSpread(w, o, pg, base)
}

// summarizeSpread prints how partnergate's figures move with the number
// of credentials in use, each against the Hot figure of the same build in
// the same rounds: its throughput as a fraction of the Hot keys'
// (against the same fraction for the baseline, which does no work per
// key), and the server CPU per Check it adds over the baseline, in µs,
// with that as a multiple of the Hot keys' addition. Each is the median
// and range of the rounds' own figures.
func summarizeSpread(w io.Writer, o BenchOptions, pg, base []sample) {
	type spread struct {
		name      string
		hot, many func(sample) closedLoop
	}
	var sets []spread
	keys := func(s sample) closedLoop { return s.closedLoop }
	for i, n := range o.Spread {
		sets = append(sets, spread{fmt.Sprintf("%d keys", n), keys, func(s sample) closedLoop { return s.spread[i] }},
			spread{fmt.Sprintf("%d keys again", n), keys, func(s sample) closedLoop { return s.spreadAgain[i] }})
	}
	if o.SpreadTokens > 0 && !o.SkipJWT {
		sets = append(sets, spread{fmt.Sprintf("%d rs256 tokens", o.SpreadTokens),
			func(s sample) closedLoop { return s.jwt[0] }, func(s sample) closedLoop { return s.spreadJWT }})
	}
	if len(sets) == 0 {
		return
	}
	fmt.Fprintf(w, "\ncredentials in use, each against %d of its kind (keys, rs256 tokens) in the same rounds; added = partnergate's server CPU per Check - the baseline's; median (range) of the rounds\n", o.Hot)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "in use\tpartnergate throughput / at %d\tbaseline throughput / at %d\tadded at %d\tadded\tadded / added at %d\t\n", o.Hot, o.Hot, o.Hot, o.Hot)
	stat := func(f func(i int) float64) string {
		v := make([]float64, len(pg))
		for i := range pg {
			v[i] = f(i)
		}
		m := median(v) // sorts v
		return fmt.Sprintf("%.2f (%.2f–%.2f)", m, v[0], v[len(v)-1])
	}
	for _, s := range sets {
		added := func(i int, f func(sample) closedLoop) float64 { return f(pg[i]).closedCPU - f(base[i]).closedCPU }
		ratio := func(a, b float64) float64 {
			if b == 0 {
				return 0
			}
			return a / b
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s µs\t%s µs\t%s\t\n", s.name,
			stat(func(i int) float64 { return ratio(s.many(pg[i]).closedRate, s.hot(pg[i]).closedRate) }),
			stat(func(i int) float64 { return ratio(s.many(base[i]).closedRate, s.hot(base[i]).closedRate) }),
			stat(func(i int) float64 { return added(i, s.hot) }),
			stat(func(i int) float64 { return added(i, s.many) }),
			stat(func(i int) float64 { return ratio(added(i, s.many), added(i, s.hot)) }))
	}
	_ = tw.Flush()
}
