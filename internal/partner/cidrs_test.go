package partner

import (
	"errors"
	"net/netip"
	"testing"
)

// Test strategy: an allow-list is a security boundary, so each case names
// an address just inside and just outside a network, for IPv4 and IPv6, and
// the forms that must be refused rather than silently read another way.
func TestCIDRsAllows(t *testing.T) {
	list, err := ParseCIDRs("allow_cidrs", "203.0.113.0/24, 2001:db8::/32,198.51.100.7/32")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr string
		want bool
	}{
		{"203.0.113.0", true},
		{"203.0.113.255", true},
		{"203.0.114.0", false},
		{"203.0.112.255", false},
		{"198.51.100.7", true},
		{"198.51.100.8", false},
		{"::ffff:203.0.113.9", true}, // IPv4-mapped: compared as IPv4
		{"2001:db8::1", true},
		{"2001:db8:ffff:ffff::1", true},
		{"2001:db9::1", false},
		{"fe80::1%eth0", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := list.Allows(netip.MustParseAddr(tt.addr)); got != tt.want {
				t.Errorf("Allows(%s) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
	if !(CIDRs(nil)).Allows(netip.MustParseAddr("192.0.2.1")) {
		t.Error("the empty list refused an address")
	}
	if list.Allows(netip.Addr{}) {
		t.Error("a list allowed the invalid (unknown) address")
	}
	if got, want := list.String(), "198.51.100.7/32,203.0.113.0/24,2001:db8::/32"; got != want {
		t.Errorf("String() = %q, want %q (sorted)", got, want)
	}
}

func TestNewCIDRsRefuses(t *testing.T) {
	tests := []struct{ name, in string }{
		{"host-bits-set", "203.0.113.7/24"},
		{"bare-address", "203.0.113.7"},
		{"not-a-network", "example.com/24"},
		{"mapped-v4", "::ffff:203.0.113.0/120"},
		{"prefix-too-long", "203.0.113.0/33"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fe *FieldError
			if _, err := ParseCIDRs("allow_cidrs", tt.in); !errors.As(err, &fe) || fe.Field != "allow_cidrs" {
				t.Errorf("ParseCIDRs(%q) = %v, want a FieldError naming allow_cidrs", tt.in, err)
			}
		})
	}
}
