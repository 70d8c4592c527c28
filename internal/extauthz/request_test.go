package extauthz

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/partnergate/partnergate/authz"
)

// headers are the request headers in the shapes Envoy sends.
type headers = envoyHeaders

// mapHeaders is the merged header map Envoy sends by default.
func mapHeaders(pairs ...string) headers {
	m := make(map[string]string, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	return headers{m: m}
}

// rawHeaders is the header list Envoy sends with encode_raw_headers: one
// entry per value, values in RawValue.
func rawHeaders(pairs ...string) headers {
	var list []*corev3.HeaderValue
	for i := 0; i < len(pairs); i += 2 {
		list = append(list, &corev3.HeaderValue{Key: pairs[i], RawValue: []byte(pairs[i+1])})
	}
	return headers{list: list}
}

// envoyHeaders reads a raw header's RawValue, else its Value (older
// Envoys fill Value), counts each repeat, and hands the decision the
// map itself when there is no raw list.
func TestEnvoyHeaders(t *testing.T) {
	h := headers{list: []*corev3.HeaderValue{
		{Key: "x-api-key", Value: "from-value"},
		{Key: "authorization", RawValue: []byte("Bearer raw")},
		{Key: "x-partner-id", RawValue: []byte("acme")},
		{Key: "x-partner-id", RawValue: []byte("globex")},
	}}
	for _, tt := range []struct {
		name, value string
		n           int
	}{
		{"x-api-key", "from-value", 1},
		{"authorization", "Bearer raw", 1},
		{"x-partner-id", "globex", 2},
		{"x-request-id", "", 0},
	} {
		if v, n := h.accessor().Get(tt.name); v != tt.value || n != tt.n {
			t.Errorf("Get(%q) = %q, %d; want %q, %d", tt.name, v, n, tt.value, tt.n)
		}
	}
	if _, ok := mapHeaders("x-api-key", "k").accessor().(authz.MapHeaders); !ok {
		t.Error("a request without a raw list is not read through the map itself")
	}
}
