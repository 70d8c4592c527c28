package telemetry

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// How long changes take to reach this replica: the time from a change's
// commit, by the store's clock (on PostgreSQL the database server's), to
// the moment this replica's cache applied it, by this replica's clock. The
// two clocks' skew is part of every sample: on hosts kept in step by NTP,
// milliseconds.

// propagationBuckets are the histogram's bounds, in seconds: a change
// travels by notification in milliseconds, and the promise is a second.
var propagationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// propagationWindow is the span partnergate.feed.propagation.max covers:
// the changes applied in the current window and the one before it.
const propagationWindow = time.Minute

// feedPropagation is the propagation histogram and its windowed maximum.
type feedPropagation struct {
	hist metric.Float64Histogram
	max  windowMax
}

// FeedPropagation records that a change reached this replica d after its
// commit; [cache.Cache.ReportPropagation] calls it for every change the
// feed applies. A nil m records nothing.
func (m *Metrics) FeedPropagation(d time.Duration) {
	if m == nil || m.feed.hist == nil {
		return
	}
	s := d.Seconds()
	m.feed.hist.Record(context.Background(), s)
	m.feed.max.record(s)
}

func (m *Metrics) observeFeed(meter metric.Meter, opts MetricsOptions) error {
	m.feed.max = windowMax{window: propagationWindow, now: opts.Now}
	hist, err := meter.Float64Histogram("partnergate.feed.propagation", metric.WithUnit("s"),
		metric.WithDescription("Time from a change's commit, by the store's clock, to this replica applying it from the change feed, by this replica's clock (their skew included)."),
		metric.WithExplicitBucketBoundaries(propagationBuckets...))
	if err != nil {
		return err
	}
	m.feed.hist = hist
	_, err = meter.Float64ObservableGauge("partnergate.feed.propagation.max", metric.WithUnit("s"),
		metric.WithDescription("The longest partnergate.feed.propagation of the changes applied in the last one to two minutes; 0 if none."),
		metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
			o.Observe(m.feed.max.value())
			return nil
		}))
	return err
}

// windowMax is the largest value recorded in the current window or the
// one before it, so that a reading covers at least one whole window. Only
// the feed applier records and only a scrape reads, so its lock is never
// on the Check path.
type windowMax struct {
	window time.Duration
	now    func() time.Time

	mu        sync.Mutex
	start     time.Time // of the current window
	cur, prev float64
}

func (w *windowMax) record(v float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.roll(w.now())
	w.cur = max(w.cur, v)
}

func (w *windowMax) value() float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.roll(w.now())
	return max(w.cur, w.prev)
}

// roll starts a new window when the current one has ended; the caller
// holds mu.
func (w *windowMax) roll(now time.Time) {
	switch since := now.Sub(w.start); {
	case w.start.IsZero() || since >= 2*w.window || since < 0:
		w.start, w.cur, w.prev = now, 0, 0
	case since >= w.window:
		w.start, w.prev, w.cur = w.start.Add(w.window), w.cur, 0
	}
}
