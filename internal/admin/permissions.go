package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/partnergate/partnergate/internal/partner"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// Permission is one thing an admin RPC may need. Function-level
// authorization (OWASP API5): each RPC declares one in [rules], and a role
// grants a fixed set of them (NIST SP 800-53 AC-6, least privilege).
type Permission string

const (
	// PermWhoAmI: learn one's own identity. Every role.
	PermWhoAmI Permission = "whoami"
	// PermRead: read partners, key metadata and OAuth2 clients.
	PermRead Permission = "read"
	// PermAudit: read the audit trail.
	PermAudit Permission = "audit.read"
	// PermKeys: issue, update, rotate and revoke API keys.
	PermKeys Permission = "keys.write"
	// PermClients: register and remove OAuth2 clients.
	PermClients Permission = "clients.write"
	// PermTokens: revoke access tokens.
	PermTokens Permission = "tokens.revoke"
	// PermPartners: create, update, suspend, resume and delete partners,
	// change their limits.
	PermPartners Permission = "partners.write"
	// PermOperators: manage operators.
	PermOperators Permission = "operators.manage"
)

// RolePermissions is what each role may do.
var RolePermissions = map[partner.Role][]Permission{
	partner.RoleViewer:  {PermWhoAmI, PermRead},
	partner.RoleAuditor: {PermWhoAmI, PermRead, PermAudit},
	partner.RoleIssuer:  {PermWhoAmI, PermRead, PermKeys, PermClients, PermTokens},
	partner.RoleAdmin:   {PermWhoAmI, PermRead, PermAudit, PermKeys, PermClients, PermTokens, PermPartners, PermOperators},
}

// Allows reports whether role r grants p.
func Allows(r partner.Role, p Permission) bool { return slices.Contains(RolePermissions[r], p) }

// target says what partner an RPC is about, for operators scoped to some.
type target int

const (
	// targetAll: the RPC reads across partners and its handler shows a
	// scoped operator only its partners, or it names no partner at all
	// and touches none (WhoAmI).
	targetAll target = iota + 1
	// targetPartner: the request names the partner (partnerOf).
	targetPartner
	// targetKey: the request names a key (keyOf); its partner counts.
	targetKey
	// targetUnscoped: the RPC touches no single partner it can name (a
	// token by jti, the operators), so a scoped operator may not call it.
	targetUnscoped
)

// rule is one row of the permission table.
type rule struct {
	perm      Permission
	target    target
	partnerOf func(req any) string
	keyOf     func(req any) string
}

func byPartner[T interface{ GetPartnerId() string }](req any) string {
	if r, ok := req.(T); ok {
		return r.GetPartnerId()
	}
	return ""
}

func byID[T interface{ GetId() string }](req any) string {
	if r, ok := req.(T); ok {
		return r.GetId()
	}
	return ""
}

func byKey[T interface{ GetKeyId() string }](req any) string {
	if r, ok := req.(T); ok {
		return r.GetKeyId()
	}
	return ""
}

func specID(req any) string {
	if r, ok := req.(*adminv1.ApplyPartnerRequest); ok {
		return r.GetSpec().GetId()
	}
	return ""
}

