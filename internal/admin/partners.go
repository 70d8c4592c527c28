package admin

import (
	"context"
	"errors"
	"fmt"

	"github.com/partnergate/partnergate/internal/partner"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// CreatePartner registers an active partner.
func (s *Server) CreatePartner(ctx context.Context, req *adminv1.CreatePartnerRequest) (*adminv1.CreatePartnerResponse, error) {
	p, err := s.createPartner(ctx, req)
	if err != nil {
		return nil, s.status(ctx, "CreatePartner", err)
	}
	return &adminv1.CreatePartnerResponse{Partner: partnerPB(p)}, nil
}

func (s *Server) createPartner(ctx context.Context, req *adminv1.CreatePartnerRequest) (*partner.Partner, error) {
	if err := partner.ValidateID("id", req.GetId()); err != nil {
		return nil, err
	}
	tier := req.GetTier()
	if tier == "" {
		tier = partner.DefaultTier
	}
	if err := s.validateTier("tier", tier); err != nil {
		return nil, err
	}
	scopes, err := partner.NewScopes("scopes", req.GetScopes())
	if err != nil {
		return nil, err
	}
	allow, err := partner.NewCIDRs("allow_cidrs", req.GetAllowCidrs())
	if err != nil {
		return nil, err
	}
	p := &partner.Partner{ID: req.GetId(), Tier: tier, Scopes: scopes, State: partner.Active, AllowCIDRs: allow}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	ev := s.event(ctx, "partner.create", p.ID, "", "")
	ev.Detail = map[string]string{"tier": tier, "scopes": scopes.String()}
	if len(allow) > 0 {
		ev.Detail["allow_cidrs"] = allow.String()
	}
	if req.GetReuseDeletedId() {
		ev.Detail["reused_deleted_id"] = "true"
		if err := s.Store.ReuseDeletedPartner(ctx, p, ev); err != nil {
			if errors.Is(err, partner.ErrExists) {
				return nil, precondition(fmt.Sprintf("partner %q exists and is not deleted; reuse_deleted_id only takes a deleted partner's id", p.ID))
			}
			return nil, named(fmt.Sprintf("partner %q", p.ID), err)
		}
		s.committed(ctx, ev)
		return p, nil
	}
	if err := s.Store.CreatePartner(ctx, p, ev); err != nil {
		if errors.Is(err, partner.ErrExists) {
			if old, gerr := s.Store.GetPartner(ctx, p.ID); gerr == nil && old.State == partner.Deleted {
				return nil, named(fmt.Sprintf("partner %q (deleted, kept as a tombstone; "+
					"ask with reuse_deleted_id, --reuse-deleted-id, to give its id to a new partner)", p.ID), partner.ErrExists)
			}
		}
		return nil, named(fmt.Sprintf("partner %q", p.ID), err)
	}
	s.committed(ctx, ev)
	return p, nil
}

// GetPartner returns one partner.
func (s *Server) GetPartner(ctx context.Context, req *adminv1.GetPartnerRequest) (*adminv1.GetPartnerResponse, error) {
	if err := partner.ValidateID("id", req.GetId()); err != nil {
		return nil, s.status(ctx, "GetPartner", err)
	}
	p, err := s.Store.GetPartner(ctx, req.GetId())
	if err != nil {
		return nil, s.status(ctx, "GetPartner", named(fmt.Sprintf("partner %q", req.GetId()), err))
	}
	return &adminv1.GetPartnerResponse{Partner: partnerPB(p)}, nil
}

// ListPartners returns every partner.
func (s *Server) ListPartners(ctx context.Context, _ *adminv1.ListPartnersRequest) (*adminv1.ListPartnersResponse, error) {
	ps, err := s.Store.ListPartners(ctx)
	if err != nil {
		return nil, s.status(ctx, "ListPartners", err)
	}
	out := &adminv1.ListPartnersResponse{Partners: make([]*adminv1.Partner, 0, len(ps))}
	for _, p := range ps {
		if visible(ctx, p.ID) {
			out.Partners = append(out.Partners, partnerPB(p))
		}
	}
	return out, nil
}

// SuspendPartner refuses every credential of a partner until resumed.
func (s *Server) SuspendPartner(ctx context.Context, req *adminv1.SuspendPartnerRequest) (*adminv1.SuspendPartnerResponse, error) {
	p, err := s.setState(ctx, req.GetId(), req.GetReason(), partner.Suspended, "partner.suspend")
	if err != nil {
		return nil, s.status(ctx, "SuspendPartner", err)
	}
	return &adminv1.SuspendPartnerResponse{Partner: partnerPB(p)}, nil
}

// ResumePartner lifts a suspension.
func (s *Server) ResumePartner(ctx context.Context, req *adminv1.ResumePartnerRequest) (*adminv1.ResumePartnerResponse, error) {
	p, err := s.setState(ctx, req.GetId(), req.GetReason(), partner.Active, "partner.resume")
	if err != nil {
		return nil, s.status(ctx, "ResumePartner", err)
	}
	return &adminv1.ResumePartnerResponse{Partner: partnerPB(p)}, nil
}

// setState moves a partner to state. Asking for the state it already has
// succeeds, so a retried kill switch never fails, and is still written and
// audited: the trail shows every time someone pulled it.
func (s *Server) setState(ctx context.Context, id, reason string, state partner.State, action string) (*partner.Partner, error) {
	if err := partner.ValidateID("id", id); err != nil {
		return nil, err
	}
	if err := validateReason("reason", reason); err != nil {
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
		ev := s.event(ctx, action, id, "", reason)
		ev.Detail = map[string]string{"previous_state": string(p.State), "state": string(state)}
		p.State = state
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

// notDeleted refuses a write about partner id once it is deleted. A
// tombstone also fails every Check, so a write racing the delete changes
// no decision.
func (s *Server) notDeleted(ctx context.Context, id string) error {
	p, err := s.Store.GetPartner(ctx, id)
	if err != nil {
		return named(fmt.Sprintf("partner %q", id), err)
	}
	if p.State == partner.Deleted {
		return deletedPartner(id)
	}
	return nil
}

// deletedPartner refuses a write to a deleted partner.
func deletedPartner(id string) error {
	return precondition(fmt.Sprintf("partner %q is deleted", id))
}

// event starts the audit event of a write by the verified caller in ctx.
func (s *Server) event(ctx context.Context, action, partnerID, keyID, reason string) partner.AuditEvent {
	actor, method := "unknown", ""
	if p := PrincipalFrom(ctx); p != nil {
		actor, method = p.Name, string(p.Method)
	}
	return partner.AuditEvent{
		At:           s.now(),
		Actor:        actor,
		AuthMethod:   method,
		Source:       source(ctx),
		Note:         note(ctx),
		Action:       action,
		PartnerID:    partnerID,
		CredentialID: keyID,
		Reason:       reason,
	}
}
