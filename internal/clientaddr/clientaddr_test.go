package clientaddr

import (
	"net/netip"
	"testing"
)

// Test strategy: the client address decides a source allow-list, so each
// case pins which x-forwarded-for entry is taken for a number of trusted
// hops, including a spoofed entry the client put left of the trusted
// proxies' entries, which must never be the one returned, and headers too
// short to hold a trusted entry, which must yield none.
func TestFromXFF(t *testing.T) {
	tests := []struct {
		name string
		xff  string
		hops int
		want string // "" for none
	}{
		{"zero-hops-takes-rightmost", "198.51.100.1, 203.0.113.9", 0, "203.0.113.9"},
		{"one-hop", "198.51.100.1, 203.0.113.9, 192.0.2.5", 1, "203.0.113.9"},
		{"two-hops", "198.51.100.1,203.0.113.9,192.0.2.5,192.0.2.6", 2, "203.0.113.9"},
		{"spoofed-left-of-trusted-hops", "203.0.113.77, 198.51.100.200, 192.0.2.5", 1, "198.51.100.200"},
		{"exactly-enough-entries", "198.51.100.1, 192.0.2.5", 1, "198.51.100.1"},
		{"too-few-entries", "192.0.2.5", 1, ""},
		{"empty-header", "", 0, ""},
		{"empty-header-with-hops", "", 2, ""},
		{"ipv6", "2001:db8::1, 192.0.2.5", 1, "2001:db8::1"},
		{"ipv6-bracketed-with-port", "[2001:db8::1]:4711, 192.0.2.5", 1, "2001:db8::1"},
		{"ipv4-with-port", "198.51.100.1:4711", 0, "198.51.100.1"},
		{"mapped-v4-unmapped", "::ffff:198.51.100.1", 0, "198.51.100.1"},
		{"garbage-entry", "not-an-ip, 192.0.2.5", 1, ""},
		{"empty-entry", ", 192.0.2.5", 1, ""},
		{"negative-hops", "198.51.100.1", -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := FromXFF(tt.xff, tt.hops)
			if tt.want == "" {
				if ok {
					t.Fatalf("FromXFF(%q, %d) = %v, want none", tt.xff, tt.hops, got)
				}
				return
			}
			if !ok || got != netip.MustParseAddr(tt.want) {
				t.Fatalf("FromXFF(%q, %d) = %v, %v; want %s", tt.xff, tt.hops, got, ok, tt.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name      string
		r         Resolver
		peer, xff string
		want      string
	}{
		{"peer-ignores-xff", Resolver{}, "192.0.2.5:5000", "203.0.113.1", "192.0.2.5"},
		{"peer-v6-with-port", Resolver{}, "[2001:db8::5]:443", "", "2001:db8::5"},
		{"peer-bare", Resolver{}, "192.0.2.5", "", "192.0.2.5"},
		{"peer-missing", Resolver{}, "", "203.0.113.1", ""},
		{"xff", Resolver{FromXFF: true, TrustedHops: 1}, "192.0.2.5:5000", "203.0.113.1, 10.0.0.2", "203.0.113.1"},
		{"xff-never-falls-back-to-peer", Resolver{FromXFF: true, TrustedHops: 1}, "192.0.2.5:5000", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.r.Resolve(tt.peer, tt.xff)
			if tt.want == "" {
				if ok {
					t.Fatalf("Resolve = %v, want none", got)
				}
				return
			}
			if !ok || got != netip.MustParseAddr(tt.want) {
				t.Fatalf("Resolve = %v, %v; want %s", got, ok, tt.want)
			}
		})
	}
}

// TestAddress: the text a transport hands on agrees with Resolve.
func TestAddress(t *testing.T) {
	for _, tt := range []struct {
		r         Resolver
		peer, xff string
		want      string
	}{
		{Resolver{}, "192.0.2.5", "203.0.113.1", "192.0.2.5"},
		{Resolver{FromXFF: true, TrustedHops: 1}, "192.0.2.5", "203.0.113.1, 10.0.0.2", "203.0.113.1"},
		{Resolver{FromXFF: true, TrustedHops: 1}, "192.0.2.5", "10.0.0.2", ""},
		{Resolver{FromXFF: true}, "192.0.2.5", "", ""},
	} {
		if got := tt.r.Address(tt.peer, tt.xff); got != tt.want {
			t.Errorf("%+v.Address(%q, %q) = %q, want %q", tt.r, tt.peer, tt.xff, got, tt.want)
		}
	}
}

func FuzzFromXFF(f *testing.F) {
	for _, s := range []string{
		"198.51.100.1, 203.0.113.9", // two entries
		"[2001:db8::1]:4711",        // bracketed IPv6 with a port
		",,,",                       // empty entries only
		"fe80::1%eth0",              // a zone
	} {
		f.Add(s, 1)
	}
	f.Fuzz(func(t *testing.T, xff string, hops int) {
		a, ok := FromXFF(xff, hops%(MaxTrustedHops+1))
		if ok && (!a.IsValid() || a.Zone() != "" || a.Is4In6()) {
			t.Fatalf("FromXFF(%q) = %v: not a plain address", xff, a)
		}
	})
}

func BenchmarkFromXFF(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		FromXFF("198.51.100.1, 203.0.113.9, 192.0.2.5", 1)
	}
}