// rules is the permission table: every admin RPC, by full method name, and
// what it needs. A method missing here is refused to everyone.
var rules = map[string]rule{
	adminv1.Admin_WhoAmI_FullMethodName: {perm: PermWhoAmI, target: targetAll},

	adminv1.Admin_GetPartner_FullMethodName:       {perm: PermRead, target: targetPartner, partnerOf: byID[*adminv1.GetPartnerRequest]},
	adminv1.Admin_ListPartners_FullMethodName:     {perm: PermRead, target: targetAll},
	adminv1.Admin_ListKeys_FullMethodName:         {perm: PermRead, target: targetPartner, partnerOf: byPartner[*adminv1.ListKeysRequest]},
	adminv1.Admin_ListClients_FullMethodName:      {perm: PermRead, target: targetPartner, partnerOf: byPartner[*adminv1.ListClientsRequest]},
	adminv1.Admin_ListUnusedKeys_FullMethodName:   {perm: PermRead, target: targetAll},
	adminv1.Admin_FindKeys_FullMethodName:         {perm: PermRead, target: targetAll},
	adminv1.Admin_ListCertificates_FullMethodName: {perm: PermRead, target: targetPartner, partnerOf: byPartner[*adminv1.ListCertificatesRequest]},

	adminv1.Admin_ListAudit_FullMethodName: {perm: PermAudit, target: targetPartner, partnerOf: byPartner[*adminv1.ListAuditRequest]},

	adminv1.Admin_IssueKey_FullMethodName:  {perm: PermKeys, target: targetPartner, partnerOf: byPartner[*adminv1.IssueKeyRequest]},
	adminv1.Admin_RevokeKey_FullMethodName: {perm: PermKeys, target: targetKey, keyOf: byKey[*adminv1.RevokeKeyRequest]},
	adminv1.Admin_RotateKey_FullMethodName: {perm: PermKeys, target: targetKey, keyOf: byKey[*adminv1.RotateKeyRequest]},
	adminv1.Admin_UpdateKey_FullMethodName: {perm: PermKeys, target: targetKey, keyOf: byKey[*adminv1.UpdateKeyRequest]},
	// The tokens name no partner until the server has parsed them.
	adminv1.Admin_ReportLeakedKeys_FullMethodName: {perm: PermKeys, target: targetUnscoped},

	adminv1.Admin_AddClient_FullMethodName:    {perm: PermClients, target: targetPartner, partnerOf: byPartner[*adminv1.AddClientRequest]},
	adminv1.Admin_RemoveClient_FullMethodName: {perm: PermClients, target: targetPartner, partnerOf: byPartner[*adminv1.RemoveClientRequest]},
	// A registered certificate is a credential, as a registered client is.
	adminv1.Admin_AddCertificate_FullMethodName:    {perm: PermClients, target: targetPartner, partnerOf: byPartner[*adminv1.AddCertificateRequest]},
	adminv1.Admin_RemoveCertificate_FullMethodName: {perm: PermClients, target: targetPartner, partnerOf: byPartner[*adminv1.RemoveCertificateRequest]},

	adminv1.Admin_RevokeToken_FullMethodName:         {perm: PermTokens, target: targetUnscoped},
	adminv1.Admin_RevokePartnerTokens_FullMethodName: {perm: PermTokens, target: targetPartner, partnerOf: byID[*adminv1.RevokePartnerTokensRequest]},

	adminv1.Admin_CreatePartner_FullMethodName:    {perm: PermPartners, target: targetPartner, partnerOf: byID[*adminv1.CreatePartnerRequest]},
	adminv1.Admin_SuspendPartner_FullMethodName:   {perm: PermPartners, target: targetPartner, partnerOf: byID[*adminv1.SuspendPartnerRequest]},
	adminv1.Admin_ResumePartner_FullMethodName:    {perm: PermPartners, target: targetPartner, partnerOf: byID[*adminv1.ResumePartnerRequest]},
	adminv1.Admin_SetPartnerLimits_FullMethodName: {perm: PermPartners, target: targetPartner, partnerOf: byID[*adminv1.SetPartnerLimitsRequest]},
	adminv1.Admin_UpdatePartner_FullMethodName:    {perm: PermPartners, target: targetPartner, partnerOf: byID[*adminv1.UpdatePartnerRequest]},
	adminv1.Admin_DeletePartner_FullMethodName:    {perm: PermPartners, target: targetPartner, partnerOf: byID[*adminv1.DeletePartnerRequest]},
	// It also registers and removes the partner's clients: admin holds
	// clients.write too.
	adminv1.Admin_ApplyPartner_FullMethodName: {perm: PermPartners, target: targetPartner, partnerOf: specID},
	// What the partner's credentials need is the partner's policy.
	adminv1.Admin_RequireCertificate_FullMethodName: {perm: PermPartners, target: targetPartner, partnerOf: byPartner[*adminv1.RequireCertificateRequest]},

	adminv1.Admin_CreateOperator_FullMethodName: {perm: PermOperators, target: targetUnscoped},
	adminv1.Admin_GetOperator_FullMethodName:    {perm: PermOperators, target: targetUnscoped},
	adminv1.Admin_ListOperators_FullMethodName:  {perm: PermOperators, target: targetUnscoped},
	adminv1.Admin_UpdateOperator_FullMethodName: {perm: PermOperators, target: targetUnscoped},
	adminv1.Admin_RevokeOperator_FullMethodName: {perm: PermOperators, target: targetUnscoped},
	adminv1.Admin_RotateOperator_FullMethodName: {perm: PermOperators, target: targetUnscoped},
}

