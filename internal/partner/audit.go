package partner

import "time"

// AuditEvent is one entry of the append-only admin audit trail. It never
// holds a secret: credentials appear by public id only.
type AuditEvent struct {
	// ID increases with every event; set by the store.
	ID int64
	At time.Time
	// Actor is who asked: the verified operator name (see [Operator]),
	// [BootstrapOperator], or an IdP subject.
	Actor string
	// AuthMethod is how the actor authenticated: operator_token, oidc,
	// client_certificate or bootstrap. Empty on events written before
	// operators had names.
	AuthMethod string
	// Source is the client address of the call.
	Source string
	// Note is a name the client declared for itself. It is never identity.
	Note string
	// Action is a stable verb such as "partner.create" or "key.revoke".
	Action       string
	PartnerID    string
	CredentialID string
	// Reason is the operator's free-text justification, if given.
	Reason string
	// Detail holds non-secret facts about the change, such as new scopes.
	Detail map[string]string
}
