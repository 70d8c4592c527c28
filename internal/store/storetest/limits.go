package storetest

import (
	"errors"
	"testing"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

// testPartnerLimits: SetPartnerLimits stores, replaces and clears a
// partner's own limits, each time in one transaction with its audit event
// and a change-feed entry, bumping the version; reads (Get, List, Snapshot)
// return them; an ordinary update keeps them; refused writes leave no trace.
func testPartnerLimits(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	p := mustCreatePartner(t, s, "acme")
	mustCreatePartner(t, s, "other")
	if !p.Limits.IsZero() {
		t.Fatalf("new partner has limits %+v", p.Limits)
	}

	steps := []struct {
		name string
		set  partner.Limits
	}{
		{"set-one-window", partner.Limits{PerSecond: 50}},
		{"replace-with-every-window", partner.Limits{PerSecond: partner.MaxPerSecond, PerMinute: partner.MaxPerMinute, PerDay: partner.MaxPerDay}},
		{"replace-drops-unnamed-windows", partner.Limits{PerDay: 10_000}},
		{"clear", partner.Limits{}},
	}
	version := p.Version
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			v, audits := lastVersion(t, s), auditCount(t, s)
			got, err := s.SetPartnerLimits(ctx, "acme", st.set, ev("partner.set_limits", "acme", ""))
			if err != nil {
				t.Fatalf("SetPartnerLimits(%+v): %v", st.set, err)
			}
			version++
			if got.Limits != st.set || got.Version != version || got.ID != "acme" || got.Tier != p.Tier {
				t.Errorf("returned %+v, want limits %+v at version %d", got, st.set, version)
			}
			if c := lastChange(t, s); c.Kind != store.KindPartner || c.ID != "acme" || c.Version != v+1 {
				t.Errorf("change = %+v, want one partner entry for acme after %d", c, v)
			}
			if n := auditCount(t, s); n != audits+1 {
				t.Errorf("%d audit events after the write, want %d", n, audits+1)
			}
			read, err := s.GetPartner(ctx, "acme")
			if err != nil || read.Limits != st.set || read.Version != version {
				t.Errorf("GetPartner = %+v, %v; want limits %+v", read, err, st.set)
			}
			list, err := s.ListPartners(ctx)
			if err != nil || len(list) != 2 || list[0].Limits != st.set || !list[1].Limits.IsZero() {
				t.Errorf("ListPartners = %v, %v; want acme with %+v and other untouched", list, err, st.set)
			}
			snap := map[string]partner.Limits{}
			if _, err := s.Snapshot(ctx, store.Visitor{
				Partner:    func(p *partner.Partner) error { snap[p.ID] = p.Limits; return nil },
				Credential: func(*partner.Credential) error { return nil },
			}); err != nil {
				t.Fatal(err)
			}
			if snap["acme"] != st.set || !snap["other"].IsZero() {
				t.Errorf("Snapshot limits = %+v, want acme %+v", snap, st.set)
			}
		})
	}

	t.Run("update-partner-keeps-limits", func(t *testing.T) {
		want := partner.Limits{PerMinute: 600}
		if _, err := s.SetPartnerLimits(ctx, "acme", want, ev("partner.set_limits", "acme", "")); err != nil {
			t.Fatal(err)
		}
		read, err := s.GetPartner(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		read.State = partner.Suspended
		read.Limits = partner.Limits{PerSecond: 1} // not UpdatePartner's to store
		if err := s.UpdatePartner(ctx, read, ev("partner.suspend", "acme", "")); err != nil {
			t.Fatal(err)
		}
		again, err := s.GetPartner(ctx, "acme")
		if err != nil || again.Limits != want || again.State != partner.Suspended {
			t.Errorf("after UpdatePartner: %+v, %v; want limits %+v kept", again, err, want)
		}
	})

	t.Run("stale-update-conflicts-after-set", func(t *testing.T) {
		stale, err := s.GetPartner(ctx, "other")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetPartnerLimits(ctx, "other", partner.Limits{PerSecond: 3}, ev("partner.set_limits", "other", "")); err != nil {
			t.Fatal(err)
		}
		stale.State = partner.Suspended
		if err := s.UpdatePartner(ctx, stale, ev("partner.suspend", "other", "")); !errors.Is(err, partner.ErrConflict) {
			t.Errorf("UpdatePartner at the version before SetPartnerLimits = %v, want ErrConflict", err)
		}
	})

	t.Run("refused-writes-leave-no-trace", func(t *testing.T) {
		v, audits := lastVersion(t, s), auditCount(t, s)
		before, err := s.GetPartner(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		var fe *partner.FieldError
		if _, err := s.SetPartnerLimits(ctx, "acme", partner.Limits{PerDay: partner.MaxPerDay + 1}, ev("partner.set_limits", "acme", "")); !errors.As(err, &fe) || fe.Field != "per_day" {
			t.Errorf("limit above its bound: %v, want a FieldError naming per_day", err)
		}
		if _, err := s.SetPartnerLimits(ctx, "ghost", partner.Limits{PerDay: 1}, ev("partner.set_limits", "ghost", "")); !errors.Is(err, partner.ErrNotFound) {
			t.Errorf("unknown partner: %v, want ErrNotFound", err)
		}
		if lastVersion(t, s) != v || auditCount(t, s) != audits {
			t.Error("a refused SetPartnerLimits reached the change feed or the audit trail")
		}
		after, err := s.GetPartner(ctx, "acme")
		if err != nil || after.Limits != before.Limits || after.Version != before.Version {
			t.Errorf("after refused writes: %+v, %v; want %+v unchanged", after, err, before)
		}
	})

	t.Run("create-stores-limits", func(t *testing.T) {
		np := newPartner(t, "preset")
		np.Limits = partner.Limits{PerSecond: 9, PerDay: 99}
		if err := s.CreatePartner(ctx, np, ev("partner.create", "preset", "")); err != nil {
			t.Fatal(err)
		}
		read, err := s.GetPartner(ctx, "preset")
		if err != nil || read.Limits != np.Limits {
			t.Errorf("GetPartner = %+v, %v; want limits %+v", read, err, np.Limits)
		}
	})
}