// Rule returns the permission method needs, and false if the table has no
// entry for it (then nobody may call it).
func Rule(method string) (Permission, bool) {
	r, ok := rules[method]
	return r.perm, ok
}

// denial is a refused call: the public message, and what the audit event
// records.
type denial struct {
	msg       string
	partnerID string
	keyID     string
}

// authorize checks p against method's rule and, for a scoped operator, the
// partner the request is about. A refusal is audited and answered with
// PERMISSION_DENIED.
func (a *Authenticator) authorize(ctx context.Context, p *Principal, method string, req any) error {
	d, err := a.check(ctx, p, method, req)
	if err != nil || d == nil {
		return err
	}
	ev := partner.AuditEvent{
		At: a.now(), Actor: p.Name, AuthMethod: string(p.Method), Source: source(ctx), Note: note(ctx),
		Action: "access.deny", PartnerID: d.partnerID, CredentialID: d.keyID,
		Detail: map[string]string{"rpc": pathSafe(method, 128), "role": string(p.Role)},
	}
	a.logger().LogAttrs(ctx, slog.LevelWarn, "admin call refused",
		slog.String("operator", p.Name), slog.String("rpc", ev.Detail["rpc"]), slog.String("partner_id", d.partnerID))
	if a.Store != nil {
		if err := a.Store.RecordAudit(ctx, ev); err != nil {
			// The refusal stands either way.
			a.logger().LogAttrs(ctx, slog.LevelError, "admin refusal not audited", slog.Any("error", err))
		}
	}
	return status.Error(codes.PermissionDenied, d.msg)
}

func (a *Authenticator) check(ctx context.Context, p *Principal, method string, req any) (*denial, error) {
	r, ok := rules[method]
	if !ok {
		return &denial{msg: "no permission is declared for this method"}, nil
	}
	if !Allows(p.Role, r.perm) {
		return &denial{msg: fmt.Sprintf("operator %q (role %s) lacks permission %s", p.Name, p.Role, r.perm)}, nil
	}
	if !p.Scoped() {
		return nil, nil
	}
	scoped := func(pid, kid string) *denial {
		return &denial{msg: fmt.Sprintf("operator %q is not scoped to this partner", p.Name), partnerID: sanitize(pid, 63), keyID: sanitize(kid, 64)}
	}
	switch r.target {
	case targetAll:
		return nil, nil
	case targetPartner:
		if pid := r.partnerOf(req); pid == "" || !p.MayTouch(pid) {
			return scoped(pid, ""), nil
		}
		return nil, nil
	case targetKey:
		kid := r.keyOf(req)
		if a.Store == nil {
			return scoped("", kid), nil
		}
		pid, err := a.keyPartner(ctx, kid)
		switch {
		case errors.Is(err, partner.ErrNotFound):
			// An unknown key looks like another partner's: a scoped
			// operator learns nothing about ids outside its partners.
			return scoped("", kid), nil
		case err != nil:
			return nil, a.fault(ctx, err)
		case !p.MayTouch(pid):
			return scoped(pid, kid), nil
		}
		return nil, nil
	}
	return &denial{msg: fmt.Sprintf("operator %q is scoped to partners; this call is not about one of them", p.Name)}, nil
}

// keyPartner returns the partner of key id: from Keys if it holds the key
// (a key's partner never changes, so its answer is the store's), else from
// the store.
func (a *Authenticator) keyPartner(ctx context.Context, id string) (string, error) {
	if a.Keys != nil {
		if pid, ok := a.Keys.KeyPartner(id); ok {
			return pid, nil
		}
	}
	c, err := a.Store.GetCredential(ctx, id)
	if err != nil {
		return "", err
	}
	return c.PartnerID, nil
}
