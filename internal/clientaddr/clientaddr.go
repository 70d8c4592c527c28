// Package clientaddr finds a request's client address for source
// allow-lists: the address of the peer that connected, or one taken from
// x-forwarded-for, counted from the right past a configured number of
// trusted proxies, as Envoy's xff_num_trusted_hops counts it.
//
// The leftmost x-forwarded-for entries are whatever the client wrote, so
// an address is only ever taken from the right: each trusted proxy appends
// the address of the peer it saw, and the entry just left of the trusted
// proxies' own is the one the nearest trusted proxy saw connect. A header
// with fewer entries than that yields no address, never a guess.
//
// The functions here are pure and allocation-free; they are called on the
// Check path only for a credential that has an allow-list.
package clientaddr

import (
	"net/netip"
	"strings"
)

// MaxTrustedHops bounds [Resolver.TrustedHops].
const MaxTrustedHops = 16

// Resolver picks the client address of a request. The zero value uses the
// connected peer's address (Envoy's attributes.source.address) and ignores
// every header.
type Resolver struct {
	// FromXFF takes the address from x-forwarded-for instead of the peer.
	FromXFF bool
	// TrustedHops is the number of proxies whose entries, rightmost in
	// x-forwarded-for, are skipped: Envoy's xff_num_trusted_hops. Zero
	// takes the rightmost entry.
	TrustedHops int
}

// Address returns the client address as text, unparsed: peer, or the
// x-forwarded-for entry r selects ("" if there is none). It allocates
// nothing, so a transport can hand it on for every request and leave the
// parsing ([Parse]) to the decisions that need an address.
func (r Resolver) Address(peer, xff string) string {
	if !r.FromXFF {
		return peer
	}
	e, _ := XFFEntry(xff, r.TrustedHops)
	return e
}

// Resolve returns the client address, from the peer address peer (such as
// "203.0.113.7", "203.0.113.7:41234" or "[2001:db8::1]:443") or from the
// request's x-forwarded-for value xff, as r says; ok is false if there is
// none to be had.
func (r Resolver) Resolve(peer, xff string) (addr netip.Addr, ok bool) {
	if !r.FromXFF {
		return Parse(peer)
	}
	return FromXFF(xff, r.TrustedHops)
}

// FromXFF returns the address in an x-forwarded-for value that is
// trustedHops entries from the right, skipping those; ok is false if the
// value has too few entries or that entry is not an address. Several
// header lines joined with commas read as one list.
func FromXFF(xff string, trustedHops int) (addr netip.Addr, ok bool) {
	e, ok := XFFEntry(xff, trustedHops)
	if !ok {
		return netip.Addr{}, false
	}
	return Parse(e)
}

// XFFEntry returns the entry of an x-forwarded-for value that is
// trustedHops entries from the right, trimmed of spaces but not parsed;
// ok is false if the value has too few entries or that one is empty.
func XFFEntry(xff string, trustedHops int) (entry string, ok bool) {
	if trustedHops < 0 {
		return "", false
	}
	rest := xff
	for skipped := 0; ; skipped++ {
		i := strings.LastIndexByte(rest, ',')
		if skipped == trustedHops {
			e := strings.TrimSpace(rest[i+1:])
			return e, e != ""
		}
		if i < 0 {
			return "", false
		}
		rest = rest[:i]
	}
}

// Parse reads an address with or without a port, IPv6 in brackets when it
// has one. IPv4-mapped IPv6 addresses are returned unmapped, and zones
// dropped, so that they compare with allow-list networks as the address
// they name.
func Parse(s string) (addr netip.Addr, ok bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}
