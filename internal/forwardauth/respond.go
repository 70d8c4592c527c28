package forwardauth

import (
	"io"
	"net/http"
	"net/textproto"
	"slices"
	"strings"

	"github.com/partnergate/partnergate/authz"
)

// Response header names on allow: the identity the upstream trusts,
// ready for nginx's auth_request_set, Traefik's authResponseHeaders,
// Caddy's copy_headers and Envoy's allowed_upstream_headers. They are
// authz's identity headers, which the gRPC server sets on the upstream
// request, in Go's canonical form (TestIdentityHeadersAreAuthz's).
const (
	HeaderPartnerID         = "X-Partner-Id"
	HeaderPartnerScopes     = "X-Partner-Scopes"
	HeaderPartnerCredential = "X-Partner-Credential"
	HeaderPartnerTier       = "X-Partner-Tier"
)

// HeaderError carries a denial's public reason, the body's "error", on
// GET /authorize: nginx's auth_request drops the body of the answer, and
// its error_page rebuilds the same body from this header.
const HeaderError = "X-Partnergate-Error"

// HeaderEnvoyRemove is the header in which Envoy's HTTP ext_authz takes
// the request headers to remove before the upstream sees them.
const HeaderEnvoyRemove = "X-Envoy-Auth-Headers-To-Remove"

// mode is which kind of proxy asks.
type mode int

const (
	// modeAuthorize is GET /authorize: nginx, Traefik, Caddy, APISIX.
	modeAuthorize mode = iota
	// modeEnvoy is Envoy's http_service, under the path prefix.
	modeEnvoy
)

func (m mode) String() string {
	if m == modeEnvoy {
		return "envoy"
	}
	return "authorize"
}

// identity is an allow's headers, canonical names, in the order sent.
type identity [authz.IdentityHeaders]authz.Header

// writeAllow sends 200 with the identity headers. GET /authorize sends
// all four, empty or not: Caddy's copy_headers would otherwise set a
// missing one to its placeholder's text. Envoy copies only what is sent,
// and is told to remove the credential and every other x-partner-*
// header of the request (remove).
func writeAllow(w http.ResponseWriter, m mode, id *identity, remove []string) {
	h := w.Header()
	h["Cache-Control"] = noStore
	for _, hv := range id {
		if hv.Value != "" || m == modeAuthorize {
			h[hv.Name] = []string{hv.Value}
		}
	}
	if m == modeEnvoy && len(remove) > 0 {
		h[HeaderEnvoyRemove] = []string{strings.Join(remove, ",")}
	}
	w.WriteHeader(http.StatusOK)
}

// writeDeny sends a denial with the gRPC server's headers, challenge and
// body, at status.
func writeDeny(w http.ResponseWriter, m mode, status int, public, challenge, body string) {
	h := w.Header()
	for _, hv := range authz.DenyHeaders() {
		h[canonical(hv.Name)] = []string{hv.Value}
	}
	if challenge != "" {
		h["Www-Authenticate"] = []string{challenge}
	}
	if m == modeAuthorize {
		h[HeaderError] = []string{public}
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

var noStore = []string{"no-store"}

// Public reasons of faults, which are no decision: the proxy fails
// closed on the status, and the body says only which kind of fault.
const (
	publicUnavailable = "unavailable"
	publicInternal    = "internal_error"
)

// writeFault answers a fault: 503 while the index is not to be trusted
// (cold or stale), 500 for anything else. nginx turns both into its own
// 500; Traefik, Caddy and Envoy pass them on. None is ever an allow.
func writeFault(w http.ResponseWriter, status int) {
	public := publicInternal
	if status == http.StatusServiceUnavailable {
		public = publicUnavailable
	}
	h := w.Header()
	h["Cache-Control"] = noStore
	h["Content-Type"] = []string{"application/json"}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"error":"` + public + `"}`))
}

// removals returns the request headers Envoy must remove on allow: the
// credential, and every x-partner-* header that the allow does not set,
// lower-case. Headers it sets are never listed: Envoy would remove them
// after setting them. Names are compared in any case, since Go
// canonicalizes only the names it can.
func removals(h http.Header, id *identity) []string {
	var out []string
	for name := range h {
		switch {
		case strings.EqualFold(name, "authorization") || strings.EqualFold(name, "x-api-key"):
		case hasPrefixFold(name, authz.IdentityPrefix) && !id.sets(name):
		default:
			continue
		}
		out = append(out, strings.ToLower(name))
	}
	slices.Sort(out) // the same request, the same answer
	return out
}

// sets reports whether the allow sets the identity header name.
func (id *identity) sets(name string) bool {
	for _, hv := range id {
		if strings.EqualFold(hv.Name, name) {
			return hv.Value != ""
		}
	}
	return false
}

// canonical returns the canonical form of authz's lower-case header
// name, without allocating for the ones every answer sends.
func canonical(name string) string {
	switch name {
	case authz.HeaderPartnerID:
		return HeaderPartnerID
	case authz.HeaderPartnerScopes:
		return HeaderPartnerScopes
	case authz.HeaderPartnerCredential:
		return HeaderPartnerCredential
	case authz.HeaderPartnerTier:
		return HeaderPartnerTier
	case authz.HeaderContentType:
		return "Content-Type"
	case authz.HeaderCacheControl:
		return "Cache-Control"
	}
	return textproto.CanonicalMIMEHeaderKey(name)
}

// hasPrefixFold reports whether s starts with prefix, in any case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
