package admin

import (
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/partnergate/partnergate/internal/partner"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// Key states as the API reports them.
const (
	KeyActive  = "active"
	KeyExpired = "expired"
	KeyRevoked = "revoked"
)

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func partnerPB(p *partner.Partner) *adminv1.Partner {
	return &adminv1.Partner{
		Id:        p.ID,
		Tier:      p.Tier,
		Scopes:    slices.Clone([]string(p.Scopes)),
		State:     string(p.State),
		CreatedAt: ts(p.CreatedAt),
		UpdatedAt: ts(p.UpdatedAt),

		RevokedBefore: ts(p.TokensNotBefore),
		Limits:        limitsPB(p.Limits),
		AllowCidrs:    p.AllowCIDRs.Strings(),
		DeletedAt:     ts(p.DeletedAt),

		RequireCertificate: p.RequireCertificate,
	}
}

// keyPB returns c's public view at now. It copies no digest: the message has
// no field for one.
func keyPB(c *partner.Credential, now time.Time) *adminv1.Key {
	state := KeyActive
	switch {
	case c.Revoked():
		state = KeyRevoked
	case c.Expired(now):
		state = KeyExpired
	}
	return &adminv1.Key{
		Id:            c.ID,
		PartnerId:     c.PartnerID,
		Name:          c.Name,
		Scopes:        slices.Clone([]string(c.Scopes)),
		CreatedAt:     ts(c.CreatedAt),
		ExpiresAt:     ts(c.ExpiresAt),
		RevokedAt:     ts(c.RevokedAt),
		RotatedFrom:   c.RotatedFrom,
		LastRotatedAt: ts(c.LastRotatedAt),
		LastUsedAt:    ts(c.LastUsedAt),
		State:         state,
		LastUsedFrom:  c.LastUsedFrom,
		CompromisedAt: ts(c.CompromisedAt),
		AllowCidrs:    c.AllowCIDRs.Strings(),
		PepperVersion: int32(c.PepperVersion),
	}
}

func auditPB(ev partner.AuditEvent) *adminv1.AuditEvent {
	return &adminv1.AuditEvent{
		Id:        ev.ID,
		At:        ts(ev.At),
		Actor:     ev.Actor,
		Action:    ev.Action,
		PartnerId: ev.PartnerID,
		KeyId:     ev.CredentialID,
		Reason:    ev.Reason,
		Detail:    ev.Detail,

		AuthMethod: ev.AuthMethod,
		Source:     ev.Source,
		Note:       ev.Note,
	}
}
