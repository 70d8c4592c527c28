package loadgen

// Test strategy: the benchmark is only worth its numbers if the traffic it
// calls "allowed" is allowed by the real server and the flood is denied.
// So the test seeds a real SQLite store (with the benchmark's OAuth2 client
// registered), starts the benchmark's own token issuer (real keys, its JWKS
// served over loopback HTTP), runs partnergate through the same Serve and
// config file the benchmark's children use, over real loopback gRPC, and
// checks every call's outcome: API keys and RS256/ES256 tokens allowed,
// the flood and tokens signed by keys the issuer never published denied.
// The baseline and the /proc readers are checked against known values.

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/partnergate/partnergate/internal/apikey"
)

// serveInProcess runs Serve as a benchmark child would, and returns its
// address, a stats reader and a stop function.
func serveInProcess(t *testing.T, o ServeOptions) (string, func() ChildStats) {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- Serve(context.Background(), o, inR, outW) }()
	t.Cleanup(func() {
		_ = inW.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve %s: %v", o.Kind, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("serve %s did not stop", o.Kind)
		}
	})
	out := bufio.NewReader(outR)
	line, err := out.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "READY" {
		t.Fatalf("unexpected first line %q", line)
	}
	return f[1], func() ChildStats {
		if _, err := io.WriteString(inW, "stats\n"); err != nil {
			t.Fatal(err)
		}
		b, err := out.ReadBytes('\n')
		if err != nil {
			t.Fatal(err)
		}
		var s ChildStats
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
}

func TestRunsAgainstRealServers(t *testing.T) {
	ctx := context.Background()
	format, err := apikey.NewFormat(apikey.DefaultPrefix)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := StartIssuer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := iss.Close(); err != nil {
			t.Error(err)
		}
	})
	dir := t.TempDir()
	seeded, err := Seed(ctx, dir, format, 50, 10, iss.Client())
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "partnergate.json")
	if err := iss.WriteConfig(cfgPath, 100, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	allowed := make([][]byte, len(seeded.Hot))
	for i, k := range seeded.Hot {
		allowed[i] = Marshal(Request("authorization", "Bearer "+k.Reveal(), i))
	}
	tokenReqs := map[string][][]byte{}
	for _, alg := range TokenAlgs {
		toks, err := iss.Tokens(alg, 5)
		if err != nil {
			t.Fatal(err)
		}
		for i, tok := range toks {
			tokenReqs[alg] = append(tokenReqs[alg], Marshal(Request("authorization", "Bearer "+tok, i)))
		}
	}
	flood, err := floodRequests(format, 20)
	if err != nil {
		t.Fatal(err)
	}
	forged := forgedTokenRequests(t, iss.URL)
	pgAddr, pgStats := serveInProcess(t, ServeOptions{Kind: "partnergate", StoreURL: seeded.StoreURL, PepperFile: seeded.PepperFile, ConfigFile: cfgPath})
	baseAddr, _ := serveInProcess(t, ServeOptions{Kind: "baseline"})
	convAddr, _ := serveInProcess(t, ServeOptions{Kind: "conventional"})
	if s := pgStats(); s.Keys != 50 {
		t.Fatalf("partnergate loaded %d keys, want 50", s.Keys)
	}

	tests := []struct {
		name        string
		addr        string
		reqs        [][]byte
		wantAllowed bool
	}{
		{"partnergate-allows-seeded-keys", pgAddr, allowed, true},
		{"partnergate-allows-rs256-tokens", pgAddr, tokenReqs["RS256"], true},
		{"partnergate-allows-es256-tokens", pgAddr, tokenReqs["ES256"], true},
		{"partnergate-denies-flood", pgAddr, flood, false},
		{"partnergate-denies-tokens-signed-by-unknown-keys", pgAddr, forged, false},
		{"baseline-allows-everything", baseAddr, flood, true},
		{"baseline-allows-forged-tokens", baseAddr, forged, true},
		{"conventional-baseline-allows-everything", convAddr, flood, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conns, err := Dial(ctx, tc.addr, 2, allowed[0])
			if err != nil {
				t.Fatal(err)
			}
			defer Close(conns)
			open := Open(ctx, conns, 2000, 100*time.Millisecond, 8, tc.reqs)
			closed := Closed(ctx, conns, 4, 50*time.Millisecond, tc.reqs, nil)
			for _, r := range []*Result{open, closed} {
				if r.N == 0 || r.Errors != 0 {
					t.Fatalf("%d calls, %d errors", r.N, r.Errors)
				}
				want := int64(0)
				if tc.wantAllowed {
					want = r.N
				}
				if r.Allowed != want {
					t.Errorf("%d of %d calls allowed, want %d", r.Allowed, r.N, want)
				}
			}
			if open.N != 200 {
				t.Errorf("open loop made %d calls, want 2000/s × 0.1s = 200", open.N)
			}
			if q := open.Quantile(.5); q <= 0 || q > open.Quantile(.999) {
				t.Errorf("quantiles out of order: p50 %v p99.9 %v", q, open.Quantile(.999))
			}
		})
	}
	if s := pgStats(); s.MissLookups == 0 || s.MissLookups > 20 {
		// The flood's unknown well-formed keys reach the store only at the
		// default trickle of 20 per second (burst 20).
		t.Errorf("store look-ups = %d, want 1..20", s.MissLookups)
	}
}

