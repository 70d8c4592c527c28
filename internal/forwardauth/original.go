package forwardauth

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/partnergate/partnergate/internal/clientaddr"
)

// Header names a trusted proxy sends to describe the request it is
// asking about. nginx's auth_request has no convention of its own, so the
// shipped config sets X-Original-URI and X-Original-Method (the names of
// nginx's documentation); Traefik ForwardAuth, Caddy forward_auth and
// APISIX forward-auth set the X-Forwarded-* ones themselves.
const (
	HeaderOriginalURI      = "X-Original-Uri"
	HeaderOriginalMethod   = "X-Original-Method"
	HeaderForwardedURI     = "X-Forwarded-Uri"
	HeaderForwardedMethod  = "X-Forwarded-Method"
	HeaderForwardedHost    = "X-Forwarded-Host"
	HeaderForwardedProto   = "X-Forwarded-Proto"
	HeaderForwardedFor     = "X-Forwarded-For"
	HeaderRequiredScopes   = "X-Partnergate-Required-Scopes"
	maxMethodLen           = 32
	maxURILen              = 8 << 10
	maxRequiredScopesLen   = 1 << 10
	maxForwardedForEntries = 64
)

// original is the request a proxy asks about, as the HTTP server reads
// it: from the forwarded headers of a trusted proxy, or from the request
// itself.
type original struct {
	method string
	// uri is the origin-form request target, query included: the tenant
	// rule reads the query.
	uri    string
	host   string
	scheme string
	client netip.Addr
	// scopes are the route's required scopes from a trusted proxy's
	// X-Partnergate-Required-Scopes; empty leaves them to the policy file.
	scopes  string
	trusted bool
}

// errForwarded is a trusted proxy's request that cannot be read: a
// forwarded header missing, repeated, contradicted by its other
// spelling, or not what it should hold. It is a deny (bad_request),
// since a proxy config that sends it is broken, and nothing about such a
// request can be trusted.
var errForwarded = errors.New("forwardauth: forwarded headers unreadable")

// readAuthorize reads the original request of GET /authorize, asked by
// peer. From a trusted proxy, the method and URI come from X-Original-* or
// X-Forwarded-* (both spellings may be sent, if they agree); from any
// other address every forwarded header is ignored and partnergate judges
// the request it sees, GET /authorize, which no route policy opens.
func readAuthorize(r *http.Request, peer netip.Addr, trusted bool) (original, error) {
	o := original{method: r.Method, uri: r.RequestURI, host: r.Host, client: peer, trusted: trusted}
	if !isOriginForm(o.uri) {
		o.uri = r.URL.RequestURI() // absolute-form: the path the server routed
	}
	if !trusted {
		return o, nil
	}
	method, err := agreed(r.Header, HeaderOriginalMethod, HeaderForwardedMethod)
	if err != nil {
		return o, err
	}
	uri, err := agreed(r.Header, HeaderOriginalURI, HeaderForwardedURI)
	if err != nil {
		return o, err
	}
	if !isMethod(method) || !isOriginForm(uri) {
		return o, errForwarded
	}
	o.method, o.uri = method, uri
	if host, n := single(r.Header, HeaderForwardedHost); n > 1 {
		return o, errForwarded
	} else if n == 1 {
		o.host = host
	}
	return o, readTrusted(r, &o)
}

// readEnvoy reads the original request of Envoy's HTTP ext_authz
// (http_service), which asks with the original method at path_prefix
// followed by the original path: the request itself, less the prefix.
func readEnvoy(r *http.Request, prefix string, peer netip.Addr, trusted bool) (original, error) {
	o := original{method: r.Method, host: r.Host, client: peer, trusted: trusted}
	rest, ok := strings.CutPrefix(r.RequestURI, prefix)
	if !ok || !isOriginForm(rest) {
		return o, errForwarded
	}
	o.uri = rest
	if !trusted {
		return o, nil
	}
	return o, readTrusted(r, &o)
}

// readTrusted reads what only a trusted proxy may say in either mode: the
// route's required scopes and the client's address.
func readTrusted(r *http.Request, o *original) error {
	scopes, n := single(r.Header, HeaderRequiredScopes)
	if n > 1 || len(scopes) > maxRequiredScopesLen {
		return errForwarded
	}
	o.scopes = scopes
	proto, n := single(r.Header, HeaderForwardedProto)
	switch {
	case n > 1 || n == 1 && proto != "http" && proto != "https":
		return errForwarded
	case n == 1:
		o.scheme = proto
	}
	if c, ok := forwardedClient(r.Header); ok {
		o.client = c
	}
	return nil
}

// agreed returns the one value of header a, or of its other spelling b:
// each may be sent at most once, and if both are sent they must agree.
func agreed(h http.Header, a, b string) (string, error) {
	va, na := single(h, a)
	vb, nb := single(h, b)
	switch {
	case na > 1 || nb > 1:
		return "", errForwarded
	case na == 1 && nb == 1 && va != vb:
		return "", errForwarded
	case na == 1:
		return va, nil
	case nb == 1:
		return vb, nil
	}
	return "", errForwarded
}

// single returns the value of a canonical header name and how many times
// it was sent.
func single(h http.Header, name string) (string, int) {
	v := h[name]
	if len(v) == 0 {
		return "", 0
	}
	return v[0], len(v)
}

// forwardedClient returns the client address the nearest proxy saw: the
// last entry of X-Forwarded-For, which that proxy appended. Entries
// before it were written by whoever sent them and are not read.
func forwardedClient(h http.Header) (netip.Addr, bool) {
	v := h[HeaderForwardedFor]
	if len(v) == 0 {
		return netip.Addr{}, false
	}
	return clientaddr.FromXFF(v[len(v)-1], 0)
}

// isMethod reports whether m is an HTTP method token (RFC 9110 §9.1) of
// sane length.
func isMethod(m string) bool {
	if m == "" || len(m) > maxMethodLen {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// isOriginForm reports whether u is an origin-form request target (RFC
// 9112 §3.2.1): an absolute path, with a query perhaps, and no byte a
// request line cannot carry.
func isOriginForm(u string) bool {
	if u == "" || u[0] != '/' || len(u) > maxURILen {
		return false
	}
	for i := 0; i < len(u); i++ {
		if c := u[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// peerAddr returns the address of the connection's far end.
func peerAddr(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap().WithZone("")
}
