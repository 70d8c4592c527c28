package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/partnergate/partnergate/internal/partner"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// The OAuth2 side of the admin API: the client registry and token
// revocation. Every write is audited and synced like the others.

// maxClockSkew is how far in the future a revoke-tokens cutoff may lie: a
// later one would refuse tokens not yet issued, locking the partner out
// until then, and the cutoff never moves back.
const maxClockSkew = time.Minute

func clientPB(c *partner.Client) *adminv1.Client {
	return &adminv1.Client{Issuer: c.Issuer, ClientId: c.ClientID, PartnerId: c.PartnerID, CreatedAt: ts(c.CreatedAt)}
}

func revocationPB(r *partner.TokenRevocation) *adminv1.TokenRevocation {
	return &adminv1.TokenRevocation{Issuer: r.Issuer, Jti: r.JTI, ExpiresAt: ts(r.ExpiresAt), RevokedAt: ts(r.RevokedAt)}
}

// timestamp converts an optional protobuf timestamp; set is false when t
// is unset.
func timestamp(field string, t *timestamppb.Timestamp) (v time.Time, set bool, err error) {
	if t == nil {
		return time.Time{}, false, nil
	}
	if err := t.CheckValid(); err != nil {
		return time.Time{}, true, partner.Invalid(field, "is not a valid timestamp")
	}
	return t.AsTime(), true, nil
}

// validateClientRequest checks the fields shared by add and remove.
func validateClientRequest(partnerID, issuer, clientID, reason string) error {
	if err := partner.ValidateID("partner_id", partnerID); err != nil {
		return err
	}
	if err := partner.ValidateIssuer("issuer", issuer); err != nil {
		return err
	}
	if err := partner.ValidateTokenIdent("client_id", clientID); err != nil {
		return err
	}
	return validateReason("reason", reason)
}

// AddClient registers an OAuth2 client to a partner.
func (s *Server) AddClient(ctx context.Context, req *adminv1.AddClientRequest) (*adminv1.AddClientResponse, error) {
	c := &partner.Client{Issuer: req.GetIssuer(), ClientID: req.GetClientId(), PartnerID: req.GetPartnerId()}
	if err := validateClientRequest(c.PartnerID, c.Issuer, c.ClientID, req.GetReason()); err != nil {
		return nil, s.status(ctx, "AddClient", err)
	}
	if err := s.trustedIssuer("issuer", c.Issuer); err != nil {
		return nil, s.status(ctx, "AddClient", err)
	}
	if err := s.notDeleted(ctx, c.PartnerID); err != nil {
		return nil, s.status(ctx, "AddClient", err)
	}
	ev := s.event(ctx, "client.add", c.PartnerID, "", req.GetReason())
	ev.Detail = map[string]string{"issuer": c.Issuer, "client_id": c.ClientID}
	if err := s.Store.AddClient(ctx, c, ev); err != nil {
		what := fmt.Sprintf("client %q of issuer %q", c.ClientID, c.Issuer)
		if errIsNotFound(err) {
			what = fmt.Sprintf("partner %q", c.PartnerID)
		}
		return nil, s.status(ctx, "AddClient", named(what, err))
	}
	s.committed(ctx, ev)
	return &adminv1.AddClientResponse{Client: clientPB(c)}, nil
}

// RemoveClient unregisters an OAuth2 client from a partner.
func (s *Server) RemoveClient(ctx context.Context, req *adminv1.RemoveClientRequest) (*adminv1.RemoveClientResponse, error) {
	if err := validateClientRequest(req.GetPartnerId(), req.GetIssuer(), req.GetClientId(), req.GetReason()); err != nil {
		return nil, s.status(ctx, "RemoveClient", err)
	}
	ev := s.event(ctx, "client.remove", req.GetPartnerId(), "", req.GetReason())
	ev.Detail = map[string]string{"issuer": req.GetIssuer(), "client_id": req.GetClientId()}
	if err := s.Store.RemoveClient(ctx, req.GetPartnerId(), req.GetIssuer(), req.GetClientId(), ev); err != nil {
		what := fmt.Sprintf("client %q of issuer %q for partner %q", req.GetClientId(), req.GetIssuer(), req.GetPartnerId())
		return nil, s.status(ctx, "RemoveClient", named(what, err))
	}
	s.committed(ctx, ev)
	return &adminv1.RemoveClientResponse{}, nil
}

