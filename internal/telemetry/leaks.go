package telemetry

import (
	"context"
	"slices"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// LeakPrograms are the values of partnergate.keys.leaked's program
// attribute: the secret-scanning programs that report leaked keys, and
// scan, for keys that `partnergate scan --revoke` reported through the
// admin API.
var LeakPrograms = []string{"github", "gitlab", "scan"}

// leakCounts counts leaked keys revoked, by program and partner. A leak is
// rare and never on the Check path, so a mutex guards the map. Partners
// are bounded as partnergate.partner.decisions' are; no key attribute, as
// the WARN log line and the audit trail name the key.
type leakCounts struct {
	mu       sync.Mutex
	max      int
	partners map[string]bool
	counts   map[leakSeries]int64
}

type leakSeries struct{ program, partner string }

// KeyLeaked counts one live key of partnerID revoked because program
// reported it published. An unknown program is not counted; partners past
// the bound count under [OtherPartner].
func (m *Metrics) KeyLeaked(program, partnerID string) {
	if !slices.Contains(LeakPrograms, program) || partnerID == "" {
		return
	}
	l := &m.leaks
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.partners[partnerID] {
		if len(l.partners) >= l.max {
			partnerID = OtherPartner
		} else {
			l.partners[partnerID] = true
		}
	}
	l.counts[leakSeries{program, partnerID}]++
}

func (m *Metrics) observeLeaks(meter metric.Meter, maxPartners int) error {
	m.leaks.max = maxPartners
	m.leaks.partners = map[string]bool{}
	m.leaks.counts = map[leakSeries]int64{}
	_, err := meter.Int64ObservableCounter("partnergate.keys.leaked",
		metric.WithDescription("Live API keys revoked because a secret-scanning program (github, gitlab) or partnergate scan reported them published, by program and partner."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			m.leaks.mu.Lock()
			defer m.leaks.mu.Unlock()
			for s, n := range m.leaks.counts {
				o.Observe(n, metric.WithAttributes(attribute.String("program", s.program), attribute.String("partner_id", s.partner)))
			}
			return nil
		}))
	return err
}
