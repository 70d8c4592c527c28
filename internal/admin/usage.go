package admin

import (
	"context"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// ListUnusedKeys lists live keys, across partners, unused for at least
// unused_for.
func (s *Server) ListUnusedKeys(ctx context.Context, req *adminv1.ListUnusedKeysRequest) (*adminv1.ListUnusedKeysResponse, error) {
	d := req.GetUnusedFor()
	if d == nil || d.CheckValid() != nil || d.AsDuration() <= 0 {
		return nil, s.status(ctx, "ListUnusedKeys", partner.Invalid("unused_for", "must be a positive duration"))
	}
	now := s.now()
	cs, err := s.Store.ListUnusedCredentials(ctx, now.Add(-d.AsDuration()))
	if err != nil {
		return nil, s.status(ctx, "ListUnusedKeys", err)
	}
	out := &adminv1.ListUnusedKeysResponse{Keys: make([]*adminv1.Key, 0, len(cs))}
	for _, c := range cs {
		if visible(ctx, c.PartnerID) {
			out.Keys = append(out.Keys, keyPB(c, now))
		}
	}
	return out, nil
}

// FindKeys lists live keys, across partners, by pepper version or
// expiry.
func (s *Server) FindKeys(ctx context.Context, req *adminv1.FindKeysRequest) (*adminv1.FindKeysResponse, error) {
	var f store.KeyFilter
	if req.PepperVersion != nil {
		if req.GetPepperVersion() <= 0 {
			return nil, s.status(ctx, "FindKeys", partner.Invalid("pepper_version", "must be positive"))
		}
		f.PepperVersion = int(req.GetPepperVersion())
	}
	now := s.now()
	if d := req.GetExpiringWithin(); d != nil {
		if d.CheckValid() != nil || d.AsDuration() <= 0 {
			return nil, s.status(ctx, "FindKeys", partner.Invalid("expiring_within", "must be a positive duration"))
		}
		f.ExpiresBefore = now.Add(d.AsDuration())
	}
	if f == (store.KeyFilter{}) {
		return nil, s.status(ctx, "FindKeys", partner.Invalid("pepper_version", "set pepper_version or expiring_within"))
	}
	cs, err := s.Store.FindCredentials(ctx, f)
	if err != nil {
		return nil, s.status(ctx, "FindKeys", err)
	}
	out := &adminv1.FindKeysResponse{Keys: make([]*adminv1.Key, 0, len(cs))}
	for _, c := range cs {
		if visible(ctx, c.PartnerID) {
			out.Keys = append(out.Keys, keyPB(c, now))
		}
	}
	return out, nil
}
