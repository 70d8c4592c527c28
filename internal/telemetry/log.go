package telemetry

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/partnergate/partnergate/authz"
)

// NewLogger returns a JSON or text logger at level, writing to w, that
// redacts attributes whose names suggest a credential.
func NewLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: redact}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// sensitive lists attribute-name fragments that never reach a log.
var sensitive = []string{"authorization", "api-key", "api_key", "apikey", "secret", "token", "password", "pepper", "cookie"}

func redact(_ []string, a slog.Attr) slog.Attr {
	key := strings.ToLower(a.Key)
	for _, s := range sensitive {
		if strings.Contains(key, s) {
			return slog.String(a.Key, "[redacted]")
		}
	}
	return a
}

// DecisionLog writes Check decisions to an audit logger: denials, and
// allows at a sample rate. Use of a revoked or expired key and
// cross-tenant attempts are logged at warning level, every one. Other
// denials (missing, malformed, unknown credentials: what a flood of
// garbage is made of) are written up to a rate; the rest are counted
// ([DecisionLog.Suppressed]) and the count since the last report is
// written as a warning before the next entry (at most once a second) and
// at Close, so a flood cannot turn the audit log into its amplifier.
//
// Check never waits for it: a decision is handed to a bounded queue and
// written by one goroutine; when the queue is full the entry is dropped
// and counted ([DecisionLog.Dropped]), since a slow log must not slow or
// stall authorization. Build it with [NewDecisionLog]; Close drains it.
type DecisionLog struct {
	log    *slog.Logger
	sample float64
	rand   func() float64
	now    func() time.Time

	denyLimit   *rate.Limiter // nil: every denial is written
	suppressed  atomic.Int64  // since start
	unsummed    atomic.Int64  // since the last summary line
	lastSummary time.Time     // writer goroutine only

	scrub scrubber

	// The per-partner bound of warnings, kept by the writer goroutine
	// alone, so that Check takes no lock for it.
	warnRate       float64                   // 0: every warning is written
	warnLimits     map[warnKey]*rate.Limiter // writer goroutine only
	warnUnsummed   map[string]int64          // by partner; writer goroutine only
	warnSuppressed atomic.Int64              // since start

	// queue holds pointers: the collector scans a channel's whole buffer
	// on every cycle, used or not, and 4,096 entries by value were 1.4 MiB
	// of pointer-bearing memory, 40 % of what it scanned in a serving
	// replica; by pointer they are 32 KiB, and an entry is allocated only
	// for a decision that is written.
	queue   chan *auditEntry
	dropped atomic.Int64
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// DecisionLogOptions configures a [DecisionLog]; zero values select the
// defaults named.
type DecisionLogOptions struct {
	// AllowSample is the fraction of allows logged, 0 to 1 (default 0:
	// denials only).
	AllowSample float64
	// DenyRate bounds the low-severity denials written, per second, with
	// bursts of as many (default 0: no bound). High-severity denials are
	// always written.
	DenyRate float64
	// WarnRatePerPartner bounds the high-severity denials written for
	// one partner's credential, per second, with bursts of as many
	// (default 0: no bound). What is not written is counted
	// ([DecisionLog.WarnSuppressed]) and reported per partner, as
	// DenyRate's are: a partner holding a valid key could otherwise fill
	// the log with tenant_mismatch warnings at will. The bound is kept per
	// credential of the partner, so that the first uses of each of many
	// revoked keys are all written while a flood through any one is cut.
	WarnRatePerPartner float64
	// KeyPrefix is the API key prefix, so that a key sent where it does
	// not belong is redacted from a logged path (default apikey's).
	KeyPrefix string
	// Queue is how many entries may wait to be written (default 4096).
	Queue int
	// Rand draws the sampling number in [0, 1) (default math/rand/v2).
	Rand func() float64
	// Now stamps each entry with its decision time (default time.Now).
	Now func() time.Time
}

type auditEntry struct {
	at      time.Time
	level   slog.Level
	d       authz.Decision
	traceID trace.TraceID
}

// NewDecisionLog starts a decision log writing to log.
func NewDecisionLog(log *slog.Logger, opts DecisionLogOptions) *DecisionLog {
	if opts.Queue <= 0 {
		opts.Queue = 4096
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &DecisionLog{
		log: log, sample: opts.AllowSample, rand: opts.Rand, now: opts.Now,
		queue:    make(chan *auditEntry, opts.Queue),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		scrub:    newScrubber(opts.KeyPrefix),
		warnRate: opts.WarnRatePerPartner,
	}
	if l.warnRate > 0 {
		l.warnLimits = make(map[warnKey]*rate.Limiter)
		l.warnUnsummed = make(map[string]int64)
	}
	if opts.DenyRate > 0 {
		l.denyLimit = rate.NewLimiter(rate.Limit(opts.DenyRate), max(1, int(opts.DenyRate)))
	}
	go l.run()
	return l
}

var _ authz.Auditor = (*DecisionLog)(nil)

// Decision implements [authz.Auditor]. It never blocks.
func (l *DecisionLog) Decision(ctx context.Context, d authz.Decision) {
	if d.Allowed() && (l.sample <= 0 || l.rand() >= l.sample) {
		return
	}
	now := l.now()
	level := slog.LevelInfo
	if d.Reason.HighSeverity() {
		level = slog.LevelWarn
	} else if !d.Allowed() && l.denyLimit != nil && !l.denyLimit.AllowN(now, 1) {
		l.suppressed.Add(1)
		l.unsummed.Add(1)
		return
	}
	e := &auditEntry{at: now, level: level, d: d, traceID: trace.SpanContextFromContext(ctx).TraceID()}
	select {
	case l.queue <- e:
	default:
		l.dropped.Add(1)
	}
}

// Dropped returns how many entries were dropped because the queue was
// full.
func (l *DecisionLog) Dropped() int64 { return l.dropped.Load() }

// Suppressed returns how many low-severity denials were not written
// because they came faster than DenyRate.
func (l *DecisionLog) Suppressed() int64 { return l.suppressed.Load() }

// WarnSuppressed returns how many high-severity denials were not written
// because they came faster than WarnRatePerPartner for their partner.
func (l *DecisionLog) WarnSuppressed() int64 { return l.warnSuppressed.Load() }

// warnKey is what the warning bound is kept for: a partner's credential.
type warnKey struct{ partnerID, credentialID string }

// maxWarnPartners bounds the per-credential limiters kept; past it they are
// forgotten and start afresh, which only ever writes more.
const maxWarnPartners = 10_000

// Close writes what is queued and stops the writer. Decisions after Close
// are dropped.
func (l *DecisionLog) Close() error {
	l.once.Do(func() { close(l.stop) })
	<-l.done
	return nil
}

func (l *DecisionLog) run() {
	defer close(l.done)
	for {
		select {
		case e := <-l.queue:
			l.write(e)
		case <-l.stop:
			for {
				select {
				case e := <-l.queue:
					l.write(e)
				default:
					// Later decisions fill the queue, unread, and then
					// drop: they never wait.
					l.summarize(l.now(), true)
					return
				}
			}
		}
	}
}

func (l *DecisionLog) write(e *auditEntry) {
	l.summarize(e.at, false)
	if e.level == slog.LevelWarn && !l.warnAllowed(e) {
		return
	}
	ctx := context.Background()
	h := l.log.Handler()
	if !h.Enabled(ctx, e.level) {
		return
	}
	// Every request-derived field is scrubbed and bounded here, on the
	// writer goroutine, off the Check path.
	e.d.Path = l.scrub.path(e.d.Path)
	e.d.Method = l.scrub.field(e.d.Method, maxMethodLen)
	e.d.RequestID = l.scrub.field(e.d.RequestID, maxFieldLen)
	e.d.ClientAddr = l.scrub.field(e.d.ClientAddr, maxFieldLen)
	e.d.Detail = l.scrub.field(e.d.Detail, maxFieldLen)
	r := slog.NewRecord(e.at, e.level, "decision", 0)
	r.AddAttrs(slog.Any("decision", &e.d))
	if e.traceID.IsValid() {
		r.AddAttrs(slog.String("trace_id", e.traceID.String()))
	}
	_ = h.Handle(ctx, r)
}

// warnAllowed reports whether e's credential is within WarnRatePerPartner,
// counting e if it is not.
func (l *DecisionLog) warnAllowed(e *auditEntry) bool {
	if l.warnRate <= 0 {
		return true
	}
	k := warnKey{e.d.PartnerID, e.d.CredentialID}
	lim := l.warnLimits[k]
	if lim == nil {
		if len(l.warnLimits) >= maxWarnPartners {
			clear(l.warnLimits)
		}
		lim = rate.NewLimiter(rate.Limit(l.warnRate), max(1, int(l.warnRate)))
		l.warnLimits[k] = lim
	}
	if lim.AllowN(e.at, 1) {
		return true
	}
	l.warnSuppressed.Add(1)
	l.warnUnsummed[k.partnerID]++
	return false
}

// summarize writes how many denials went unwritten since the last
// summary, if any did and a second has passed (or final is set).
func (l *DecisionLog) summarize(at time.Time, final bool) {
	if l.unsummed.Load() == 0 && len(l.warnUnsummed) == 0 || !final && at.Sub(l.lastSummary) < time.Second {
		return
	}
	n := l.unsummed.Swap(0)
	l.lastSummary = at
	ctx := context.Background()
	h := l.log.Handler()
	if !h.Enabled(ctx, slog.LevelWarn) {
		clear(l.warnUnsummed)
		return
	}
	if n > 0 {
		r := slog.NewRecord(at, slog.LevelWarn, "denials not written: over audit_deny_rate", 0)
		r.AddAttrs(slog.Int64("suppressed", n))
		_ = h.Handle(ctx, r)
	}
	for id, n := range l.warnUnsummed {
		r := slog.NewRecord(at, slog.LevelWarn, "high-severity denials not written: over audit_warn_rate_per_partner", 0)
		r.AddAttrs(slog.String("partner_id", id), slog.Int64("suppressed", n))
		_ = h.Handle(ctx, r)
	}
	clear(l.warnUnsummed)
}

// Auditors hands each decision to every auditor, in order. Each must not
// block.
type Auditors []authz.Auditor

var _ authz.Auditor = Auditors(nil)

// Decision implements [authz.Auditor].
func (a Auditors) Decision(ctx context.Context, d authz.Decision) {
	for _, x := range a {
		x.Decision(ctx, d)
	}
}
