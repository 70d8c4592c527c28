package cache

import (
	"context"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
)

// TestPartnerLimitsFollowTheFeed: a partner's own rate limits, loaded
// with the snapshot and then set and cleared on a real SQLite store, reach
// a running cache through the change feed (Run, woken by the store's
// notification), as Check reads them.
func TestPartnerLimitsFollowTheFeed(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t)
	p := &partner.Partner{ID: "acme", Tier: "free", State: partner.Active, Limits: partner.Limits{PerDay: 7}}
	if err := s.CreatePartner(ctx, p, auditEv("partner.create")); err != nil {
		t.Fatal(err)
	}
	other := &partner.Partner{ID: "other", Tier: "free", State: partner.Active}
	if err := s.CreatePartner(ctx, other, auditEv("partner.create")); err != nil {
		t.Fatal(err)
	}
	// A long poll interval: only the store's notification can wake Run.
	c, err := New(s, Options{PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Partner("acme"); got == nil || got.Limits != p.Limits {
		t.Fatalf("after Load: %+v, want limits %+v", got, p.Limits)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { c.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	for _, want := range []partner.Limits{
		{PerSecond: 50, PerMinute: 600},
		{PerDay: 1},
		{}, // cleared: the tier's limits again
	} {
		if _, err := s.SetPartnerLimits(ctx, "acme", want, auditEv("partner.set_limits")); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			got, ok := c.Partner("acme")
			if ok && got.Limits == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("limits %+v not applied within 5s: cache holds %+v", want, got)
			}
			time.Sleep(time.Millisecond)
		}
		if o, _ := c.Partner("other"); o == nil || !o.Limits.IsZero() {
			t.Errorf("other partner's limits changed: %+v", o)
		}
	}
}
