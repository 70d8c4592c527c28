package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/partnergate/partnergate/internal/partner"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// ApplyPartner makes a partner what its spec declares, in one store
// transaction, or with dry_run reports what that would change.
func (s *Server) ApplyPartner(ctx context.Context, req *adminv1.ApplyPartnerRequest) (*adminv1.ApplyPartnerResponse, error) {
	resp, err := s.applyPartner(ctx, req)
	if err != nil {
		return nil, s.status(ctx, "ApplyPartner", err)
	}
	return resp, nil
}

// spec is a validated PartnerSpec.
type spec struct {
	p       partner.Partner // ID, Tier, Scopes, AllowCIDRs, Limits; State if given
	state   bool            // whether the spec names a state
	clients []partner.Client
}

func (s *Server) parseSpec(m *adminv1.PartnerSpec) (*spec, error) {
	if m == nil {
		return nil, partner.Invalid("spec", "required")
	}
	out := &spec{p: partner.Partner{ID: m.GetId(), Tier: m.GetTier()}}
	if err := partner.ValidateID("spec.id", m.GetId()); err != nil {
		return nil, err
	}
	if out.p.Tier == "" {
		out.p.Tier = partner.DefaultTier
	}
	if err := s.validateTier("spec.tier", out.p.Tier); err != nil {
		return nil, err
	}
	switch st := partner.State(m.GetState()); st {
	case "":
	case partner.Active, partner.Suspended:
		out.p.State, out.state = st, true
	default:
		return nil, partner.Invalid("spec.state", "must be %q or %q (or empty to keep the stored state)", partner.Active, partner.Suspended)
	}
	var err error
	if out.p.Scopes, err = partner.NewScopes("spec.scopes", m.GetScopes()); err != nil {
		return nil, err
	}
	if out.p.AllowCIDRs, err = partner.NewCIDRs("spec.allow_cidrs", m.GetAllowCidrs()); err != nil {
		return nil, err
	}
	if out.p.Limits, _, err = limitsFromPB(m.GetLimits()); err != nil {
		return nil, err
	}
	seen := map[[2]string]bool{}
	for i, c := range m.GetClients() {
		field := fmt.Sprintf("spec.clients[%d]", i)
		if err := partner.ValidateIssuer(field+".issuer", c.GetIssuer()); err != nil {
			return nil, err
		}
		if err := s.trustedIssuer(field+".issuer", c.GetIssuer()); err != nil {
			return nil, err
		}
		if err := partner.ValidateTokenIdent(field+".client_id", c.GetClientId()); err != nil {
			return nil, err
		}
		k := [2]string{c.GetIssuer(), c.GetClientId()}
		if seen[k] {
			return nil, partner.Invalid(field, "client %q of issuer %q is listed twice", c.GetClientId(), c.GetIssuer())
		}
		seen[k] = true
		out.clients = append(out.clients, partner.Client{Issuer: c.GetIssuer(), ClientID: c.GetClientId(), PartnerID: m.GetId()})
	}
	slices.SortFunc(out.clients, func(a, b partner.Client) int {
		return strings.Compare(a.Issuer+"\x00"+a.ClientID, b.Issuer+"\x00"+b.ClientID)
	})
	return out, nil
}

func (s *Server) applyPartner(ctx context.Context, req *adminv1.ApplyPartnerRequest) (*adminv1.ApplyPartnerResponse, error) {
	sp, err := s.parseSpec(req.GetSpec())
	if err != nil {
		return nil, err
	}
	if err := validateReason("reason", req.GetReason()); err != nil {
		return nil, err
	}
	id := sp.p.ID
	for attempt := 1; ; attempt++ {
		cur, err := s.Store.GetPartner(ctx, id)
		create := errors.Is(err, partner.ErrNotFound)
		if err != nil && !create {
			return nil, err
		}
		var have []*partner.Client
		if create {
			cur = &partner.Partner{ID: id, State: partner.Active}
		} else {
			if cur.State == partner.Deleted {
				return nil, precondition(fmt.Sprintf("partner %q is deleted; a declaration does not bring it back (partner create --reuse-deleted-id does)", id))
			}
			if have, err = s.Store.ListClients(ctx, id); err != nil {
				return nil, err
			}
		}
		next := *cur
		next.Tier, next.Scopes, next.AllowCIDRs, next.Limits = sp.p.Tier, sp.p.Scopes, sp.p.AllowCIDRs, sp.p.Limits
		if sp.state {
			next.State = sp.p.State
		}
		changes := diff(cur, &next, have, sp.clients, create)
		action := "update"
		switch {
		case create:
			action = "create"
		case len(changes) == 0:
			action = "unchanged"
		}
		resp := &adminv1.ApplyPartnerResponse{Partner: partnerPB(&next), Action: action, Changes: changes}
		if req.GetDryRun() || action == "unchanged" {
			return resp, nil
		}
		ev := s.event(ctx, "partner.apply", id, "", req.GetReason())
		ev.Detail = map[string]string{"action": action}
		for _, c := range changes {
			ev.Detail["old_"+c.GetField()], ev.Detail[c.GetField()] = c.GetOld(), c.GetNew()
		}
		if err := s.clientsFree(ctx, id, sp.clients); err != nil {
			return nil, err
		}
		err = s.Store.ApplyPartner(ctx, &next, sp.clients, create, ev)
		if (errors.Is(err, partner.ErrConflict) || (create && errors.Is(err, partner.ErrExists))) && attempt < writeAttempts {
			continue // raced another writer: read again and diff anew
		}
		if err != nil {
			return nil, named(fmt.Sprintf("partner %q", id), err)
		}
		s.committed(ctx, ev)
		resp.Partner = partnerPB(&next)
		return resp, nil
	}
}

// clientsFree refuses clients registered to a partner other than id: one
// client acts as one partner.
func (s *Server) clientsFree(ctx context.Context, id string, clients []partner.Client) error {
	for _, c := range clients {
		got, err := s.Store.GetClient(ctx, c.Issuer, c.ClientID)
		switch {
		case errors.Is(err, partner.ErrNotFound):
		case err != nil:
			return err
		case got.PartnerID != id:
			return precondition(fmt.Sprintf("spec.clients: client %q of issuer %q is registered to another partner", c.ClientID, c.Issuer))
		}
	}
	return nil
}

// diff lists what applying next (and clients) to cur changes.
func diff(cur, next *partner.Partner, have []*partner.Client, want []partner.Client, create bool) []*adminv1.FieldChange {
	var out []*adminv1.FieldChange
	add := func(field, old, new string) {
		if old != new || create {
			if create && new == "" {
				return
			}
			out = append(out, &adminv1.FieldChange{Field: field, Old: old, New: new})
		}
	}
	if create {
		cur = &partner.Partner{}
	}
	add("tier", cur.Tier, next.Tier)
	add("state", string(cur.State), string(next.State))
	add("scopes", cur.Scopes.String(), next.Scopes.String())
	add("allow_cidrs", cur.AllowCIDRs.String(), next.AllowCIDRs.String())
	add("limits", cur.Limits.String(), next.Limits.String())
	var h, w []string
	for _, c := range have {
		h = append(h, c.Issuer+" "+c.ClientID)
	}
	for _, c := range want {
		w = append(w, c.Issuer+" "+c.ClientID)
	}
	slices.Sort(h)
	add("clients", strings.Join(h, ", "), strings.Join(w, ", "))
	return out
}
