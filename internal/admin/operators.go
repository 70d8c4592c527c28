package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/partner"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// The admin API's principals: named operators with a role, optional
// partner scope and certificate SAN, and personal tokens of which only a
// keyed digest is stored. Every change is audited and goes through the
// change feed; authentication reads the store on every call, so a change
// applies to the operator's next call on every replica.

// Operator states as the API reports them.
const (
	OperatorActive  = "active"
	OperatorExpired = "expired"
	OperatorRevoked = "revoked"
)

func (s *Server) operatorPB(ctx context.Context, o *partner.Operator) (*adminv1.Operator, error) {
	now := s.now()
	state := OperatorActive
	switch {
	case o.Revoked():
		state = OperatorRevoked
	case o.Expired(now):
		state = OperatorExpired
	}
	out := &adminv1.Operator{
		Name:      o.Name,
		Role:      string(o.Role),
		Partners:  slices.Clone(o.Partners),
		CertSan:   o.CertSAN,
		CreatedAt: ts(o.CreatedAt),
		UpdatedAt: ts(o.UpdatedAt),
		ExpiresAt: ts(o.ExpiresAt),
		RevokedAt: ts(o.RevokedAt),
		State:     state,
	}
	if state != OperatorActive {
		return out, nil
	}
	toks, err := s.Store.ListOperatorTokens(ctx, o.Name)
	if err != nil {
		return nil, err
	}
	for _, t := range toks {
		if !t.Expired(now) {
			out.CredentialIds = append(out.CredentialIds, OperatorTokenPrefix+t.ID)
		}
	}
	return out, nil
}

// newOperatorToken generates a token for operator name and the record that
// stores its digest.
func (s *Server) newOperatorToken(name string) (apikey.Key, *partner.OperatorToken, error) {
	k, err := operatorFormat.Generate(nil)
	if err != nil {
		return apikey.Key{}, nil, err
	}
	digest, version := s.Hasher.Digest(k)
	return k, &partner.OperatorToken{ID: k.ID(), Operator: name, Digest: digest, PepperVersion: version}, nil
}

// operatorLifetime reads an operator's expires_in: unset or zero is the
// default, above the maximum is refused.
func operatorLifetime(d *durationpb.Duration) (time.Duration, error) {
	v, set, err := duration("expires_in", d)
	switch {
	case err != nil:
		return 0, err
	case !set || v == 0:
		return DefaultOperatorLifetime, nil
	case v < 0:
		return 0, partner.Invalid("expires_in", "must be positive")
	case v > MaxOperatorLifetime:
		return 0, partner.Invalid("expires_in", "must be at most %s", MaxOperatorLifetime)
	}
	return v, nil
}

// CreateOperator registers a named operator and returns its token, once.
func (s *Server) CreateOperator(ctx context.Context, req *adminv1.CreateOperatorRequest) (*adminv1.CreateOperatorResponse, error) {
	o, key, err := s.createOperator(ctx, req)
	if err != nil {
		return nil, s.status(ctx, "CreateOperator", err)
	}
	pb, err := s.operatorPB(ctx, o)
	if err != nil {
		return nil, s.status(ctx, "CreateOperator", err)
	}
	return &adminv1.CreateOperatorResponse{Operator: pb, Secret: key.Reveal()}, nil
}

