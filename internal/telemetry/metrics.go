package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	promexporter "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"golang.org/x/sys/cpu"

	"github.com/partnergate/partnergate/authz"
	"github.com/partnergate/partnergate/internal/cache"
	"github.com/partnergate/partnergate/internal/jwtverify"
)

// CacheStats is what the metrics read of the hot index; *cache.Cache
// implements it.
type CacheStats interface {
	Stats() *cache.Stats
	Len() int
	Version() int64
	LastSync() time.Time
	// Ready reports whether Check answers from the index, as Check itself
	// decides it: pass the view Check reads, so partnergate_cache_ready
	// drops whenever Check refuses with UNAVAILABLE.
	Ready() bool
}

// Pinger reports whether the store is reachable.
type Pinger interface {
	Ping(ctx context.Context) error
}

// IssuerStatuser reports token issuers' key state; *jwtverify.Verifier
// implements it.
type IssuerStatuser interface {
	Status() []jwtverify.IssuerStatus
}

// Counted is anything that counts what it had to drop, such as the
// decision log and the last-used recorder.
type Counted interface {
	Dropped() int64
}

// MetricsOptions says what [NewMetrics] observes. Every field may be nil:
// its instruments then report nothing.
type MetricsOptions struct {
	Cache CacheStats
	Store Pinger
	// Issuers returns the token verifier, or nil when tokens are not
	// configured; it is called at each collection, so a verifier wired
	// after the metrics still shows up.
	Issuers func() IssuerStatuser
	// AuditLog and LastUsed report their dropped entries.
	AuditLog, LastUsed Counted
	// PingTimeout bounds the store ping made per scrape (default 1s).
	PingTimeout time.Duration
	// Now is the clock for staleness (default time.Now).
	Now func() time.Time
	// MaxPartners bounds the partners partnergate.partner.decisions
	// labels (default MaxPartnerSeries).
	MaxPartners int
}

// Metrics holds partnergate's OpenTelemetry instruments and Check's
// latency histogram, and serves them for Prometheus. On the hot path a
// decision is an atomic add by reason and, for an identified partner, one
// map look-up and an atomic add by partner; a latency is a few adds.
// Everything else, decision counts included, is observed from counters at
// collection time.
type Metrics struct {
	provider *sdkmetric.MeterProvider
	registry *prometheus.Registry

	decisions decisionCounts
	partners  *partnerCounts
	duration  [3]prometheus.Observer // by result

	adminAuthFailures adminAuthCounts
	leaks             leakCounts
	feed              feedPropagation
}

// AdminAuthMethods are the values of partnergate.admin.auth_failures'
// method attribute; any other is counted as "none".
var AdminAuthMethods = []string{"operator_token", "oidc", "client_certificate", "bootstrap", "none"}

// adminAuthCounts counts failed admin authentications by method. The
// attribute set is fixed: no per-source attribute, whose cardinality an
// attacker would choose.
type adminAuthCounts struct {
	counts [5]atomic.Int64 // by index in AdminAuthMethods
	attrs  [5]metric.ObserveOption
}

// AdminAuthFailed counts one failed admin authentication by method.
func (m *Metrics) AdminAuthFailed(method string) {
	i := len(AdminAuthMethods) - 1
	for j, s := range AdminAuthMethods {
		if s == method {
			i = j
		}
	}
	m.adminAuthFailures.counts[i].Add(1)
}

// decisionCounts counts decisions by reason, for the partnergate.decisions
// counter. The index is read-only after NewMetrics.
type decisionCounts struct {
	index  map[authz.Reason]int
	counts []paddedCount // by index; the last counts reasons outside authz.Reasons
	attrs  []metric.ObserveOption
}

// paddedCount keeps each count on its own cache line: allows and a flood
// of denials are counted from every core at once.
type paddedCount struct {
	n atomic.Int64
	_ cpu.CacheLinePad
}

