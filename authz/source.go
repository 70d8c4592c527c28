package authz

import (
	"github.com/partnergate/partnergate/internal/clientaddr"
	"github.com/partnergate/partnergate/internal/partner"
)

// sourceAllowed returns the reason to deny a credential whose own
// allow-list (key) or partner's (part) does not allow the request's client
// address, or "" if both allow it. A credential with neither list costs
// two length checks: the address is parsed only for one that has a list.
// A request without a usable address is refused by any list. The address,
// or why there is none, goes to d.Detail for the audit.
//
// The address is the transport's: Envoy's attributes.source.address, or
// the x-forwarded-for entry past the configured trusted hops
// (internal/extauthz); never a header the decision picks itself.
func sourceAllowed(req *Request, d *Decision, key, part partner.CIDRs) Reason {
	if len(key) == 0 && len(part) == 0 {
		return ""
	}
	addr, ok := clientaddr.Parse(req.SourceAddr)
	if !ok {
		d.Detail = "no client address"
		return ReasonSourceNotAllowed
	}
	if !key.Allows(addr) || !part.Allows(addr) {
		d.Detail = addr.String()
		return ReasonSourceNotAllowed
	}
	return ""
}