func (s *Server) createOperator(ctx context.Context, req *adminv1.CreateOperatorRequest) (*partner.Operator, apikey.Key, error) {
	if err := partner.ValidateOperatorName("name", req.GetName()); err != nil {
		return nil, apikey.Key{}, err
	}
	role, err := partner.ParseRole("role", req.GetRole())
	if err != nil {
		return nil, apikey.Key{}, err
	}
	partners, err := partner.NewOperatorPartners("partners", req.GetPartners())
	if err != nil {
		return nil, apikey.Key{}, err
	}
	if err := s.partnersExist(ctx, partners); err != nil {
		return nil, apikey.Key{}, err
	}
	life, err := operatorLifetime(req.GetExpiresIn())
	if err != nil {
		return nil, apikey.Key{}, err
	}
	if err := validateReason("reason", req.GetReason()); err != nil {
		return nil, apikey.Key{}, err
	}
	now := s.now()
	o := &partner.Operator{Name: req.GetName(), Role: role, Partners: partners, CertSAN: req.GetCertSan(), ExpiresAt: now.Add(life)}
	if err := o.Validate(); err != nil {
		return nil, apikey.Key{}, err
	}
	for attempt := 1; ; attempt++ {
		key, tok, err := s.newOperatorToken(o.Name)
		if err != nil {
			return nil, apikey.Key{}, err
		}
		ev := s.event(ctx, "operator.create", "", "", req.GetReason())
		ev.Detail = operatorDetail(o)
		ev.Detail["token_id"] = OperatorTokenPrefix + tok.ID
		err = s.Store.CreateOperator(ctx, o, tok, ev)
		if errors.Is(err, partner.ErrExists) && attempt < writeAttempts && s.operatorFree(ctx, o) {
			continue // the random token id collided: draw another
		}
		if err != nil {
			return nil, apikey.Key{}, named(fmt.Sprintf("operator %q (or its cert_san)", o.Name), err)
		}
		s.committed(ctx, ev)
		return o, key, nil
	}
}

// operatorFree reports whether neither o's name nor its SAN is taken, so
// that an ErrExists came from the token id.
func (s *Server) operatorFree(ctx context.Context, o *partner.Operator) bool {
	if _, err := s.Store.GetOperator(ctx, o.Name); !errors.Is(err, partner.ErrNotFound) {
		return false
	}
	if o.CertSAN != "" {
		if _, err := s.Store.GetOperatorByCertSAN(ctx, o.CertSAN); !errors.Is(err, partner.ErrNotFound) {
			return false
		}
	}
	return true
}

// partnersExist refuses a scope naming an unknown partner: a typo would
// otherwise leave an operator that can touch nothing it was meant to.
func (s *Server) partnersExist(ctx context.Context, ids []string) error {
	for _, id := range ids {
		if _, err := s.Store.GetPartner(ctx, id); err != nil {
			if errors.Is(err, partner.ErrNotFound) {
				return partner.Invalid("partners", "no partner %q", id)
			}
			return err
		}
	}
	return nil
}

func operatorDetail(o *partner.Operator) map[string]string {
	d := map[string]string{
		"role":       string(o.Role),
		"partners":   strings.Join(o.Partners, " "),
		"expires_at": o.ExpiresAt.UTC().Format(time.RFC3339),
	}
	if o.CertSAN != "" {
		d["cert_san"] = o.CertSAN
	}
	return d
}

// GetOperator returns one operator.
func (s *Server) GetOperator(ctx context.Context, req *adminv1.GetOperatorRequest) (*adminv1.GetOperatorResponse, error) {
	o, err := s.getOperator(ctx, "name", req.GetName())
	if err != nil {
		return nil, s.status(ctx, "GetOperator", err)
	}
	pb, err := s.operatorPB(ctx, o)
	if err != nil {
		return nil, s.status(ctx, "GetOperator", err)
	}
	return &adminv1.GetOperatorResponse{Operator: pb}, nil
}

func (s *Server) getOperator(ctx context.Context, field, name string) (*partner.Operator, error) {
	if err := partner.ValidateOperatorName(field, name); err != nil {
		return nil, err
	}
	o, err := s.Store.GetOperator(ctx, name)
	if err != nil {
		return nil, named(fmt.Sprintf("operator %q", name), err)
	}
	return o, nil
}

// ListOperators returns every operator.
func (s *Server) ListOperators(ctx context.Context, _ *adminv1.ListOperatorsRequest) (*adminv1.ListOperatorsResponse, error) {
	ops, err := s.Store.ListOperators(ctx)
	if err != nil {
		return nil, s.status(ctx, "ListOperators", err)
	}
	out := &adminv1.ListOperatorsResponse{Operators: make([]*adminv1.Operator, 0, len(ops))}
	for _, o := range ops {
		pb, err := s.operatorPB(ctx, o)
		if err != nil {
			return nil, s.status(ctx, "ListOperators", err)
		}
		out.Operators = append(out.Operators, pb)
	}
	return out, nil
}

