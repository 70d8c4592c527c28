package extauthz

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
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
