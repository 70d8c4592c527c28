package authz

import (
	"net/http"
	"net/textproto"

	"github.com/partnergate/partnergate/internal/peercert"
)

// Request is one request to decide, as a transport saw it: nothing in it
// is specific to Envoy's gRPC ext_authz or to an HTTP forward-auth proxy.
// Every field is read-only to [Decider.Decide] and may be the transport's
// own memory; the [Decision] keeps none of it but strings.
type Request struct {
	// Method is the request's HTTP method, as the edge saw it.
	Method string
	// Scheme is "https" or "http", as the edge saw it; empty when the
	// transport does not say.
	Scheme string
	// Host is the request's authority (Host or :authority), as the edge
	// saw it; empty when the transport does not say.
	Host string
	// Path is the request target as the edge saw it: path and query,
	// undecoded.
	Path string
	// Headers are the request's headers; nil means none.
	Headers Headers
	// SourceAddr is the address of the client the edge served, an IP
	// literal without port (the downstream address as Envoy's
	// xff_num_trusted_hops counts it); empty when unknown.
	SourceAddr string
	// SourcePrincipal is the client's TLS identity as the edge verified
	// it (Envoy's source.principal: a URI or DNS SAN, else the subject);
	// empty for none.
	SourcePrincipal string
	// PeerCert is the client's TLS certificate as the edge verified it,
	// read by a [peercert.Reader] so that each distinct certificate is
	// parsed once, not on every request; nil for none.
	PeerCert *peercert.Cert
	// RequiredScopes are the scopes the route requires, space-separated,
	// all required, as the route itself declares them (Envoy's
	// context_extensions required_scopes, a trusted proxy's
	// X-Partnergate-Required-Scopes). Empty means the route declares
	// none and the policy file decides; a route that neither declares nor
	// matches is denied.
	RequiredScopes string
	// ID is the transport's request id (Envoy's request.http.id), echoed
	// in deny bodies and logs when it is a sane token; empty means the
	// x-request-id header's.
	ID string
}

// Headers reads a request's headers. Names are asked in lower case.
//
// Get returns the value of name and how many times it was sent, 0 when
// it was not. A transport that merges a repeated header into one value
// joined by "," (Envoy's header map) reports 1: callers that need a single
// value treat a "," as a repeat, so "exactly one credential" holds in
// either shape. With several values, value is any one of them.
//
// [MapHeaders] and [MultiHeaders] adapt the two common shapes without
// allocating.
type Headers interface {
	Get(name string) (value string, n int)
}

// MapHeaders are headers with lower-case names, repeated headers joined
// by ",": the shape of Envoy's CheckRequest header map.
type MapHeaders map[string]string

// Get implements [Headers].
func (h MapHeaders) Get(name string) (string, int) {
	if v, ok := h[name]; ok {
		return v, 1
	}
	return "", 0
}

// MultiHeaders are headers with canonical names and one value per
// occurrence: the shape of Go's [http.Header].
type MultiHeaders http.Header

// Get implements [Headers].
func (h MultiHeaders) Get(name string) (string, int) {
	vs := h[canonicalName(name)]
	if len(vs) == 0 {
		return "", 0
	}
	return vs[0], len(vs)
}

// canonicalName returns the canonical form of a lower-case header name,
// without allocating for the names the decision asks for.
func canonicalName(name string) string {
	switch name {
	case headerAuthorization:
		return "Authorization"
	case headerAPIKey:
		return "X-Api-Key"
	case headerPartnerID:
		return "X-Partner-Id"
	case headerRequestID:
		return "X-Request-Id"
	}
	return textproto.CanonicalMIMEHeaderKey(name)
}

// noHeaders is a request without headers.
type noHeaders struct{}

func (noHeaders) Get(string) (string, int) { return "", 0 }