// UpdateOperator changes an operator's role, partners, SAN or expiry.
func (s *Server) UpdateOperator(ctx context.Context, req *adminv1.UpdateOperatorRequest) (*adminv1.UpdateOperatorResponse, error) {
	o, err := s.updateOperator(ctx, req)
	if err != nil {
		return nil, s.status(ctx, "UpdateOperator", err)
	}
	pb, err := s.operatorPB(ctx, o)
	if err != nil {
		return nil, s.status(ctx, "UpdateOperator", err)
	}
	return &adminv1.UpdateOperatorResponse{Operator: pb}, nil
}

func (s *Server) updateOperator(ctx context.Context, req *adminv1.UpdateOperatorRequest) (*partner.Operator, error) {
	if err := partner.ValidateOperatorName("name", req.GetName()); err != nil {
		return nil, err
	}
	var role partner.Role
	if req.GetRole() != "" {
		var err error
		if role, err = partner.ParseRole("role", req.GetRole()); err != nil {
			return nil, err
		}
	}
	if len(req.GetPartners()) > 0 && !req.GetSetPartners() {
		return nil, partner.Invalid("partners", "needs set_partners")
	}
	if req.GetCertSan() != "" && !req.GetSetCertSan() {
		return nil, partner.Invalid("cert_san", "needs set_cert_san")
	}
	partners, err := partner.NewOperatorPartners("partners", req.GetPartners())
	if err != nil {
		return nil, err
	}
	var life time.Duration
	if req.GetExpiresIn() != nil {
		if life, err = operatorLifetime(req.GetExpiresIn()); err != nil {
			return nil, err
		}
	}
	if role == "" && !req.GetSetPartners() && !req.GetSetCertSan() && req.GetExpiresIn() == nil {
		// An update that changes nothing is refused rather than audited
		// as a change.
		return nil, partner.Invalid("role", "set at least one of role, partners, cert_san, expires_in")
	}
	if err := validateReason("reason", req.GetReason()); err != nil {
		return nil, err
	}
	if err := s.partnersExist(ctx, partners); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		o, err := s.getOperator(ctx, "name", req.GetName())
		if err != nil {
			return nil, err
		}
		if o.Revoked() {
			return nil, precondition(fmt.Sprintf("operator %q is revoked; create a new one instead", o.Name))
		}
		before := operatorDetail(o)
		if role != "" {
			o.Role = role
		}
		if req.GetSetPartners() {
			o.Partners = partners
		}
		if req.GetSetCertSan() {
			o.CertSAN = req.GetCertSan()
		}
		if req.GetExpiresIn() != nil {
			o.ExpiresAt = s.now().Add(life)
		}
		if err := o.Validate(); err != nil {
			return nil, err
		}
		ev := s.event(ctx, "operator.update", "", "", req.GetReason())
		ev.Detail = operatorDetail(o)
		changed := false
		for k, v := range before {
			if ev.Detail[k] != v {
				ev.Detail["previous_"+k] = v
				changed = true
			}
		}
		if len(ev.Detail) != len(before) {
			changed = true // a certificate SAN was added or removed
		}
		if !changed && req.GetExpiresIn() == nil {
			return nil, precondition(fmt.Sprintf("operator %q already has that role, partners and cert_san: the update changes nothing", o.Name))
		}
		ev.Detail["operator"] = o.Name
		err = s.Store.UpdateOperator(ctx, o, ev)
		if errors.Is(err, partner.ErrConflict) && attempt < writeAttempts {
			continue
		}
		if err != nil {
			return nil, named(fmt.Sprintf("operator %q (or its cert_san)", o.Name), err)
		}
		s.committed(ctx, ev)
		return o, nil
	}
}

// RevokeOperator refuses every credential of an operator from its next
// call.
func (s *Server) RevokeOperator(ctx context.Context, req *adminv1.RevokeOperatorRequest) (*adminv1.RevokeOperatorResponse, error) {
	o, err := s.revokeOperator(ctx, req)
	if err != nil {
		return nil, s.status(ctx, "RevokeOperator", err)
	}
	pb, err := s.operatorPB(ctx, o)
	if err != nil {
		return nil, s.status(ctx, "RevokeOperator", err)
	}
	return &adminv1.RevokeOperatorResponse{Operator: pb}, nil
}

