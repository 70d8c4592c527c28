package telemetry

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// LeakPrograms are the values of partnergate.keys.leaked's program
// attribute, the secret-scanning programs that report leaked keys.
var LeakPrograms = []string{"github", "gitlab"}

// leakCounts counts leaked keys revoked, by program. No partner or key
// attribute: the WARN log line names both, and series stay bounded.
type leakCounts struct {
	counts [2]atomic.Int64 // by index in LeakPrograms
	attrs  [2]metric.ObserveOption
}

// KeyLeaked counts one live key revoked because program reported it
// published. An unknown program is not counted.
func (m *Metrics) KeyLeaked(program string) {
	for i, p := range LeakPrograms {
		if p == program {
			m.leaks.counts[i].Add(1)
		}
	}
}

func (m *Metrics) observeLeaks(meter metric.Meter) error {
	for i, p := range LeakPrograms {
		m.leaks.attrs[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("program", p)))
	}
	_, err := meter.Int64ObservableCounter("partnergate.keys.leaked",
		metric.WithDescription("Live API keys revoked because a secret-scanning program (github, gitlab) reported them published."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			for i := range m.leaks.counts {
				o.Observe(m.leaks.counts[i].Load(), m.leaks.attrs[i])
			}
			return nil
		}))
	return err
}
