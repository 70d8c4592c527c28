package authz

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// envoyHeaders reads request headers in either of the shapes Envoy sends:
// the merged map (repeated headers joined with ','), or with
// encode_raw_headers the raw list, where a repeated header appears once
// per value.
type envoyHeaders struct {
	m    map[string]string
	list []*corev3.HeaderValue
}

func requestHeaders(h *authv3.AttributeContext_HttpRequest) envoyHeaders {
	return envoyHeaders{m: h.GetHeaders(), list: h.GetHeaderMap().GetHeaders()}
}

// accessor returns h as [Headers]: the map itself when Envoy sent no raw
// list, which costs no allocation.
func (h envoyHeaders) accessor() Headers {
	if len(h.list) == 0 {
		return MapHeaders(h.m)
	}
	return h
}

// Get implements [Headers].
func (h envoyHeaders) Get(name string) (string, int) {
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
