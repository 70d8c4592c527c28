package authz

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// headers reads request headers in either of the shapes Envoy sends: the
// merged map (repeated headers joined with ','), or with encode_raw_headers
// the raw list, where a repeated header appears once per value.
type headers struct {
	m    map[string]string
	list []*corev3.HeaderValue
}

func requestHeaders(h *authv3.AttributeContext_HttpRequest) headers {
	return headers{m: h.GetHeaders(), list: h.GetHeaderMap().GetHeaders()}
}

// get returns the value of the lower-case header name and how many times it
// was sent. In the merged map a repeat shows only as a ',' in the value;
// callers that need one value treat a ',' as a repeat.
func (h headers) get(name string) (string, int) {
	if v, ok := h.m[name]; ok {
		return v, 1
	}
	var val string
	n := 0
	for _, hv := range h.list {
		if hv.GetKey() == name {
			n++
			val = headerValue(hv)
		}
	}
	return val, n
}

func headerValue(hv *corev3.HeaderValue) string {
	if len(hv.GetRawValue()) > 0 {
		return string(hv.GetRawValue())
	}
	return hv.GetValue()
}
