package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// UpdatePartner changes a partner's tier, grants or source allow-list.
func (s *Server) UpdatePartner(ctx context.Context, req *adminv1.UpdatePartnerRequest) (*adminv1.UpdatePartnerResponse, error) {
	p, err := s.updatePartner(ctx, req)
	if err != nil {
		return nil, s.status(ctx, "UpdatePartner", err)
	}
	return &adminv1.UpdatePartnerResponse{Partner: partnerPB(p)}, nil
}

func (s *Server) updatePartner(ctx context.Context, req *adminv1.UpdatePartnerRequest) (*partner.Partner, error) {
	id := req.GetId()
	if err := partner.ValidateID("id", id); err != nil {
		return nil, err
	}
	if err := validateReason("reason", req.GetReason()); err != nil {
		return nil, err
	}
	if len(req.GetScopes()) > 0 && !req.GetSetScopes() {
		return nil, partner.Invalid("set_scopes", "must be set with scopes")
	}
	if len(req.GetAllowCidrs()) > 0 && !req.GetSetAllowCidrs() {
		return nil, partner.Invalid("set_allow_cidrs", "must be set with allow_cidrs")
	}
	if req.Tier == nil && !req.GetSetScopes() && !req.GetSetAllowCidrs() {
		return nil, partner.Invalid("id", "nothing to change: give tier, scopes (set_scopes) or allow_cidrs (set_allow_cidrs)")
	}
	if req.Tier != nil {
		if err := s.validateTier("tier", req.GetTier()); err != nil {
			return nil, err
		}
	}
	scopes, err := partner.NewScopes("scopes", req.GetScopes())
	if err != nil {
		return nil, err
	}
	allow, err := partner.NewCIDRs("allow_cidrs", req.GetAllowCidrs())
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		p, err := s.Store.GetPartner(ctx, id)
		if err != nil {
			return nil, named(fmt.Sprintf("partner %q", id), err)
		}
		if p.State == partner.Deleted {
			return nil, deletedPartner(id)
		}
		ev := s.event(ctx, "partner.update", id, "", req.GetReason())
		ev.Detail = map[string]string{}
		changed := false
		if req.Tier != nil && req.GetTier() != p.Tier {
			ev.Detail["old_tier"], ev.Detail["tier"] = p.Tier, req.GetTier()
			p.Tier, changed = req.GetTier(), true
		}
		if req.GetSetScopes() && !slices.Equal(scopes, p.Scopes) {
			ev.Detail["old_scopes"], ev.Detail["scopes"] = p.Scopes.String(), scopes.String()
			if dropped := scopes.Missing(p.Scopes); len(dropped) > 0 {
				ev.Detail["dropped_scopes"] = dropped.String()
			}
			p.Scopes, changed = scopes, true
		}
		if req.GetSetAllowCidrs() && !allow.Equal(p.AllowCIDRs) {
			ev.Detail["old_allow_cidrs"], ev.Detail["allow_cidrs"] = p.AllowCIDRs.String(), allow.String()
			p.AllowCIDRs, changed = allow, true
		}
		if !changed {
			return nil, precondition(fmt.Sprintf("partner %q already has these values; nothing changed", id))
		}
		err = s.Store.UpdatePartner(ctx, p, ev)
		if errors.Is(err, partner.ErrConflict) && attempt < writeAttempts {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.committed(ctx, ev)
		return p, nil
	}
}

// DeletePartner offboards a partner, leaving a tombstone.
func (s *Server) DeletePartner(ctx context.Context, req *adminv1.DeletePartnerRequest) (*adminv1.DeletePartnerResponse, error) {
	id := req.GetId()
	if err := partner.ValidateID("id", id); err != nil {
		return nil, s.status(ctx, "DeletePartner", err)
	}
	if err := validateReason("reason", req.GetReason()); err != nil {
		return nil, s.status(ctx, "DeletePartner", err)
	}
	ev := s.event(ctx, "partner.delete", id, "", req.GetReason())
	ev.Detail = map[string]string{"revoke_all": fmt.Sprint(req.GetRevokeAll())}
	p, off, err := s.Store.DeletePartner(ctx, id, req.GetRevokeAll(), ev)
	var live *store.LiveCredentialsError
	switch {
	case errors.As(err, &live):
		return nil, s.status(ctx, "DeletePartner", precondition(fmt.Sprintf(
			"partner %q has %d live keys, %d OAuth clients and %d client certificates; revoke or remove them first, or delete with revoke_all (--revoke-all) to cut them all off at once",
			id, live.Keys, live.Clients, live.Certificates)))
	case errors.Is(err, store.ErrDeleted):
		return nil, s.status(ctx, "DeletePartner", precondition(fmt.Sprintf("partner %q is already deleted", id)))
	case err != nil:
		return nil, s.status(ctx, "DeletePartner", named(fmt.Sprintf("partner %q", id), err))
	}
	s.committed(ctx, ev)
	out := &adminv1.DeletePartnerResponse{Partner: partnerPB(p), RevokedKeyIds: off.RevokedKeys, RemovedCertificateIds: off.RemovedCertificates}
	for _, c := range off.RemovedClients {
		out.RemovedClients = append(out.RemovedClients, clientPB(c))
	}
	return out, nil
}

