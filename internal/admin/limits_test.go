package admin_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/partnergate/partnergate/internal/partner"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

func limitsPB(s, m, d int64) *adminv1.Limits {
	l := &adminv1.Limits{}
	if s != 0 {
		l.PerSecond = proto.Int64(s)
	}
	if m != 0 {
		l.PerMinute = proto.Int64(m)
	}
	if d != 0 {
		l.PerDay = proto.Int64(d)
	}
	return l
}

// TestSetPartnerLimits: set, replace and clear over real gRPC; each write
// is audited with the operator and reason, applied to the serving
// replica's cache before the call returns, and shown by GetPartner and
// ListPartners.
func TestSetPartnerLimits(t *testing.T) {
	e := newEnv(t)
	e.createPartner(t, "acme", "orders:read")
	e.createPartner(t, "other", "orders:read")
	steps := []struct {
		name       string
		req        *adminv1.SetPartnerLimitsRequest
		want       partner.Limits
		wantAction string
		wantDetail string
	}{
		{"set-per-second", &adminv1.SetPartnerLimitsRequest{Id: "acme", Limits: limitsPB(50, 0, 0), Reason: "launch week"},
			partner.Limits{PerSecond: 50}, "partner.set_limits", "per_second=50"},
		{"replace-with-minute-and-day", &adminv1.SetPartnerLimitsRequest{Id: "acme", Limits: limitsPB(0, 600, 10_000)},
			partner.Limits{PerMinute: 600, PerDay: 10_000}, "partner.set_limits", "per_minute=600 per_day=10000"},
		{"at-the-bounds", &adminv1.SetPartnerLimitsRequest{Id: "acme", Limits: limitsPB(partner.MaxPerSecond, partner.MaxPerMinute, partner.MaxPerDay)},
			partner.Limits{PerSecond: partner.MaxPerSecond, PerMinute: partner.MaxPerMinute, PerDay: partner.MaxPerDay}, "partner.set_limits",
			"per_second=1000000 per_minute=60000000 per_day=1000000000"},
		{"clear", &adminv1.SetPartnerLimitsRequest{Id: "acme", Clear: true, Reason: "back to the tier"},
			partner.Limits{}, "partner.clear_limits", "none (the tier's)"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			syncs := e.sync.Calls()
			resp, err := e.client.SetPartnerLimits(e.ctx(t), st.req)
			if err != nil {
				t.Fatalf("SetPartnerLimits: %v", err)
			}
			want := limitsOf(st.want)
			if !proto.Equal(resp.GetPartner().GetLimits(), want) {
				t.Errorf("response limits = %v, want %v", resp.GetPartner().GetLimits(), want)
			}
			if st.want.IsZero() && resp.GetPartner().GetLimits() != nil {
				t.Errorf("cleared limits reported as %v, want unset", resp.GetPartner().GetLimits())
			}
			if e.sync.Calls() != syncs+1 {
				t.Error("the write did not sync the serving replica's cache")
			}
			if p, ok := e.cache.Partner("acme"); !ok || p.Limits != st.want {
				t.Errorf("cache holds %+v, want limits %+v when the call returns", p, st.want)
			}
			got, err := e.client.GetPartner(e.ctx(t), &adminv1.GetPartnerRequest{Id: "acme"})
			if err != nil || !proto.Equal(got.GetPartner().GetLimits(), want) {
				t.Errorf("GetPartner limits = %v, %v; want %v", got.GetPartner().GetLimits(), err, want)
			}
			list, err := e.client.ListPartners(e.ctx(t), &adminv1.ListPartnersRequest{})
			if err != nil || len(list.GetPartners()) != 2 || !proto.Equal(list.GetPartners()[0].GetLimits(), want) || list.GetPartners()[1].GetLimits() != nil {
				t.Errorf("ListPartners = %v, %v; want acme with %v, other without", list.GetPartners(), err, want)
			}
			evs := audit(t, e, "acme")
			last := evs[len(evs)-1]
			if last.Action != st.wantAction || last.Detail["limits"] != st.wantDetail || last.Reason != st.req.GetReason() {
				t.Errorf("audit = %+v, want %s with limits %q", last, st.wantAction, st.wantDetail)
			}
		})
	}
}

