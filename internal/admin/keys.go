package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// IssueKey creates an API key for a partner and returns its secret, once.
func (s *Server) IssueKey(ctx context.Context, req *adminv1.IssueKeyRequest) (*adminv1.IssueKeyResponse, error) {
	c, key, err := s.issueKey(ctx, req)
	if err != nil {
		return nil, s.status(ctx, "IssueKey", err)
	}
	return &adminv1.IssueKeyResponse{Key: keyPB(c, s.now()), Secret: key.Reveal()}, nil
}

func (s *Server) issueKey(ctx context.Context, req *adminv1.IssueKeyRequest) (*partner.Credential, apikey.Key, error) {
	pid := req.GetPartnerId()
	if err := partner.ValidateID("partner_id", pid); err != nil {
		return nil, apikey.Key{}, err
	}
	scopes, err := partner.NewScopes("scopes", req.GetScopes())
	if err != nil {
		return nil, apikey.Key{}, err
	}
	// Least privilege: a key's scopes are chosen, never defaulted; all
	// of the partner's grants only when the operator says so.
	switch {
	case len(scopes) == 0 && !req.GetAllGrantedScopes():
		return nil, apikey.Key{}, partner.Invalid("scopes", "required: name the key's scopes, or ask for all_granted_scopes")
	case len(scopes) > 0 && req.GetAllGrantedScopes():
		return nil, apikey.Key{}, partner.Invalid("all_granted_scopes", "set it or scopes, not both")
	}
	lifetime, err := s.lifetime(req.GetExpiresIn(), s.defaultLifetime())
	if err != nil {
		return nil, apikey.Key{}, err
	}
	if err := validateName("name", req.GetName()); err != nil {
		return nil, apikey.Key{}, err
	}
	allow, err := partner.NewCIDRs("allow_cidrs", req.GetAllowCidrs())
	if err != nil {
		return nil, apikey.Key{}, err
	}
	p, err := s.Store.GetPartner(ctx, pid)
	if err != nil {
		return nil, apikey.Key{}, named(fmt.Sprintf("partner %q", pid), err)
	}
	if p.State != partner.Active {
		// A suspended partner is not quietly re-armed with a fresh key.
		return nil, apikey.Key{}, precondition(fmt.Sprintf("partner %q is %s; resume it before issuing it a key", pid, p.State))
	}
	if req.GetAllGrantedScopes() {
		scopes = p.Scopes
	} else if extra := p.Scopes.Missing(scopes); len(extra) > 0 {
		return nil, apikey.Key{}, partner.Invalid("scopes", "not within partner %q's grants: %s", pid, extra)
	}
	for attempt := 1; ; attempt++ {
		now := s.now()
		key, c, err := s.newCredential(p.ID, scopes, req.GetName(), now, lifetime)
		if err != nil {
			return nil, apikey.Key{}, err
		}
		c.AllowCIDRs = allow
		ev := s.event(ctx, "key.issue", p.ID, c.ID, "")
		ev.Detail = map[string]string{
			"scopes":     scopes.String(),
			"expires_at": c.ExpiresAt.UTC().Format(time.RFC3339),
		}
		if len(allow) > 0 {
			ev.Detail["allow_cidrs"] = allow.String()
		}
		if c.Name != "" {
			ev.Detail["name"] = c.Name
		}
		err = s.Store.CreateCredential(ctx, c, ev)
		if errors.Is(err, partner.ErrExists) && attempt < writeAttempts {
			continue // a random key id collided: draw another
		}
		if err != nil {
			return nil, apikey.Key{}, err
		}
		s.committed(ctx, ev)
		return c, key, nil
	}
}

// lifetime reads a key's requested lifetime: unset means def, and zero,
// negative or above the server's maximum is refused (zero once silently
// meant the default, which is no lifetime anyone asked for).
func (s *Server) lifetime(d *durationpb.Duration, def time.Duration) (time.Duration, error) {
	lifetime, set, err := duration("expires_in", d)
	switch {
	case err != nil:
		return 0, err
	case !set:
		return min(def, s.maxLifetime()), nil
	case lifetime <= 0:
		return 0, partner.Invalid("expires_in", "must be positive: keys always expire (leave it unset for the default)")
	case lifetime > s.maxLifetime():
		return 0, partner.Invalid("expires_in", "must be at most %s", s.maxLifetime())
	}
	return lifetime, nil
}

// newCredential generates a key and the credential that stores its digest.
func (s *Server) newCredential(partnerID string, scopes partner.Scopes, name string, now time.Time, lifetime time.Duration) (apikey.Key, *partner.Credential, error) {
	key, err := s.Format.Generate(nil)
	if err != nil {
		return apikey.Key{}, nil, err
	}
	digest, version := s.Hasher.Digest(key)
	return key, &partner.Credential{
		ID:            key.ID(),
		PartnerID:     partnerID,
		Name:          name,
		Scopes:        scopes,
		Digest:        digest,
		PepperVersion: version,
		CreatedAt:     now,
		ExpiresAt:     now.Add(lifetime),
	}, nil
}