// UpdateKey changes a key's label, narrows its scopes or sets its
// allow-list.
func (s *Server) UpdateKey(ctx context.Context, req *adminv1.UpdateKeyRequest) (*adminv1.UpdateKeyResponse, error) {
	c, err := s.updateKey(ctx, req)
	if err != nil {
		return nil, s.status(ctx, "UpdateKey", err)
	}
	return &adminv1.UpdateKeyResponse{Key: keyPB(c, s.now())}, nil
}

func (s *Server) updateKey(ctx context.Context, req *adminv1.UpdateKeyRequest) (*partner.Credential, error) {
	id := req.GetKeyId()
	if err := validateKeyID("key_id", id); err != nil {
		return nil, err
	}
	if err := validateReason("reason", req.GetReason()); err != nil {
		return nil, err
	}
	if len(req.GetScopes()) > 0 && !req.GetSetScopes() {
		return nil, partner.Invalid("set_scopes", "must be set with scopes")
	}
	if len(req.GetAllowCidrs()) > 0 && !req.GetSetAllowCidrs() {
		return nil, partner.Invalid("set_allow_cidrs", "must be set with allow_cidrs")
	}
	if req.Name == nil && !req.GetSetScopes() && !req.GetSetAllowCidrs() {
		return nil, partner.Invalid("key_id", "nothing to change: give name, scopes (set_scopes) or allow_cidrs (set_allow_cidrs)")
	}
	if err := validateName("name", req.GetName()); err != nil {
		return nil, err
	}
	scopes, err := partner.NewScopes("scopes", req.GetScopes())
	if err != nil {
		return nil, err
	}
	if req.GetSetScopes() && len(scopes) == 0 {
		return nil, partner.Invalid("scopes", "must name at least one scope; revoke the key instead")
	}
	allow, err := partner.NewCIDRs("allow_cidrs", req.GetAllowCidrs())
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		c, err := s.Store.GetCredential(ctx, id)
		if err != nil {
			return nil, named(fmt.Sprintf("key %q", id), err)
		}
		if c.Revoked() {
			return nil, precondition(fmt.Sprintf("key %q is revoked", id))
		}
		ev := s.event(ctx, "key.update", c.PartnerID, c.ID, req.GetReason())
		ev.Detail = map[string]string{}
		changed := false
		if req.Name != nil && req.GetName() != c.Name {
			ev.Detail["old_name"], ev.Detail["name"] = c.Name, req.GetName()
			c.Name, changed = req.GetName(), true
		}
		if req.GetSetScopes() && !slices.Equal(scopes, c.Scopes) {
			// Narrowing only: a key never gains a scope it was not issued
			// with (OWASP API5; a wider key is a new key, issued and
			// audited as one).
			if extra := c.Scopes.Missing(scopes); len(extra) > 0 {
				return nil, partner.Invalid("scopes", "would widen key %q with %s: scopes only narrow; issue a new key for more", id, extra)
			}
			ev.Detail["old_scopes"], ev.Detail["scopes"] = c.Scopes.String(), scopes.String()
			c.Scopes, changed = scopes, true
		}
		if req.GetSetAllowCidrs() && !allow.Equal(c.AllowCIDRs) {
			ev.Detail["old_allow_cidrs"], ev.Detail["allow_cidrs"] = c.AllowCIDRs.String(), allow.String()
			c.AllowCIDRs, changed = allow, true
		}
		if !changed {
			return nil, precondition(fmt.Sprintf("key %q already has these values; nothing changed", id))
		}
		err = s.Store.UpdateCredential(ctx, c, ev)
		if errors.Is(err, partner.ErrConflict) && attempt < writeAttempts {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.committed(ctx, ev)
		return c, nil
	}
}