func newDecisionCounts() decisionCounts {
	all := authz.Reasons()
	c := decisionCounts{index: make(map[authz.Reason]int, len(all)), counts: make([]paddedCount, len(all)+1)}
	for i, r := range append(all, "unlisted") {
		result := "deny"
		if r == authz.ReasonAllowed {
			result = "allow"
		}
		c.index[r] = i
		c.attrs = append(c.attrs, metric.WithAttributeSet(attribute.NewSet(
			attribute.String("result", result), attribute.String("reason", string(r)))))
	}
	return c
}

// observe reports every reason counted so far.
func (c *decisionCounts) observe(_ context.Context, o metric.Int64Observer) error {
	for i := range c.counts {
		if n := c.counts[i].n.Load(); n > 0 {
			o.Observe(n, c.attrs[i])
		}
	}
	return nil
}

// Check outcomes, the result label of partnergate_check_duration_seconds.
const (
	resultAllow = iota
	resultDeny
	resultError
)

// NewMetrics builds the meter provider, its Prometheus exporter and every
// instrument.
func NewMetrics(opts MetricsOptions) (*Metrics, error) {
	if opts.PingTimeout <= 0 {
		opts.PingTimeout = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxPartners <= 0 {
		opts.MaxPartners = MaxPartnerSeries
	}
	reg := prometheus.NewRegistry()
	// The process's own health: goroutines, GC, memory, file descriptors.
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exp, err := promexporter.New(promexporter.WithRegisterer(reg), promexporter.WithoutScopeInfo(), promexporter.WithoutTargetInfo())
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	m := &Metrics{provider: mp, registry: reg, decisions: newDecisionCounts(), partners: newPartnerCounts(opts.MaxPartners)}
	// Check's latency is a Prometheus histogram in the same registry, not
	// an OpenTelemetry one: the SDK normalises the attribute set on every
	// record, a large share of a Check answered from memory, while an
	// observer resolved once here costs a few atomic adds (BENCHMARKS.md).
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "partnergate_check_duration_seconds",
		Help: "Time to answer one Check, by result (allow, deny, error).",
		// Check answers from memory: microseconds to a few ms.
		Buckets: []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25},
	}, []string{"result"})
	if err := reg.Register(duration); err != nil {
		_ = mp.Shutdown(context.Background())
		return nil, fmt.Errorf("telemetry: metrics: %w", err)
	}
	for i, r := range [...]string{resultAllow: "allow", resultDeny: "deny", resultError: "error"} {
		m.duration[i] = duration.WithLabelValues(r)
	}
	meter := mp.Meter("github.com/partnergate/partnergate")
	var errs []error
	add := func(err error) { errs = append(errs, err) }

	_, err = meter.Int64ObservableCounter("partnergate.decisions",
		metric.WithDescription("Check decisions by result (allow, deny) and internal reason code."),
		metric.WithInt64Callback(m.decisions.observe))
	add(err)

	_, err = meter.Int64ObservableCounter("partnergate.partner.decisions",
		metric.WithDescription(fmt.Sprintf("Check decisions by partner and result (allow, deny), for decisions whose credential was validated and named a partner; "+
			"partners past the first %d seen count under partner_id=%q.", opts.MaxPartners, OtherPartner)),
		metric.WithInt64Callback(m.partners.observe))
	add(err)

	for i, s := range AdminAuthMethods {
		m.adminAuthFailures.attrs[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("method", s)))
	}
	_, err = meter.Int64ObservableCounter("partnergate.admin.auth_failures",
		metric.WithDescription("Failed admin API authentications by method (operator_token, oidc, client_certificate, bootstrap, none)."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			for i := range m.adminAuthFailures.counts {
				o.Observe(m.adminAuthFailures.counts[i].Load(), m.adminAuthFailures.attrs[i])
			}
			return nil
		}))
	add(err)

	add(m.observeCache(meter, opts))
	add(m.observeStore(meter, opts))
	add(m.observeIssuers(meter, opts))
	add(m.observeDrops(meter, opts))
	add(m.observeLeaks(meter, opts.MaxPartners))
	add(m.observeFeed(meter, opts))
	if err := errors.Join(errs...); err != nil {
		_ = mp.Shutdown(context.Background())
		return nil, fmt.Errorf("telemetry: metrics: %w", err)
	}
	return m, nil
}