func limitsOf(l partner.Limits) *adminv1.Limits {
	if l.IsZero() {
		return nil
	}
	return limitsPB(int64(l.PerSecond), int64(l.PerMinute), int64(l.PerDay))
}

// TestSetPartnerLimitsRefusals: bad input is InvalidArgument naming the
// field, an unknown partner NotFound, a call without the admin token
// Unauthenticated, and none of them writes anything.
func TestSetPartnerLimitsRefusals(t *testing.T) {
	e := newEnv(t)
	e.createPartner(t, "acme", "orders:read")
	if _, err := e.client.SetPartnerLimits(e.ctx(t), &adminv1.SetPartnerLimitsRequest{Id: "acme", Limits: limitsPB(5, 0, 0)}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		req       *adminv1.SetPartnerLimitsRequest
		wantField string
		wantCode  codes.Code
	}{
		{"bad-id", &adminv1.SetPartnerLimitsRequest{Id: "Acme!", Limits: limitsPB(1, 0, 0)}, "id", codes.InvalidArgument},
		{"nothing-to-set", &adminv1.SetPartnerLimitsRequest{Id: "acme"}, "limits", codes.InvalidArgument},
		{"empty-limits", &adminv1.SetPartnerLimitsRequest{Id: "acme", Limits: &adminv1.Limits{}}, "limits", codes.InvalidArgument},
		{"zero-per-second", &adminv1.SetPartnerLimitsRequest{Id: "acme", Limits: &adminv1.Limits{PerSecond: proto.Int64(0)}}, "limits.per_second", codes.InvalidArgument},
		{"negative-per-minute", &adminv1.SetPartnerLimitsRequest{Id: "acme", Limits: limitsPB(0, -1, 0)}, "limits.per_minute", codes.InvalidArgument},
		{"per-second-above-bound", &adminv1.SetPartnerLimitsRequest{Id: "acme", Limits: limitsPB(partner.MaxPerSecond+1, 0, 0)}, "limits.per_second", codes.InvalidArgument},
		{"per-day-above-uint32", &adminv1.SetPartnerLimitsRequest{Id: "acme", Limits: limitsPB(0, 0, 1<<40)}, "limits.per_day", codes.InvalidArgument},
		{"clear-with-limits", &adminv1.SetPartnerLimitsRequest{Id: "acme", Clear: true, Limits: limitsPB(0, 0, 9)}, "clear", codes.InvalidArgument},
		{"control-character-in-reason", &adminv1.SetPartnerLimitsRequest{Id: "acme", Limits: limitsPB(9, 0, 0), Reason: "a\nb"}, "reason", codes.InvalidArgument},
		{"unknown-partner", &adminv1.SetPartnerLimitsRequest{Id: "ghost", Limits: limitsPB(9, 0, 0)}, "", codes.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(audit(t, e, ""))
			_, err := e.client.SetPartnerLimits(e.ctx(t), tt.req)
			if tt.wantField != "" {
				wantField(t, err, tt.wantField)
			} else {
				wantCode(t, err, tt.wantCode)
			}
			if n := len(audit(t, e, "")); n != before {
				t.Errorf("a refused call wrote %d audit events", n-before)
			}
			if p, _ := e.store.GetPartner(context.Background(), "acme"); p.Limits != (partner.Limits{PerSecond: 5}) {
				t.Errorf("a refused call changed the limits to %+v", p.Limits)
			}
		})
	}

	t.Run("without-admin-token", func(t *testing.T) {
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer wrong")
		_, err := e.client.SetPartnerLimits(ctx, &adminv1.SetPartnerLimitsRequest{Id: "acme", Clear: true})
		wantCode(t, err, codes.Unauthenticated)
		if p, _ := e.store.GetPartner(context.Background(), "acme"); p.Limits.IsZero() {
			t.Error("an unauthenticated clear took effect")
		}
	})
}
