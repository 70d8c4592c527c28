package telemetry_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/telemetry"
)

// TestMetricsFeedPropagation checks the propagation histogram's exported
// name, buckets and sum, and that its maximum covers the last one to two
// minutes of an injected clock, then forgets.
func TestMetricsFeedPropagation(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	m, err := telemetry.NewMetrics(telemetry.MetricsOptions{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	page := func() string { t.Helper(); return scrape(t, m) }
	expect := func(step, page string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(page, "\n"+w+"\n") {
				t.Errorf("%s: metrics lack %s", step, w)
			}
		}
		if t.Failed() {
			t.Log(page)
		}
	}

	m.FeedPropagation(3 * time.Millisecond)
	m.FeedPropagation(400 * time.Millisecond)
	m.FeedPropagation(2 * time.Second)
	expect("three changes", page(),
		`partnergate_feed_propagation_seconds_bucket{le="0.001"} 0`,
		`partnergate_feed_propagation_seconds_bucket{le="0.005"} 1`,
		`partnergate_feed_propagation_seconds_bucket{le="0.5"} 2`,
		`partnergate_feed_propagation_seconds_bucket{le="1"} 2`,
		`partnergate_feed_propagation_seconds_bucket{le="2.5"} 3`,
		`partnergate_feed_propagation_seconds_bucket{le="+Inf"} 3`,
		`partnergate_feed_propagation_seconds_sum 2.403`,
		`partnergate_feed_propagation_seconds_count 3`,
		`partnergate_feed_propagation_max_seconds 2`)

	// A minute on, the 2 s change is in the previous window: still the
	// maximum. A smaller one now does not replace it.
	advance(time.Minute)
	m.FeedPropagation(10 * time.Millisecond)
	expect("a minute later", page(), `partnergate_feed_propagation_max_seconds 2`)
	// Another minute: only the 10 ms change is within the two windows.
	advance(time.Minute)
	expect("two minutes later", page(), `partnergate_feed_propagation_max_seconds 0.01`)
	// Nothing applied for two minutes: no maximum; the histogram keeps
	// every sample.
	advance(2 * time.Minute)
	expect("four minutes later", page(),
		`partnergate_feed_propagation_max_seconds 0`,
		`partnergate_feed_propagation_seconds_count 4`)
}
