package admin

import (
	"context"

	"github.com/partnergate/partnergate/internal/partner"
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
