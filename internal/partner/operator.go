package partner

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Role is what an operator of the admin API may do. Roles are ordered:
// each may do everything the one before it may, issuer and auditor being
// two branches above viewer.
type Role string

const (
	// RoleViewer reads partners, key metadata and OAuth2 clients.
	RoleViewer Role = "viewer"
	// RoleAuditor is a viewer that also reads the audit trail.
	RoleAuditor Role = "auditor"
	// RoleIssuer is a viewer that also issues, rotates and revokes keys,
	// registers and removes OAuth2 clients and revokes tokens, for the
	// partners it is scoped to. It cannot create partners, change grants,
	// tiers or limits, or manage operators.
	RoleIssuer Role = "issuer"
	// RoleAdmin may do everything, operators included.
	RoleAdmin Role = "admin"
)

// Roles lists every role, least first.
var Roles = []Role{RoleViewer, RoleAuditor, RoleIssuer, RoleAdmin}

// ParseRole returns the role named s.
func ParseRole(field, s string) (Role, error) {
	if r := Role(s); slices.Contains(Roles, r) {
		return r, nil
	}
	return "", Invalid(field, "must be one of viewer, auditor, issuer, admin")
}

// BootstrapOperator is the name the bootstrap (break-glass) token acts
// under in the audit trail. No registered operator may take it.
const BootstrapOperator = "bootstrap"

// MaxOperatorPartners caps the partners one operator is scoped to.
const MaxOperatorPartners = 256

// Operator is a named principal of the admin API: a person or an
// automation with its own credential and a role. With Partners set it sees
// and changes only those partners.
type Operator struct {
	// Name identifies the operator in the audit trail.
	Name string
	Role Role
	// Partners, sorted, are the partners the operator may touch; empty
	// means every partner. An admin is never scoped.
	Partners []string
	// CertSAN, if set, is the URI SAN (such as a SPIFFE ID) or DNS SAN of
	// the client certificates that authenticate as this operator.
	CertSAN   string
	CreatedAt time.Time
	UpdatedAt time.Time
	// ExpiresAt is when every credential of the operator stops working.
	// Operators always expire.
	ExpiresAt time.Time
	// RevokedAt is zero while the operator is not revoked.
	RevokedAt time.Time
	// Version increases on every write, for optimistic concurrency.
	Version int64
}

// Revoked reports whether the operator has been revoked.
func (o *Operator) Revoked() bool { return !o.RevokedAt.IsZero() }

// Expired reports whether the operator has expired at now.
func (o *Operator) Expired(now time.Time) bool {
	return !o.ExpiresAt.IsZero() && !now.Before(o.ExpiresAt)
}

// Usable reports whether the operator may authenticate at now.
func (o *Operator) Usable(now time.Time) bool { return !o.Revoked() && !o.Expired(now) }

// Scoped reports whether the operator is limited to some partners.
func (o *Operator) Scoped() bool { return len(o.Partners) > 0 }

var operatorNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{0,63}$`)

// ValidateOperatorName reports whether name is a usable operator name: 1–64
// characters of lower-case letters, digits and '._@-', starting with a
// letter or digit, and not the bootstrap operator's name.
func ValidateOperatorName(field, name string) error {
	if !operatorNamePattern.MatchString(name) {
		return Invalid(field, "must be 1-64 characters of a-z, 0-9 and '._@-', starting with a letter or digit")
	}
	if name == BootstrapOperator {
		return Invalid(field, "%q is reserved for the bootstrap token", BootstrapOperator)
	}
	return nil
}

// NewOperatorPartners validates, sorts and de-duplicates partner ids.
func NewOperatorPartners(field string, ids []string) ([]string, error) {
	if len(ids) > MaxOperatorPartners {
		return nil, Invalid(field, "at most %d partners", MaxOperatorPartners)
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if err := ValidateID(field, id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// ValidateCertSAN accepts a URI SAN with a scheme and no user info (such
// as spiffe://cluster.local/ns/ops/sa/deployer) or a DNS name.
func ValidateCertSAN(field, san string) error {
	if san == "" {
		return nil
	}
	if len(san) > 255 || !printable(san) || strings.ContainsAny(san, " \t") {
		return Invalid(field, "must be at most 255 printable characters without spaces")
	}
	if strings.Contains(san, "://") {
		u, err := url.Parse(san)
		if err != nil || u.Scheme == "" || u.Host == "" || u.User != nil {
			return Invalid(field, "must be a URI SAN such as spiffe://trust-domain/path, or a DNS name")
		}
		return nil
	}
	if !dnsPattern.MatchString(san) {
		return Invalid(field, "must be a URI SAN such as spiffe://trust-domain/path, or a DNS name")
	}
	return nil
}

var dnsPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,62}\.)*[a-z0-9-]{1,63}$`)

// Validate checks o's fields, naming the first bad one.
func (o *Operator) Validate() error {
	if err := ValidateOperatorName("name", o.Name); err != nil {
		return err
	}
	if _, err := ParseRole("role", string(o.Role)); err != nil {
		return err
	}
	if o.Role == RoleAdmin && len(o.Partners) > 0 {
		// An admin manages operators, so a scoped admin could create an
		// unscoped one: scoping it would be a promise it cannot keep.
		return Invalid("partners", "an admin cannot be scoped to partners")
	}
	if _, err := NewOperatorPartners("partners", o.Partners); err != nil {
		return err
	}
	if err := ValidateCertSAN("cert_san", o.CertSAN); err != nil {
		return err
	}
	if o.ExpiresAt.IsZero() {
		return Invalid("expires_at", "required: operators always expire")
	}
	return nil
}

// OperatorToken is one personal token of an operator, as the store keeps
// it: the public id and a keyed digest of the secret, never the secret.
type OperatorToken struct {
	// ID is the public token id embedded in the token.
	ID       string
	Operator string
	// Digest is HMAC-SHA256(pepper[PepperVersion], token).
	Digest        []byte
	PepperVersion int
	CreatedAt     time.Time
	// ExpiresAt is zero for a token that lives as long as its operator;
	// rotation sets it on the old token to the end of the overlap.
	ExpiresAt time.Time
}

// Expired reports whether the token itself has expired at now.
func (t *OperatorToken) Expired(now time.Time) bool {
	return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
}
