package forwardauth

import (
	"net/http"
	"slices"
	"strings"
)

// Response header names on allow: the identity the upstream trusts,
// ready for nginx's auth_request_set, Traefik's authResponseHeaders,
// Caddy's copy_headers and Envoy's allowed_upstream_headers. They are the
// headers the gRPC server sets on the upstream request.
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

// verdict is what the HTTP server answers for one decision.
type verdict struct {
	allowed bool
	// status is the HTTP status of a denial.
	status int
	// public is a denial's public reason.
	public    string
	requestID string
	// challenge is a denial's WWW-Authenticate, or "".
	challenge string
	// identity headers of an allow, in the order they are sent.
	identity [4]struct{ name, value string }
	// remove lists, for Envoy, the request headers the upstream must not
	// see: the credential and every spoofed x-partner-* header.
	remove []string
}

// write sends v: 200 with the identity headers, or the denial with the
// gRPC server's headers and body. Every answer says no-store: a proxy
// that caches an allow would let one partner's answer serve another.
func (v *verdict) write(w http.ResponseWriter, m mode) {
	h := w.Header()
	h["Cache-Control"] = noStore
	if v.allowed {
		for _, id := range v.identity {
			// GET /authorize sends all four, empty or not: Caddy's
			// copy_headers would otherwise set a missing one to its
			// placeholder's text. Envoy copies only what is sent.
			if id.value != "" || m == modeAuthorize {
				h[id.name] = []string{id.value}
			}
		}
		if m == modeEnvoy && len(v.remove) > 0 {
			h[HeaderEnvoyRemove] = []string{strings.Join(v.remove, ",")}
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	h["Content-Type"] = jsonType
	if v.challenge != "" {
		h["Www-Authenticate"] = []string{v.challenge}
	}
	if m == modeAuthorize {
		h[HeaderError] = []string{v.public}
	}
	w.WriteHeader(v.status)
	_, _ = w.Write([]byte(denyBody(v.public, v.requestID)))
}

var (
	noStore  = []string{"no-store"}
	jsonType = []string{"application/json"}
)

// denyBody is the JSON body of a denial, the gRPC server's:
// {"error":"<public reason>","request_id":"<id>"}, the id omitted when
// empty. Neither needs escaping: public reasons are fixed codes, and
// request ids admit only [A-Za-z0-9._:-].
func denyBody(public, requestID string) string {
	if requestID == "" {
		return `{"error":"` + public + `"}`
	}
	return `{"error":"` + public + `","request_id":"` + requestID + `"}`
}

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
	h["Content-Type"] = jsonType
	w.WriteHeader(status)
	_, _ = w.Write([]byte(denyBody(public, "")))
}

// removals returns the request headers Envoy must remove on allow: the
// credential, and every x-partner-* header that the allow does not set,
// lower-case. Headers it sets are never listed: Envoy would remove them
// after setting them. Names are compared in any case, since Go
// canonicalizes only the names it can.
func removals(h http.Header, v *verdict) []string {
	var out []string
	for name := range h {
		switch {
		case strings.EqualFold(name, "authorization") || strings.EqualFold(name, "x-api-key"):
		case hasPrefixFold(name, "x-partner-") && !v.sets(name):
		default:
			continue
		}
		out = append(out, strings.ToLower(name))
	}
	slices.Sort(out) // the same request, the same answer
	return out
}

// sets reports whether the allow sets the identity header name.
func (v *verdict) sets(name string) bool {
	for _, id := range v.identity {
		if strings.EqualFold(id.name, name) {
			return id.value != ""
		}
	}
	return false
}

// hasPrefixFold reports whether s starts with prefix, in any case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