// Handler serves the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// MeterProvider is the provider, for other instrumentation (otelgrpc).
func (m *Metrics) MeterProvider() metric.MeterProvider { return m.provider }

// Shutdown stops the meter provider.
func (m *Metrics) Shutdown(ctx context.Context) error { return m.provider.Shutdown(ctx) }

// Decision implements [authz.Auditor]: it counts d by result and reason,
// and by partner when d has one. The label sets are bounded: reasons are
// authz.Reasons, and any other is counted as "unlisted"; partners are
// bounded by MetricsOptions.MaxPartners.
func (m *Metrics) Decision(_ context.Context, d authz.Decision) {
	i, ok := m.decisions.index[d.Reason]
	if !ok {
		i = len(m.decisions.counts) - 1
	}
	m.decisions.counts[i].n.Add(1)
	// authz sets PartnerID only from a validated credential (a key whose
	// secret matched, a verified token's registered client), never from
	// the request: a guessed key or a forged token counts nowhere here.
	if d.PartnerID != "" {
		m.partners.add(d.PartnerID, d.Allowed())
	}
}

var _ authz.Auditor = (*Metrics)(nil)

// ObserveCheck records one check's latency by outcome: allowed, denied,
// or failed when err is not nil. A nil m records nothing.
func (m *Metrics) ObserveCheck(took time.Duration, allowed bool, err error) {
	if m == nil {
		return
	}
	result := resultDeny
	switch {
	case err != nil:
		result = resultError
	case allowed:
		result = resultAllow
	}
	m.duration[result].Observe(took.Seconds())
}

func (m *Metrics) observeCache(meter metric.Meter, opts MetricsOptions) error {
	c := opts.Cache
	if c == nil {
		return nil
	}
	lookups, err1 := meter.Int64ObservableCounter("partnergate.cache.lookups",
		metric.WithDescription("Key look-ups in the hot cache by outcome: hit, miss (not cached), negative_hit (remembered unknown), store_lookup (a miss looked up in the store)."))
	size, err2 := meter.Int64ObservableGauge("partnergate.cache.keys",
		metric.WithDescription("Credentials held in the hot cache, tombstones included."))
	version, err3 := meter.Int64ObservableGauge("partnergate.feed.version",
		metric.WithDescription("Last change-feed version applied to the cache."))
	age, err4 := meter.Float64ObservableGauge("partnergate.feed.staleness", metric.WithUnit("s"),
		metric.WithDescription("Seconds since the change feed was last read successfully: how stale the cache may be."))
	ready, err5 := meter.Int64ObservableGauge("partnergate.cache.ready",
		metric.WithDescription("1 while Check answers from the cache: loaded, and not stale; 0 while Check refuses every request with UNAVAILABLE."))
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return err
	}
	outcome := func(s string) metric.ObserveOption {
		return metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", s)))
	}
	hit, miss, neg, look := outcome("hit"), outcome("miss"), outcome("negative_hit"), outcome("store_lookup")
	_, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := c.Stats()
		o.ObserveInt64(lookups, st.Hits.Load(), hit)
		o.ObserveInt64(lookups, st.Misses.Load(), miss)
		o.ObserveInt64(lookups, st.NegativeHits.Load(), neg)
		o.ObserveInt64(lookups, st.MissLookups.Load(), look)
		o.ObserveInt64(size, int64(c.Len()))
		o.ObserveInt64(version, c.Version())
		if c.Ready() {
			o.ObserveInt64(ready, 1)
		} else {
			o.ObserveInt64(ready, 0)
		}
		// Staleness matters most when it has made the cache not ready.
		if last := c.LastSync(); last.UnixNano() > 0 {
			o.ObserveFloat64(age, opts.Now().Sub(last).Seconds())
		}
		return nil
	}, lookups, size, version, age, ready)
	return err
}

