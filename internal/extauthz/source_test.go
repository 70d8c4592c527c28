package extauthz

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/partnergate/partnergate/internal/clientaddr"
	"github.com/partnergate/partnergate/internal/peercert"
)

// TestCheckRequestSourceAddress: the client address handed to the
// decision is Envoy's attributes.source.address unless x-forwarded-for is
// configured; then the entry past the trusted hops, whatever a client
// wrote left of it, in either header shape Envoy sends, and none when the
// header is too short: never the peer's as a fallback, never another
// header.
func TestCheckRequestSourceAddress(t *testing.T) {
	xff1 := clientaddr.Resolver{FromXFF: true, TrustedHops: 1}
	tests := []struct {
		name   string
		source clientaddr.Resolver
		h      headers
		want   string
	}{
		{"peer-by-default", clientaddr.Resolver{}, mapHeaders("x-forwarded-for", "203.0.113.1"), "192.0.2.5"},
		{"peer-ignores-x-real-ip", clientaddr.Resolver{}, mapHeaders("x-real-ip", "203.0.113.1"), "192.0.2.5"},
		{"xff-past-one-hop", xff1, mapHeaders("x-forwarded-for", "203.0.113.1, 10.0.0.2"), "203.0.113.1"},
		{"xff-spoofed-left-of-trusted", xff1, mapHeaders("x-forwarded-for", "203.0.113.1, 198.51.100.7, 10.0.0.2"), "198.51.100.7"},
		{"xff-too-short", xff1, mapHeaders("x-forwarded-for", "10.0.0.2"), ""},
		{"xff-missing", xff1, mapHeaders(), ""},
		{"xff-raw-lines-joined", xff1, rawHeaders("x-forwarded-for", "203.0.113.1, 198.51.100.7", "x-forwarded-for", "10.0.0.2"), "198.51.100.7"},
		{"xff-raw-one-line", xff1, rawHeaders("x-forwarded-for", "203.0.113.1, 10.0.0.2"), "203.0.113.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
				Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
					SocketAddress: &corev3.SocketAddress{Address: "192.0.2.5"}}}},
				Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/"}},
			}}
			if got := checkRequest(req, tt.h, tt.source, peercert.NewReader(peercert.Options{})).SourceAddr; got != tt.want {
				t.Errorf("SourceAddr = %q, want %q", got, tt.want)
			}
		})
	}
}
