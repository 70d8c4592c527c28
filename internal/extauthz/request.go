package extauthz

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/partnergate/partnergate/authz"
	"github.com/partnergate/partnergate/internal/clientaddr"
	"github.com/partnergate/partnergate/internal/peercert"
)

// ContextKeyRequiredScopes is the per-route context extension
// (ExtAuthzPerRoute.check_settings.context_extensions) that lists the
// scopes a route requires, space-separated, all required.
const ContextKeyRequiredScopes = "required_scopes"

// headerXFF is the one header a configured resolver reads the client
// address from.
const headerXFF = "x-forwarded-for"

// checkRequest adapts Envoy's CheckRequest to the decision's Request: the
// client address as source says (the peer's, unless configured otherwise:
// then x-forwarded-for is read, and only then). The client certificate
// Envoy forwards (source.certificate, URL-encoded PEM) is read through
// peers, so each distinct certificate is parsed once; one that cannot be
// read counts as none, and a token bound to a certificate is then refused,
// which is the safe outcome.
func checkRequest(req *authv3.CheckRequest, h envoyHeaders, source clientaddr.Resolver, peers *peercert.Reader) authz.Request {
	attrs := req.GetAttributes()
	http := attrs.GetRequest().GetHttp()
	src := attrs.GetSource()
	addr := src.GetAddress().GetSocketAddress().GetAddress()
	if source.FromXFF {
		addr = source.Address(addr, h.all(headerXFF))
	}
	cert, _ := peers.Read(src.GetCertificate())
	return authz.Request{
		Method:          http.GetMethod(),
		Scheme:          http.GetScheme(),
		Host:            http.GetHost(),
		Path:            http.GetPath(),
		Headers:         h.accessor(),
		SourceAddr:      addr,
		SourcePrincipal: src.GetPrincipal(),
		PeerCert:        cert,
		RequiredScopes:  attrs.GetContextExtensions()[ContextKeyRequiredScopes],
		ID:              http.GetId(),
	}
}

// envoyHeaders reads request headers in either of the shapes Envoy sends:
// the merged map (repeated headers joined with ','), or with
// encode_raw_headers the raw list, where a repeated header appears once
// per value. Names are lower case in both.
type envoyHeaders struct {
	m    map[string]string
	list []*corev3.HeaderValue
}

func requestHeaders(h *authv3.AttributeContext_HttpRequest) envoyHeaders {
	return envoyHeaders{m: h.GetHeaders(), list: h.GetHeaderMap().GetHeaders()}
}

// accessor returns h as the decision reads headers: the map itself when
// Envoy sent no raw list, which costs no allocation.
func (h envoyHeaders) accessor() authz.Headers {
	if len(h.list) == 0 {
		return authz.MapHeaders(h.m)
	}
	return h
}

// Get implements [authz.Headers]: the value of a lower-case name and how
// many times it was sent, the last value of a repeated raw header.
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

// all returns every value of a lower-case name joined with ",", in the
// order sent: one list however the header was split over lines, as the
// merged map already has it.
func (h envoyHeaders) all(name string) string {
	if v, ok := h.m[name]; ok {
		return v
	}
	var vals []string
	for _, hv := range h.list {
		if hv.GetKey() == name {
			vals = append(vals, headerValue(hv))
		}
	}
	return strings.Join(vals, ",")
}

func headerValue(hv *corev3.HeaderValue) string {
	if len(hv.GetRawValue()) > 0 {
		return string(hv.GetRawValue())
	}
	return hv.GetValue()
}

// traceCarrier reads trace context from the request's headers. It is
// read-only: partnergate never injects into the request it authorizes.
type traceCarrier struct{ h envoyHeaders }

func (c traceCarrier) Get(key string) string {
	v, _ := c.h.Get(strings.ToLower(key))
	return v
}

func (traceCarrier) Set(string, string) {}

func (c traceCarrier) Keys() []string {
	out := make([]string, 0, len(c.h.m)+len(c.h.list))
	for k := range c.h.m {
		out = append(out, k)
	}
	for _, hv := range c.h.list {
		out = append(out, hv.GetKey())
	}
	return out
}
