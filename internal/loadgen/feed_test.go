package loadgen

// Test strategy: the busy-feed benchmark is worth its numbers only if its
// revocations really go through replica A's admin API and really reach
// replica B, and if what it reads of B's metrics page is what B
// measured. So TestBusyFeedHarness runs the whole harness, shortened, on
// a throwaway PostgreSQL database: two replica processes (this test
// binary re-executed as `serve`, as pgload re-executes itself), allowed
// Checks in closed loop, revocations at a low rate by an operator's
// token; it asserts every revocation succeeded and that B's histogram
// gained exactly one sample per revocation. The histogram arithmetic is
// checked on a known page.

import (
	"bytes"
	"context"
	"math"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/store/sqlstore/pgtest"
)

var roundLine = regexp.MustCompile(`feed +\d+ revocations/s \((\d+), (\d+) failed\).* (\d+) samples \| end to end .*\((\d+) probed\)`)

func TestBusyFeedHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two replicas on PostgreSQL; skipped with -short")
	}
	server := pgtest.Server(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err = BusyFeed(ctx, FeedOptions{
		Self: self, Dir: t.TempDir(), Postgres: server,
		Keys: 2000, Hot: 50, Rate: 100, Writers: 4, Rounds: 1, Duration: time.Second,
		Streams: 4, Out: &out,
	})
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	m := roundLine.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatal("no round line in the output")
	}
	revoked, _ := strconv.Atoi(m[1])
	failed, _ := strconv.Atoi(m[2])
	samples, _ := strconv.Atoi(m[3])
	probed, _ := strconv.Atoi(m[4])
	// How many revocations a loaded machine manages is not the test's
	// business; that each one succeeded and reached B is.
	if revoked < 1 || failed != 0 {
		t.Errorf("%d revocations, %d failed; want some, none failed", revoked, failed)
	}
	if samples != revoked {
		t.Errorf("replica B's propagation histogram gained %d samples over a run of %d revocations, want one each", samples, revoked)
	}
	if probed < 1 {
		t.Error("no revocation was probed end to end (the first always is)")
	}
}

func TestFeedHistogram(t *testing.T) {
	page := `# TYPE partnergate_feed_propagation_seconds histogram
partnergate_feed_propagation_seconds_bucket{le="0.01"} 0
partnergate_feed_propagation_seconds_bucket{le="0.1"} 50
partnergate_feed_propagation_seconds_bucket{le="1"} 100
partnergate_feed_propagation_seconds_bucket{le="+Inf"} 100
partnergate_feed_propagation_seconds_sum 20
partnergate_feed_propagation_seconds_count 100
partnergate_feed_propagation_max_seconds 0.9
`
	m, err := parseFeedMetrics(page)
	if err != nil {
		t.Fatal(err)
	}
	if m.max != 0.9 || m.hist.count != 100 || len(m.hist.bounds) != 4 || !math.IsInf(m.hist.bounds[3], 1) {
		t.Fatalf("parsed %+v", m)
	}
	for _, tc := range []struct{ q, want float64 }{{.25, 0.055}, {.5, 0.1}, {.99, 0.982}} {
		if got := m.hist.quantile(tc.q); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := capped(m.hist.quantile(.99), m.max); got != 0.9 {
		t.Errorf("capped p99 = %v, want the largest sample's 0.9", got)
	}
	earlier := histogram{bounds: m.hist.bounds, counts: []float64{0, 50, 50, 50}, count: 50}
	d := m.hist.sub(earlier)
	if d.count != 50 || math.Abs(d.quantile(.5)-0.55) > 1e-9 {
		t.Errorf("difference: count %v, p50 %v; want 50 samples, p50 0.55", d.count, d.quantile(.5))
	}
	if sum := earlier.add(d); sum.count != 100 || math.Abs(sum.quantile(.5)-0.1) > 1e-9 {
		t.Errorf("sum: count %v, p50 %v; want 100 samples, p50 0.1", sum.count, sum.quantile(.5))
	}
	if _, err := parseFeedMetrics("partnergate_feed_propagation_seconds_count 1\n"); err == nil {
		t.Error("a page without the maximum parsed")
	}
}
