// Test strategy: trust decides whether a request's forwarded headers are
// read at all, so these tests pin both sides of every boundary: the first
// and last address of each prefix and the ones just outside, IPv4 peers
// as a dual-stack listener reports them (::ffff:a.b.c.d), and every
// malformed entry named by its index.
package forwardauth

import (
	"net/netip"
	"strings"
	"testing"
)

func TestTrustedContains(t *testing.T) {
	trusted, err := ParseTrusted("k", []string{"10.1.0.0/16", "192.0.2.7", "fd00:1::/32", "::ffff:198.51.100.0/120"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr string
		want bool
	}{
		{"10.1.0.0", true},
		{"10.1.255.255", true},
		{"10.0.255.255", false},
		{"10.2.0.0", false},
		{"::ffff:10.1.2.3", true},
		{"192.0.2.7", true},
		{"192.0.2.8", false},
		{"fd00:1::1", true},
		{"fd00:2::1", false},
		{"198.51.100.200", true}, // an IPv4-mapped prefix holds IPv4 peers
		{"198.51.101.1", false},
		{"127.0.0.1", false}, // loopback is trusted only by default, not here
	}
	for _, tt := range tests {
		if got := trusted.Contains(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Contains(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if (Trusted{}).Contains(netip.MustParseAddr("127.0.0.1")) {
		t.Error("the zero Trusted trusts loopback")
	}
}

func TestDefaultTrustedIsLoopbackOnly(t *testing.T) {
	trusted, err := ParseTrusted("k", DefaultTrustedProxies)
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "127.255.255.254": true, "::1": true, "::ffff:127.0.0.1": true,
		"10.0.0.1": false, "::2": false, "192.168.1.1": false, "0.0.0.0": false,
	} {
		if got := trusted.Contains(netip.MustParseAddr(addr)); got != want {
			t.Errorf("default Contains(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestParseTrustedNamesEveryBadEntry(t *testing.T) {
	_, err := ParseTrusted("http.trusted_proxies", []string{"10.0.0.0/8", "10.0.0.0/33", "example.com", "10.0.0.1/8", "", "fe80::1%eth0"})
	if err == nil {
		t.Fatal("ParseTrusted accepted malformed entries")
	}
	for _, want := range []string{
		`http.trusted_proxies[1]: "10.0.0.0/33"`,
		`http.trusted_proxies[2]: "example.com"`,
		`http.trusted_proxies[3]: "10.0.0.1/8" has host bits set: write 10.0.0.0/8`,
		`http.trusted_proxies[4]: "" is empty`,
		`http.trusted_proxies[5]: "fe80::1%eth0"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "[0]") {
		t.Errorf("error %q names the good entry", err)
	}
}