// ListClients lists a partner's registered clients.
func (s *Server) ListClients(ctx context.Context, req *adminv1.ListClientsRequest) (*adminv1.ListClientsResponse, error) {
	if err := partner.ValidateID("partner_id", req.GetPartnerId()); err != nil {
		return nil, s.status(ctx, "ListClients", err)
	}
	if _, err := s.Store.GetPartner(ctx, req.GetPartnerId()); err != nil {
		return nil, s.status(ctx, "ListClients", named(fmt.Sprintf("partner %q", req.GetPartnerId()), err))
	}
	cs, err := s.Store.ListClients(ctx, req.GetPartnerId())
	if err != nil {
		return nil, s.status(ctx, "ListClients", err)
	}
	out := &adminv1.ListClientsResponse{Clients: make([]*adminv1.Client, 0, len(cs))}
	for _, c := range cs {
		out.Clients = append(out.Clients, clientPB(c))
	}
	return out, nil
}

// RevokeToken refuses one access token until its exp.
func (s *Server) RevokeToken(ctx context.Context, req *adminv1.RevokeTokenRequest) (*adminv1.RevokeTokenResponse, error) {
	r, ev, err := s.tokenRevocation(ctx, req)
	if err != nil {
		return nil, s.status(ctx, "RevokeToken", err)
	}
	if err := s.Store.RevokeToken(ctx, r, ev); err != nil {
		return nil, s.status(ctx, "RevokeToken", err)
	}
	s.committed(ctx, ev)
	return &adminv1.RevokeTokenResponse{Revocation: revocationPB(r)}, nil
}

func (s *Server) tokenRevocation(ctx context.Context, req *adminv1.RevokeTokenRequest) (*partner.TokenRevocation, partner.AuditEvent, error) {
	if err := partner.ValidateIssuer("issuer", req.GetIssuer()); err != nil {
		return nil, partner.AuditEvent{}, err
	}
	if err := partner.ValidateTokenIdent("jti", req.GetJti()); err != nil {
		return nil, partner.AuditEvent{}, err
	}
	if err := validateReason("reason", req.GetReason()); err != nil {
		return nil, partner.AuditEvent{}, err
	}
	if err := s.trustedIssuer("issuer", req.GetIssuer()); err != nil {
		return nil, partner.AuditEvent{}, err
	}
	now := s.now()
	exp, set, err := timestamp("expires_at", req.GetExpiresAt())
	switch {
	case err != nil:
		return nil, partner.AuditEvent{}, err
	case !set:
		exp = now.Add(partner.DefaultTokenRevocationTTL)
	case !exp.After(now.Add(-partner.TokenRevocationGrace)):
		// The token is refused as expired already; a row would be purged
		// at once.
		return nil, partner.AuditEvent{}, partner.Invalid("expires_at", "is already past: the token is refused as expired")
	case exp.After(now.Add(366 * 24 * time.Hour)):
		return nil, partner.AuditEvent{}, partner.Invalid("expires_at", "must be within a year: access tokens are short-lived")
	}
	ev := s.event(ctx, "token.revoke", "", "", req.GetReason())
	ev.Detail = map[string]string{"issuer": req.GetIssuer(), "jti": req.GetJti(), "expires_at": exp.UTC().Format(time.RFC3339)}
	return &partner.TokenRevocation{Issuer: req.GetIssuer(), JTI: req.GetJti(), ExpiresAt: exp}, ev, nil
}

// RevokePartnerTokens refuses every access token of a partner's clients
// issued before a moment.
func (s *Server) RevokePartnerTokens(ctx context.Context, req *adminv1.RevokePartnerTokensRequest) (*adminv1.RevokePartnerTokensResponse, error) {
	p, err := s.revokePartnerTokens(ctx, req)
	if err != nil {
		return nil, s.status(ctx, "RevokePartnerTokens", err)
	}
	return &adminv1.RevokePartnerTokensResponse{Partner: partnerPB(p)}, nil
}

func (s *Server) revokePartnerTokens(ctx context.Context, req *adminv1.RevokePartnerTokensRequest) (*partner.Partner, error) {
	if err := partner.ValidateID("id", req.GetId()); err != nil {
		return nil, err
	}
	if err := validateReason("reason", req.GetReason()); err != nil {
		return nil, err
	}
	before, set, err := timestamp("before", req.GetBefore())
	switch {
	case err != nil:
		return nil, err
	case !set:
		return nil, partner.Invalid("before", "required")
	case before.After(s.now().Add(maxClockSkew)):
		return nil, partner.Invalid("before", "must not be in the future: the cutoff never moves back")
	}
	ev := s.event(ctx, "partner.revoke_tokens", req.GetId(), "", req.GetReason())
	ev.Detail = map[string]string{"before": before.UTC().Format(time.RFC3339Nano)}
	p, err := s.Store.RevokeTokensBefore(ctx, req.GetId(), before, ev)
	if err != nil {
		return nil, named(fmt.Sprintf("partner %q", req.GetId()), err)
	}
	s.committed(ctx, ev)
	return p, nil
}

func errIsNotFound(err error) bool { return errors.Is(err, partner.ErrNotFound) }
