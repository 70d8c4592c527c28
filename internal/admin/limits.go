package admin

import (
	"context"
	"fmt"

	"github.com/partnergate/partnergate/internal/partner"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// SetPartnerLimits replaces a partner's own rate limits, or clears them.
func (s *Server) SetPartnerLimits(ctx context.Context, req *adminv1.SetPartnerLimitsRequest) (*adminv1.SetPartnerLimitsResponse, error) {
	p, err := s.setPartnerLimits(ctx, req)
	if err != nil {
		return nil, s.status(ctx, "SetPartnerLimits", err)
	}
	return &adminv1.SetPartnerLimitsResponse{Partner: partnerPB(p)}, nil
}

func (s *Server) setPartnerLimits(ctx context.Context, req *adminv1.SetPartnerLimitsRequest) (*partner.Partner, error) {
	if err := partner.ValidateID("id", req.GetId()); err != nil {
		return nil, err
	}
	if err := validateReason("reason", req.GetReason()); err != nil {
		return nil, err
	}
	l, set, err := limitsFromPB(req.GetLimits())
	switch {
	case err != nil:
		return nil, err
	case req.GetClear() && set:
		return nil, partner.Invalid("clear", "cannot be combined with limits: clear removes them all")
	case !req.GetClear() && !set:
		return nil, partner.Invalid("limits", "set at least one of per_second, per_minute, per_day, or clear")
	}
	if err := s.notDeleted(ctx, req.GetId()); err != nil {
		return nil, err
	}
	action := "partner.set_limits"
	if req.GetClear() {
		action = "partner.clear_limits"
	}
	ev := s.event(ctx, action, req.GetId(), "", req.GetReason())
	detail := l.String()
	if detail == "" {
		detail = "none (the tier's)"
	}
	ev.Detail = map[string]string{"limits": detail}
	p, err := s.Store.SetPartnerLimits(ctx, req.GetId(), l, ev)
	if err != nil {
		return nil, named(fmt.Sprintf("partner %q", req.GetId()), err)
	}
	s.committed(ctx, ev)
	return p, nil
}

// limitsFromPB converts requested limits, checking each one set; set
// reports whether any was.
func limitsFromPB(m *adminv1.Limits) (l partner.Limits, set bool, err error) {
	if m == nil {
		return l, false, nil
	}
	for _, f := range []struct {
		name string
		v    *int64
		dst  *uint32
	}{
		{"limits.per_second", m.PerSecond, &l.PerSecond},
		{"limits.per_minute", m.PerMinute, &l.PerMinute},
		{"limits.per_day", m.PerDay, &l.PerDay},
	} {
		if f.v == nil {
			continue
		}
		n, err := partner.LimitValue(f.name, *f.v)
		if err != nil {
			return partner.Limits{}, false, err
		}
		*f.dst, set = n, true
	}
	return l, set, nil
}

// limitsPB returns l's public view; nil when no limit is set.
func limitsPB(l partner.Limits) *adminv1.Limits {
	if l.IsZero() {
		return nil
	}
	opt := func(n uint32) *int64 {
		if n == 0 {
			return nil
		}
		v := int64(n)
		return &v
	}
	return &adminv1.Limits{PerSecond: opt(l.PerSecond), PerMinute: opt(l.PerMinute), PerDay: opt(l.PerDay)}
}
