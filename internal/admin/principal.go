package admin

import (
	"context"
	"slices"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
)

// AuthMethod is how an operator authenticated. The values are the audit
// trail's auth_method and the failed-authentication metric's method
// attribute.
type AuthMethod string

const (
	MethodOperatorToken     AuthMethod = "operator_token"
	MethodOIDC              AuthMethod = "oidc"
	MethodClientCertificate AuthMethod = "client_certificate"
	MethodBootstrap         AuthMethod = "bootstrap"
	// MethodNone labels a failed attempt that presented no credential
	// of a known kind.
	MethodNone AuthMethod = "none"
)

// Principal is the verified operator behind an admin call.
type Principal struct {
	// Name is the operator's name, [partner.BootstrapOperator], or the
	// IdP subject.
	Name string
	Role partner.Role
	// Partners, sorted, are the partners it may touch; empty means all.
	Partners []string
	Method   AuthMethod
	// CredentialID is the credential's public id: pgop_<id> for a token,
	// the certificate SAN, or empty.
	CredentialID string
	// ExpiresAt is when the credential stops working; zero if never.
	ExpiresAt time.Time
}

// Scoped reports whether p is limited to some partners.
func (p *Principal) Scoped() bool { return len(p.Partners) > 0 }

// MayTouch reports whether p may see or change partner id.
func (p *Principal) MayTouch(id string) bool {
	if !p.Scoped() {
		return true
	}
	_, found := slices.BinarySearch(p.Partners, id)
	return found
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal the interceptors verified for ctx's
// call, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// visible reports whether the caller in ctx may see partner id. A call
// without a principal sees nothing: the handlers are only reachable
// through the interceptors that set one.
func visible(ctx context.Context, id string) bool {
	p := PrincipalFrom(ctx)
	return p != nil && p.MayTouch(id)
}