// ListKeys lists a partner's keys, newest first; with compromised set,
// only those a secret-scanning report found published.
func (s *Server) ListKeys(ctx context.Context, req *adminv1.ListKeysRequest) (*adminv1.ListKeysResponse, error) {
	pid := req.GetPartnerId()
	if err := partner.ValidateID("partner_id", pid); err != nil {
		return nil, s.status(ctx, "ListKeys", err)
	}
	if _, err := s.Store.GetPartner(ctx, pid); err != nil {
		return nil, s.status(ctx, "ListKeys", named(fmt.Sprintf("partner %q", pid), err))
	}
	cs, err := s.Store.ListCredentials(ctx, pid)
	if err != nil {
		return nil, s.status(ctx, "ListKeys", err)
	}
	now := s.now()
	out := &adminv1.ListKeysResponse{Keys: make([]*adminv1.Key, 0, len(cs))}
	for _, c := range cs {
		if req.GetCompromised() && !c.Compromised() {
			continue
		}
		out.Keys = append(out.Keys, keyPB(c, now))
	}
	return out, nil
}

// RevokeKey revokes a key at once.
func (s *Server) RevokeKey(ctx context.Context, req *adminv1.RevokeKeyRequest) (*adminv1.RevokeKeyResponse, error) {
	c, err := s.revokeKey(ctx, req)
	if err != nil {
		return nil, s.status(ctx, "RevokeKey", err)
	}
	return &adminv1.RevokeKeyResponse{Key: keyPB(c, s.now())}, nil
}

func (s *Server) revokeKey(ctx context.Context, req *adminv1.RevokeKeyRequest) (*partner.Credential, error) {
	id := req.GetKeyId()
	if err := validateKeyID("key_id", id); err != nil {
		return nil, err
	}
	if err := validateReason("reason", req.GetReason()); err != nil {
		return nil, err
	}
	// One store call reads nothing first: it revokes the key unless it is
	// already revoked, and records the event with the key's partner and
	// whether it had expired.
	ev := s.event(ctx, "key.revoke", "", id, req.GetReason())
	c, err := s.Store.RevokeCredential(ctx, id, ev)
	switch {
	case errors.Is(err, store.ErrRevoked):
		return nil, precondition(fmt.Sprintf("key %q is already revoked", id))
	case err != nil:
		return nil, named(fmt.Sprintf("key %q", id), err)
	}
	ev.PartnerID = c.PartnerID
	// c is the row as committed: the cache installs it, revoked, before
	// RevokeKey returns.
	s.committedKey(ctx, ev, c)
	return c, nil
}

// RotateKey issues a successor to a key and bounds the old key's life to
// the overlap, in one store transaction.
func (s *Server) RotateKey(ctx context.Context, req *adminv1.RotateKeyRequest) (*adminv1.RotateKeyResponse, error) {
	old, next, key, err := s.rotateKey(ctx, req)
	if err != nil {
		return nil, s.status(ctx, "RotateKey", err)
	}
	now := s.now()
	return &adminv1.RotateKeyResponse{Key: keyPB(next, now), Secret: key.Reveal(), Previous: keyPB(old, now)}, nil
}

