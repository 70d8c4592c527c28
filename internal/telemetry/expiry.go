package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/partnergate/partnergate/internal/expiry"
)

// ObserveKeyExpiry reports partnergate.keys.expiring, the live API keys of
// each partner expiring within 7 and within 30 days (within="7d", "30d"),
// from counts at each collection.
func (m *Metrics) ObserveKeyExpiry(counts func() map[string]expiry.Counts) error {
	_, err := m.provider.Meter("github.com/partnergate/partnergate").Int64ObservableGauge("partnergate.keys.expiring",
		metric.WithDescription("Live API keys expiring within 7 and within 30 days (within=7d, 30d), by partner."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			for pid, n := range counts() {
				o.Observe(int64(n.Week), metric.WithAttributes(attribute.String("partner_id", pid), attribute.String("within", "7d")))
				o.Observe(int64(n.Month), metric.WithAttributes(attribute.String("partner_id", pid), attribute.String("within", "30d")))
			}
			return nil
		}))
	return err
}