// The conventional baseline answers exactly as the baseline does: only
// the way it serves the answer differs. Asked with go-control-plane's own
// client.
func TestBaselinesAnswerAlike(t *testing.T) {
	var got []*authv3.CheckResponse
	for _, kind := range []string{"baseline", "conventional"} {
		addr, _ := serveInProcess(t, ServeOptions{Kind: kind})
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		resp, err := authv3.NewAuthorizationClient(conn).Check(context.Background(), Request("authorization", "Bearer anything", 0))
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if resp.GetOkResponse() == nil {
			t.Fatalf("%s answered %v, want an allow", kind, resp)
		}
		got = append(got, resp)
	}
	if !proto.Equal(got[0], got[1]) {
		t.Errorf("the baselines answer differently:\n baseline     %v\n conventional %v", got[0], got[1])
	}
}

// forgedTokenRequests returns requests whose tokens claim to come from
// issuer for the registered client, with every claim right, but are signed
// by keys the issuer never published: an RSA key under the issuer's own
// RS256 kid, and a P-256 key under a kid it does not know.
func forgedTokenRequests(t *testing.T, issuer string) [][]byte {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for i := range 4 {
		method, kid, key := jwt.SigningMethod(jwt.SigningMethodRS256), kidRS256, any(rk)
		if i%2 == 1 {
			method, kid, key = jwt.SigningMethodES256, "pgload-unknown", ek
		}
		tok, err := mint(method, kid, key, issuer, "forged-"+string(rune('a'+i)), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Marshal(Request("authorization", "Bearer "+tok, i)))
	}
	return out
}

// The machine line reads the CPUs and the huge-page mode as the kernel
// writes them, and says "?" for what it cannot read.
func TestDescribeMachine(t *testing.T) {
	cpuinfo := "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu\n\nprocessor\t: 1\nmodel name\t: other\n"
	if n, model := cpuInfo(cpuinfo); n != 2 || model != "Intel(R) Xeon(R) Processor" {
		t.Errorf("cpuInfo = %d, %q; want 2 and the first model", n, model)
	}
	if n, model := cpuInfo("processor\t: 0\n"); n != 1 || model != "?" {
		t.Errorf("cpuInfo without a model = %d, %q; want 1, ?", n, model)
	}
	for in, want := range map[string]string{"always [madvise] never\n": "madvise", "[always] madvise never": "always", "madvise": "?", "": "?"} {
		if got := selected(in); got != want {
			t.Errorf("selected(%q) = %q, want %q", in, got, want)
		}
	}
	if d := describeMachine(); !strings.Contains(d, runtime.Version()) {
		t.Errorf("describeMachine = %q, want the Go version in it", d)
	}
}

func TestProcReaders(t *testing.T) {
	// Burn measurable CPU so the reading cannot be a stuck zero. The burn
	// is measured by the kernel's own account of this process's CPU time
	// (getrusage), not by the wall clock, which a shared, busy machine
	// stretches: 100 ms of CPU, whatever else runs.
	before, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	start := rusageCPU(t)
	x := 0
	for rusageCPU(t)-start < 100*time.Millisecond {
		for range 10_000 {
			x++
		}
	}
	after, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d := after - before; d < 50*time.Millisecond || d > 10*time.Second {
		t.Errorf("cpu time grew by %v over 100ms of CPU spent spinning (x=%d)", d, x)
	}
	n, err := rss(os.Getpid())
	if err != nil || n < 1<<20 {
		t.Errorf("rss = %d, %v; want at least 1 MiB", n, err)
	}
}