func (s *Server) revokeOperator(ctx context.Context, req *adminv1.RevokeOperatorRequest) (*partner.Operator, error) {
	if err := validateReason("reason", req.GetReason()); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		o, err := s.getOperator(ctx, "name", req.GetName())
		if err != nil {
			return nil, err
		}
		if o.Revoked() {
			return nil, precondition(fmt.Sprintf("operator %q is already revoked", o.Name))
		}
		o.RevokedAt = s.now()
		ev := s.event(ctx, "operator.revoke", "", "", req.GetReason())
		ev.Detail = map[string]string{"operator": o.Name, "role": string(o.Role)}
		err = s.Store.UpdateOperator(ctx, o, ev)
		if errors.Is(err, partner.ErrConflict) && attempt < writeAttempts {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.committed(ctx, ev)
		return o, nil
	}
}

// RotateOperator issues a new token and bounds the old ones to the
// overlap.
func (s *Server) RotateOperator(ctx context.Context, req *adminv1.RotateOperatorRequest) (*adminv1.RotateOperatorResponse, error) {
	o, key, err := s.rotateOperator(ctx, req)
	if err != nil {
		return nil, s.status(ctx, "RotateOperator", err)
	}
	pb, err := s.operatorPB(ctx, o)
	if err != nil {
		return nil, s.status(ctx, "RotateOperator", err)
	}
	return &adminv1.RotateOperatorResponse{Operator: pb, Secret: key.Reveal()}, nil
}

func (s *Server) rotateOperator(ctx context.Context, req *adminv1.RotateOperatorRequest) (*partner.Operator, apikey.Key, error) {
	overlap, _, err := duration("overlap", req.GetOverlap())
	switch {
	case err != nil:
		return nil, apikey.Key{}, err
	case overlap < 0:
		return nil, apikey.Key{}, partner.Invalid("overlap", "must not be negative")
	case overlap > MaxOperatorOverlap:
		return nil, apikey.Key{}, partner.Invalid("overlap", "must be at most %s", MaxOperatorOverlap)
	}
	if err := validateReason("reason", req.GetReason()); err != nil {
		return nil, apikey.Key{}, err
	}
	for attempt := 1; ; attempt++ {
		o, err := s.getOperator(ctx, "name", req.GetName())
		if err != nil {
			return nil, apikey.Key{}, err
		}
		now := s.now()
		switch {
		case o.Revoked():
			return nil, apikey.Key{}, precondition(fmt.Sprintf("operator %q is revoked; create a new one instead", o.Name))
		case o.Expired(now):
			return nil, apikey.Key{}, precondition(fmt.Sprintf("operator %q has expired; extend it with operator update --expires-in first", o.Name))
		}
		key, tok, err := s.newOperatorToken(o.Name)
		if err != nil {
			return nil, apikey.Key{}, err
		}
		until := now.Add(overlap)
		ev := s.event(ctx, "operator.rotate", "", "", req.GetReason())
		ev.Detail = map[string]string{
			"operator":       o.Name,
			"new_token_id":   OperatorTokenPrefix + tok.ID,
			"overlap":        overlap.String(),
			"old_expires_at": until.UTC().Format(time.RFC3339),
		}
		err = s.Store.RotateOperatorToken(ctx, o, until, tok, ev)
		if (errors.Is(err, partner.ErrConflict) || errors.Is(err, partner.ErrExists)) && attempt < writeAttempts {
			continue
		}
		if err != nil {
			return nil, apikey.Key{}, err
		}
		s.committed(ctx, ev)
		return o, key, nil
	}
}

// WhoAmI returns the caller's verified identity.
func (s *Server) WhoAmI(ctx context.Context, _ *adminv1.WhoAmIRequest) (*adminv1.WhoAmIResponse, error) {
	p := PrincipalFrom(ctx)
	if p == nil {
		return nil, errUnauthenticated
	}
	return &adminv1.WhoAmIResponse{
		Name:         p.Name,
		Role:         string(p.Role),
		Partners:     slices.Clone(p.Partners),
		AuthMethod:   string(p.Method),
		CredentialId: p.CredentialID,
		ExpiresAt:    ts(p.ExpiresAt),
	}, nil
}
