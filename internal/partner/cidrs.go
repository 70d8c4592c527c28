package partner

import (
	"net/netip"
	"slices"
	"strings"
)

// CIDRs is a source allow-list: the networks a credential may be used
// from. It is kept sorted, masked and free of duplicates, so two equal lists
// have equal string forms. The empty list allows every address.
type CIDRs []netip.Prefix

// MaxCIDRs bounds how many networks one allow-list holds.
const MaxCIDRs = 64

// NewCIDRs parses networks such as "203.0.113.0/24" or "2001:db8::/32" and
// returns them as a sorted set. A network with host bits set
// ("203.0.113.7/24") is refused rather than silently widened: the operator
// may have meant the host. A bare address is refused too; write it as /32
// or /128. An IPv4-mapped IPv6 network is refused, since the client address
// is compared in its unmapped form. Field names the input in errors.
func NewCIDRs(field string, nets []string) (CIDRs, error) {
	if len(nets) > MaxCIDRs {
		return nil, Invalid(field, "at most %d networks", MaxCIDRs)
	}
	out := make(CIDRs, 0, len(nets))
	for _, n := range nets {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			return nil, Invalid(field, "%q is not a network such as 203.0.113.0/24 or 2001:db8::/32", bounded(n))
		}
		if p.Addr().Zone() != "" || p.Addr().Is4In6() {
			return nil, Invalid(field, "%q: write IPv4 networks in IPv4 form, without a zone", bounded(n))
		}
		if p.Masked() != p {
			return nil, Invalid(field, "%q has host bits set; the network is %s", bounded(n), p.Masked())
		}
		out = append(out, p)
	}
	slices.SortFunc(out, comparePrefix)
	return slices.Compact(out), nil
}

// ParseCIDRs parses a comma- or space-separated list, as the CLI flags and
// the store take it.
func ParseCIDRs(field, s string) (CIDRs, error) {
	return NewCIDRs(field, strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }))
}

// String returns the comma-separated form.
func (c CIDRs) String() string {
	parts := make([]string, len(c))
	for i, p := range c {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

// Strings returns each network's string form.
func (c CIDRs) Strings() []string {
	if len(c) == 0 {
		return nil
	}
	return strings.Split(c.String(), ",")
}

// Allows reports whether addr may use a credential with this list: true
// for an empty list, else whether a network contains addr. An IPv4-mapped
// IPv6 address is compared as the IPv4 address it maps; an invalid address
// is allowed only by the empty list.
func (c CIDRs) Allows(addr netip.Addr) bool {
	if len(c) == 0 {
		return true
	}
	addr = addr.Unmap().WithZone("")
	for _, p := range c {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Equal reports whether c and d hold the same networks.
func (c CIDRs) Equal(d CIDRs) bool { return slices.Equal(c, d) }

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// bounded shortens untrusted input before it goes into an error message.
func bounded(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