func (s *Server) rotateKey(ctx context.Context, req *adminv1.RotateKeyRequest) (old, next *partner.Credential, key apikey.Key, err error) {
	id := req.GetKeyId()
	if err := validateKeyID("key_id", id); err != nil {
		return nil, nil, key, err
	}
	overlap, set, err := duration("overlap", req.GetOverlap())
	if err != nil {
		return nil, nil, key, err
	}
	switch {
	case !set:
		overlap = s.defaultOverlap()
	case overlap < 0:
		return nil, nil, key, partner.Invalid("overlap", "must not be negative")
	case overlap > s.maxOverlap():
		return nil, nil, key, partner.Invalid("overlap", "must be at most %s", s.maxOverlap())
	}
	if err := validateReason("reason", req.GetReason()); err != nil {
		return nil, nil, key, err
	}
	for attempt := 1; ; attempt++ {
		old, err = s.Store.GetCredential(ctx, id)
		if err != nil {
			return nil, nil, key, named(fmt.Sprintf("key %q", id), err)
		}
		now := s.now()
		switch {
		case old.Revoked():
			return nil, nil, key, precondition(fmt.Sprintf("key %q is revoked; issue a new key instead", id))
		case old.Expired(now):
			return nil, nil, key, precondition(fmt.Sprintf("key %q has expired; issue a new key instead", id))
		}
		if !req.GetForce() {
			if succ, err := s.liveSuccessor(ctx, old, now); err != nil {
				return nil, nil, key, err
			} else if succ != "" {
				return nil, nil, key, precondition(fmt.Sprintf("key %q was already rotated: its successor %q is live; "+
					"rotate %q instead, or use --force for a second successor", id, succ, succ))
			}
		}
		p, err := s.Store.GetPartner(ctx, old.PartnerID)
		if err != nil {
			return nil, nil, key, err
		}
		// The successor lives as long as the old key was issued for,
		// unless the operator says otherwise: a 20-second test key does
		// not become a 90-day one by rotation.
		life := s.defaultLifetime()
		if !old.ExpiresAt.IsZero() && old.ExpiresAt.After(old.CreatedAt) {
			life = old.ExpiresAt.Sub(old.CreatedAt)
		}
		life, err = s.lifetime(req.GetExpiresIn(), life)
		if err != nil {
			return nil, nil, key, err
		}
		// The successor keeps the old key's scopes, less any grant the
		// partner has lost since: a rotation never widens access.
		scopes := old.Scopes.Intersect(p.Scopes)
		key, next, err = s.newCredential(old.PartnerID, scopes, old.Name, now, life)
		if err != nil {
			return nil, nil, key, err
		}
		next.RotatedFrom = old.ID
		// The successor is used from where the old key was.
		next.AllowCIDRs = old.AllowCIDRs

		end := now.Add(overlap)
		if old.ExpiresAt.IsZero() || end.Before(old.ExpiresAt) {
			old.ExpiresAt = end // never extend an expiry
		}
		old.LastRotatedAt = now

		ev := s.event(ctx, "key.rotate", old.PartnerID, old.ID, req.GetReason())
		ev.Detail = map[string]string{
			"new_key_id":     next.ID,
			"overlap":        overlap.String(),
			"old_expires_at": old.ExpiresAt.UTC().Format(time.RFC3339),
			"new_expires_at": next.ExpiresAt.UTC().Format(time.RFC3339),
			"scopes":         scopes.String(),
		}
		if dropped := old.Scopes.Missing(scopes); len(dropped) > 0 {
			ev.Detail["dropped_scopes"] = dropped.String()
		}
		err = s.Store.RotateCredential(ctx, old, next, ev)
		if (errors.Is(err, partner.ErrConflict) || errors.Is(err, partner.ErrExists)) && attempt < writeAttempts {
			continue // lost a race, or the new key id collided: start over
		}
		if err != nil {
			return nil, nil, key, err
		}
		s.committed(ctx, ev)
		return old, next, key, nil
	}
}

// liveSuccessor returns the id of a usable key rotated from old, or "".
func (s *Server) liveSuccessor(ctx context.Context, old *partner.Credential, now time.Time) (string, error) {
	cs, err := s.Store.ListCredentials(ctx, old.PartnerID)
	if err != nil {
		return "", err
	}
	for _, c := range cs {
		if c.RotatedFrom == old.ID && c.Usable(now) {
			return c.ID, nil
		}
	}
	return "", nil
}

// ListAudit pages through the audit trail.
func (s *Server) ListAudit(ctx context.Context, req *adminv1.ListAuditRequest) (*adminv1.ListAuditResponse, error) {
	f, err := auditFilter(req)
	if err != nil {
		return nil, s.status(ctx, "ListAudit", err)
	}
	evs, err := s.Store.ListAudit(ctx, f)
	if err != nil {
		return nil, s.status(ctx, "ListAudit", err)
	}
	out := &adminv1.ListAuditResponse{Events: make([]*adminv1.AuditEvent, 0, len(evs))}
	for _, ev := range evs {
		out.Events = append(out.Events, auditPB(ev))
	}
	return out, nil
}

func auditFilter(req *adminv1.ListAuditRequest) (store.AuditFilter, error) {
	f := store.AuditFilter{PartnerID: req.GetPartnerId(), Actor: req.GetActor(), AfterID: req.GetAfterId(), Limit: int(req.GetLimit())}
	if f.PartnerID != "" {
		if err := partner.ValidateID("partner_id", f.PartnerID); err != nil {
			return f, err
		}
	}
	if len(f.Actor) > 255 || sanitize(f.Actor, 255) != f.Actor {
		return f, partner.Invalid("actor", "must be an operator name: letters, digits and '._@:-'")
	}
	if f.AfterID < 0 {
		return f, partner.Invalid("after_id", "must not be negative")
	}
	if f.Limit < 0 || f.Limit > MaxAuditLimit {
		return f, partner.Invalid("limit", "must be between 0 and %d", MaxAuditLimit)
	}
	if f.Limit == 0 {
		f.Limit = DefaultAuditLimit
	}
	return f, nil
}