func TestRequestIsRealistic(t *testing.T) {
	req := Request("authorization", "Bearer "+strings.Repeat("k", 58), 1)
	if n := len(req.GetAttributes().GetRequest().GetHttp().GetHeaders()); n != 15 {
		t.Errorf("%d headers, want 15", n)
	}
	if n := len(req.GetAttributes().GetContextExtensions()); n != 3 {
		t.Errorf("%d context extensions, want 3", n)
	}
	if n := len(Marshal(req)); n < 800 || n > 1000 {
		t.Errorf("request is %d bytes, want about 870 as Envoy sends", n)
	}
}

// TestSummarizePairsRounds checks that a figure's ratio is the median of
// the rounds' own ratios, with their range, not the ratio of the two
// servers' medians (here 90/100 = 0.90), which a machine whose speed
// drifts between rounds skews.
func TestSummarizePairsRounds(t *testing.T) {
	rates := func(rs ...float64) []sample {
		var ss []sample
		for _, r := range rs {
			ss = append(ss, sample{closedLoop: closedLoop{closedRate: r}})
		}
		return ss
	}
	pg := rates(80, 170, 90)
	base := rates(90, 200, 100) // rounds: 0.89, 0.85, 0.90
	var out strings.Builder
	summarize(&out, BenchOptions{Rounds: 3, Duration: time.Second, Keys: 10, SkipJWT: true}, pg, base)
	line := ""
	for l := range strings.Lines(out.String()) {
		if strings.Contains(l, "closed-loop throughput (grpc-go client)") {
			line = l
		}
	}
	if fields := strings.Fields(line); len(fields) < 2 || fields[len(fields)-2] != "0.89" || fields[len(fields)-1] != "0.85–0.90" {
		t.Errorf("throughput row = %q, want ratio 0.89 (median of the rounds) and range 0.85–0.90", line)
	}
}

// rusageCPU returns the user and system CPU time this process has used,
// as getrusage(2) reports it.
func rusageCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestSummarizeSpreadPairsRounds checks the figures of many credentials
// in use: partnergate's throughput against its own with fewer in the
// same round, and the server CPU per Check it adds over the baseline,
// against that addition with fewer, each a median of the rounds' own;
// the run of the same keys again has a row of its own.
func TestSummarizeSpreadPairsRounds(t *testing.T) {
	// closed returns a round's figures: rate and CPU per Check at Hot
	// keys, at the one Spread number of keys, and at those keys again.
	closed := func(rate, cpu, spreadRate, spreadCPU, againRate, againCPU float64) sample {
		return sample{
			closedLoop:  closedLoop{closedRate: rate, closedCPU: cpu},
			spread:      []closedLoop{{closedRate: spreadRate, closedCPU: spreadCPU}},
			spreadAgain: []closedLoop{{closedRate: againRate, closedCPU: againCPU}},
		}
	}
	// Rounds' throughput ratios 0.9, 0.5, 0.8 (median 0.8); added CPU
	// 10 → 15, 10 → 30, 8 → 16 µs: ratios 1.5, 3, 2 (median 2). Again:
	// throughput 1.0, 0.6, 0.7; added 10 → 11, 10 → 12, 8 → 10 µs.
	pg := []sample{closed(100, 20, 90, 25, 100, 21), closed(200, 20, 100, 40, 120, 22), closed(100, 18, 80, 26, 70, 20)}
	base := []sample{closed(300, 10, 300, 10, 300, 10), closed(300, 10, 270, 10, 300, 10), closed(300, 10, 300, 10, 300, 10)}
	var out strings.Builder
	summarizeSpread(&out, BenchOptions{Rounds: 3, Hot: 1000, Spread: []int{100000}, SkipJWT: true}, pg, base)
	lines := map[string]string{}
	for l := range strings.Lines(out.String()) {
		switch f := strings.Fields(l); {
		case len(f) > 2 && f[0] == "100000" && f[1] == "keys" && f[2] == "again":
			lines["100000 keys again"] = l
		case len(f) > 2 && f[0] == "100000" && f[1] == "keys":
			lines["100000 keys"] = l
		}
	}
	for row, wants := range map[string][]string{
		"100000 keys":       {"0.80 (0.50–0.90)", "1.00 (0.90–1.00)", "10.00 (8.00–10.00) µs", "16.00 (15.00–30.00) µs", "2.00 (1.50–3.00)"},
		"100000 keys again": {"0.70 (0.60–1.00)", "1.00 (1.00–1.00)", "10.00 (8.00–10.00) µs", "11.00 (10.00–12.00) µs", "1.20 (1.10–1.25)"},
	} {
		for _, want := range wants {
			if !strings.Contains(lines[row], want) {
				t.Errorf("row %q = %q, want %q in it\n%s", row, lines[row], want, out.String())
			}
		}
	}
}