func (m *Metrics) observeStore(meter metric.Meter, opts MetricsOptions) error {
	st := opts.Store
	if st == nil {
		return nil
	}
	_, err := meter.Int64ObservableGauge("partnergate.store.up",
		metric.WithDescription("1 if the store answered a ping at collection time, else 0."),
		metric.WithInt64Callback(func(ctx context.Context, o metric.Int64Observer) error {
			ctx, cancel := context.WithTimeout(ctx, opts.PingTimeout)
			defer cancel()
			if st.Ping(ctx) == nil {
				o.Observe(1)
			} else {
				o.Observe(0)
			}
			return nil
		}))
	return err
}

func (m *Metrics) observeIssuers(meter metric.Meter, opts MetricsOptions) error {
	if opts.Issuers == nil {
		return nil
	}
	last, err1 := meter.Float64ObservableGauge("partnergate.jwks.last_refresh", metric.WithUnit("s"),
		metric.WithDescription("Unix time of the issuer's last successful key load; 0 if never."))
	ok, err2 := meter.Int64ObservableGauge("partnergate.jwks.refresh_ok",
		metric.WithDescription("1 if the issuer's last key fetch succeeded, else 0."))
	keys, err3 := meter.Int64ObservableGauge("partnergate.jwks.keys",
		metric.WithDescription("Usable keys loaded for the issuer."))
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	_, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		v := opts.Issuers()
		if v == nil {
			return nil
		}
		// The issuer label is bounded by configuration.
		for _, is := range v.Status() {
			set := metric.WithAttributeSet(attribute.NewSet(attribute.String("issuer", is.Issuer)))
			var t float64
			if !is.LastRefresh.IsZero() {
				t = float64(is.LastRefresh.UnixNano()) / 1e9
			}
			o.ObserveFloat64(last, t, set)
			good := int64(0)
			if is.LastError == nil && !is.LastRefresh.IsZero() {
				good = 1
			}
			o.ObserveInt64(ok, good, set)
			o.ObserveInt64(keys, int64(is.Keys), set)
		}
		return nil
	}, last, ok, keys)
	return err
}

func (m *Metrics) observeDrops(meter metric.Meter, opts MetricsOptions) error {
	var errs []error
	for _, c := range []struct {
		name, desc string
		src        Counted
	}{
		{"partnergate.audit.dropped", "Decision audit entries dropped because the writer fell behind.", opts.AuditLog},
		{"partnergate.last_used.dropped", "Last-used updates dropped because the recorder fell behind or a flush failed.", opts.LastUsed},
	} {
		if c.src == nil {
			continue
		}
		src := c.src
		_, err := meter.Int64ObservableCounter(c.name, metric.WithDescription(c.desc),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				o.Observe(src.Dropped())
				return nil
			}))
		errs = append(errs, err)
	}
	if s, ok := opts.AuditLog.(interface{ Suppressed() int64 }); ok {
		_, err := meter.Int64ObservableCounter("partnergate.audit.suppressed",
			metric.WithDescription("Low-severity denials not written to the audit log because they came faster than audit_deny_rate."),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				o.Observe(s.Suppressed())
				return nil
			}))
		errs = append(errs, err)
	}
	if s, ok := opts.AuditLog.(interface{ WarnSuppressed() int64 }); ok {
		_, err := meter.Int64ObservableCounter("partnergate.audit.warn_suppressed",
			metric.WithDescription("High-severity denials not written to the audit log because one partner's came faster than audit_warn_rate_per_partner."),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				o.Observe(s.WarnSuppressed())
				return nil
			}))
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
