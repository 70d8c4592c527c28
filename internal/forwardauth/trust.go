package forwardauth

import (
	"fmt"
	"net/netip"
	"strings"
)

// DefaultTrustedProxies is the trust of a server whose config names no
// proxies: loopback only, where a proxy on the same host (or pod) runs.
var DefaultTrustedProxies = []string{"127.0.0.0/8", "::1/128"}

// Trusted is a set of proxy addresses whose forwarded headers are
// honoured. The zero Trusted trusts no address.
type Trusted struct {
	prefixes []netip.Prefix
}

// ParseTrusted parses CIDRs (10.0.0.0/8, fd00::/8) or single addresses
// (192.0.2.7, a /32 or /128). It reports every entry it cannot parse,
// each named by its key and index (key[i]), at once, so that a config
// that would trust something other than what it says never starts.
func ParseTrusted(key string, list []string) (Trusted, error) {
	var t Trusted
	var bad []string
	for i, s := range list {
		p, err := parseEntry(strings.TrimSpace(s))
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s[%d]: %q %v", key, i, s, err))
			continue
		}
		t.prefixes = append(t.prefixes, p)
	}
	if len(bad) > 0 {
		return Trusted{}, trustError(bad)
	}
	return t, nil
}

// trustError lists ParseTrusted's problems, one per line.
type trustError []string

func (e trustError) Error() string { return strings.Join(e, "\n") }

// parseEntry parses one trusted_proxies entry. A prefix with host bits
// set (10.0.0.1/8) is refused: it reads as one address and means a
// network, and the operator should say which.
func parseEntry(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, fmt.Errorf("is empty")
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("is not a CIDR such as 10.0.0.0/8 or an address")
		}
		if p.Addr().Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("has a zone, which a peer address never carries")
		}
		if p.Masked() != p {
			return netip.Prefix{}, fmt.Errorf("has host bits set: write %s", p.Masked())
		}
		return unmapPrefix(p), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("is not a CIDR such as 10.0.0.0/8 or an address")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// unmapPrefix turns ::ffff:10.0.0.0/104 into 10.0.0.0/8, so that an IPv4
// peer, which Contains unmaps, matches it.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p
}

// Contains reports whether addr is a trusted proxy. An IPv4-mapped IPv6
// address (::ffff:127.0.0.1, as a dual-stack listener reports an IPv4
// peer) is judged as the IPv4 address it is.
func (t Trusted) Contains(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range t.prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// String lists the trusted prefixes, for logs.
func (t Trusted) String() string {
	s := make([]string, len(t.prefixes))
	for i, p := range t.prefixes {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}
