// Test strategy: a trusted proxy's forwarded headers say which request is
// being authorized; anyone else's must change nothing. Each case builds
// the request a proxy (or an attacker reaching the port) sends, and
// asserts what the server reads: from an untrusted peer the request
// itself, whatever it forwards; from a trusted one the forwarded request,
// or errForwarded when the headers are missing, repeated, contradict each
// other or hold what a request line cannot.
package forwardauth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/partnergate/partnergate/authz"
)

func TestReadAuthorize(t *testing.T) {
	type hdr = map[string][]string
	tests := []struct {
		name    string
		trusted bool
		header  hdr
		want    original // zero when wantErr
		wantErr bool
	}{
		{name: "nginx", trusted: true,
			header: hdr{"X-Original-Uri": {"/v1/orders?x=1"}, "X-Original-Method": {"POST"}, "X-Forwarded-For": {"198.51.100.9"}},
			want:   original{method: "POST", uri: "/v1/orders?x=1", host: "pg", client: netip.MustParseAddr("198.51.100.9"), trusted: true}},
		{name: "traefik-caddy", trusted: true,
			header: hdr{"X-Forwarded-Uri": {"/v1/orders"}, "X-Forwarded-Method": {"GET"}, "X-Forwarded-Host": {"api.example.com"},
				"X-Forwarded-For": {"203.0.113.1, 198.51.100.9"}},
			want: original{method: "GET", uri: "/v1/orders", host: "api.example.com", client: netip.MustParseAddr("198.51.100.9"), trusted: true}},
		{name: "both-spellings-agreeing", trusted: true,
			header: hdr{"X-Forwarded-Uri": {"/a"}, "X-Original-Uri": {"/a"}, "X-Forwarded-Method": {"GET"}},
			want:   original{method: "GET", uri: "/a", host: "pg", client: netip.MustParseAddr("127.0.0.1"), trusted: true}},
		{name: "required-scopes", trusted: true,
			header: hdr{"X-Original-Uri": {"/a"}, "X-Original-Method": {"GET"}, "X-Partnergate-Required-Scopes": {"orders:read"}},
			want:   original{method: "GET", uri: "/a", host: "pg", client: netip.MustParseAddr("127.0.0.1"), scopes: "orders:read", trusted: true}},
		{name: "untrusted-ignores-everything", trusted: false,
			header: hdr{"X-Original-Uri": {"/v1/orders"}, "X-Original-Method": {"POST"}, "X-Forwarded-Host": {"evil"},
				"X-Forwarded-For": {"198.51.100.9"}, "X-Partnergate-Required-Scopes": {""}},
			want: original{method: "GET", uri: "/authorize", host: "pg", client: netip.MustParseAddr("127.0.0.1")}},
		{name: "spellings-disagree", trusted: true, wantErr: true,
			header: hdr{"X-Forwarded-Uri": {"/a"}, "X-Original-Uri": {"/b"}, "X-Forwarded-Method": {"GET"}}},
		{name: "methods-disagree", trusted: true, wantErr: true,
			header: hdr{"X-Original-Uri": {"/a"}, "X-Original-Method": {"GET"}, "X-Forwarded-Method": {"DELETE"}}},
		{name: "uri-repeated", trusted: true, wantErr: true,
			header: hdr{"X-Original-Uri": {"/a", "/b"}, "X-Original-Method": {"GET"}}},
		{name: "no-uri", trusted: true, wantErr: true, header: hdr{"X-Original-Method": {"GET"}}},
		{name: "no-method", trusted: true, wantErr: true, header: hdr{"X-Original-Uri": {"/a"}}},
		{name: "absolute-uri", trusted: true, wantErr: true,
			header: hdr{"X-Original-Uri": {"http://evil/a"}, "X-Original-Method": {"GET"}}},
		{name: "uri-with-space", trusted: true, wantErr: true,
			header: hdr{"X-Original-Uri": {"/a b"}, "X-Original-Method": {"GET"}}},
		{name: "method-not-token", trusted: true, wantErr: true,
			header: hdr{"X-Original-Uri": {"/a"}, "X-Original-Method": {"GET /b"}}},
		{name: "host-repeated", trusted: true, wantErr: true,
			header: hdr{"X-Original-Uri": {"/a"}, "X-Original-Method": {"GET"}, "X-Forwarded-Host": {"a", "b"}}},
		{name: "scopes-repeated", trusted: true, wantErr: true,
			header: hdr{"X-Original-Uri": {"/a"}, "X-Original-Method": {"GET"}, "X-Partnergate-Required-Scopes": {"a", "b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/authorize", nil)
			r.Host = "pg"
			r.Header = http.Header(tt.header)
			got, err := readAuthorize(r, netip.MustParseAddr("127.0.0.1"), tt.trusted)
			if tt.wantErr {
				if !errors.Is(err, errForwarded) {
					t.Fatalf("readAuthorize = %+v, %v; want errForwarded", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("readAuthorize =\n %+v, want\n %+v", got, tt.want)
			}
		})
	}
}

func TestReadEnvoy(t *testing.T) {
	tests := []struct {
		name, target string
		trusted      bool
		header       map[string][]string
		want         string // the original URI; "" for errForwarded
		wantScopes   string
	}{
		{name: "path", target: "/envoy/v1/orders?partnerId=acme", want: "/v1/orders?partnerId=acme"},
		{name: "root", target: "/envoy/", want: "/"},
		{name: "no-slash-after-prefix", target: "/envoyx/v1", want: ""},
		{name: "prefix-alone", target: "/envoy", want: ""},
		{name: "double-slash-kept", target: "/envoy//v1/orders", want: "//v1/orders"},
		{name: "scopes-trusted", target: "/envoy/a", trusted: true,
			header: map[string][]string{"X-Partnergate-Required-Scopes": {"a"}}, want: "/a", wantScopes: "a"},
		{name: "scopes-untrusted-ignored", target: "/envoy/a",
			header: map[string][]string{"X-Partnergate-Required-Scopes": {"a"}}, want: "/a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("DELETE", tt.target, nil)
			if tt.header != nil {
				r.Header = tt.header
			}
			got, err := readEnvoy(r, "/envoy", netip.MustParseAddr("10.0.0.1"), tt.trusted)
			if tt.want == "" {
				if !errors.Is(err, errForwarded) {
					t.Fatalf("readEnvoy(%s) = %+v, %v; want errForwarded", tt.target, got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.uri != tt.want || got.method != "DELETE" || got.scopes != tt.wantScopes {
				t.Errorf("readEnvoy(%s) = %+v, want uri %s, method DELETE, scopes %v", tt.target, got, tt.want, tt.wantScopes)
			}
		})
	}
}

func TestForwardedClient(t *testing.T) {
	for _, tt := range []struct {
		values []string
		want   string // "" for none
	}{
		{[]string{"198.51.100.9"}, "198.51.100.9"},
		{[]string{"203.0.113.1, 198.51.100.9"}, "198.51.100.9"},
		{[]string{"203.0.113.1", "198.51.100.9"}, "198.51.100.9"},
		{[]string{"198.51.100.9:4711"}, "198.51.100.9"},
		{[]string{"[2001:db8::1]:4711"}, "2001:db8::1"},
		{[]string{"::ffff:198.51.100.9"}, "198.51.100.9"},
		{[]string{"198.51.100.9, unknown"}, ""},
		{nil, ""},
	} {
		got, ok := forwardedClient(http.Header{"X-Forwarded-For": tt.values})
		if tt.want == "" {
			if ok {
				t.Errorf("forwardedClient(%q) = %s, want none", tt.values, got)
			}
			continue
		}
		if !ok || got != netip.MustParseAddr(tt.want) {
			t.Errorf("forwardedClient(%q) = %s, %v; want %s", tt.values, got, ok, tt.want)
		}
	}
}

// FuzzReadAuthorize feeds arbitrary forwarded headers from a trusted
// proxy: whatever is read must be a method token and an origin-form
// target, or errForwarded.
func FuzzReadAuthorize(f *testing.F) {
	f.Add("/v1/orders?partnerId=acme", "GET", "", "")
	f.Add("/a", "POST", "/a", "POST")        // both spellings agreeing
	f.Add("/a", "GET", "/b", "GET")          // disagreeing
	f.Add("http://evil/", "GET", "", "")     // absolute form
	f.Add("/a\x00b", "G\rET", "", "")        // bytes no request line holds
	f.Add("", "", "/%2e%2e/admin", "DELETE") // only the X-Forwarded spelling
	f.Fuzz(func(t *testing.T, ouri, omethod, furi, fmethod string) {
		r := httptest.NewRequest("GET", "/authorize", nil)
		for name, v := range map[string]string{HeaderOriginalURI: ouri, HeaderOriginalMethod: omethod, HeaderForwardedURI: furi, HeaderForwardedMethod: fmethod} {
			if v != "" {
				r.Header[name] = []string{v}
			}
		}
		o, err := readAuthorize(r, netip.MustParseAddr("127.0.0.1"), true)
		if err != nil {
			if !errors.Is(err, errForwarded) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if !isMethod(o.method) || !isOriginForm(o.uri) {
			t.Fatalf("read %+v", o)
		}
		if o.uri != ouri && o.uri != furi {
			t.Fatalf("read uri %q from neither %q nor %q", o.uri, ouri, furi)
		}
	})
}

// FuzzHandler sends arbitrary targets, methods and forwarded headers,
// from a trusted and from an untrusted peer, to a handler whose decider
// allows everything it is asked: the answer is one of the statuses the
// server gives, an allow comes only from a decision, and what the
// decision was asked about is always an origin-form target and a method
// token.
func FuzzHandler(f *testing.F) {
	f.Add("/authorize", "GET", "/v1/orders?partnerId=acme", "GET", "orders:read", true)
	f.Add("/envoy/v1/orders", "DELETE", "", "", "", false)
	f.Add("/envoy//..%2f/admin", "POST", "", "", "a b", true)
	f.Add("/authorize", "HEAD", "http://evil/", "GET", "", true)
	f.Add("/readyz", "GET", "", "", "", false)
	f.Fuzz(func(t *testing.T, target, method, ouri, omethod, scopes string, trusted bool) {
		if !isOriginForm(target) || !isMethod(method) {
			return // no HTTP server would hand the handler such a request
		}
		dec := &fixed{d: authz.Decision{Reason: authz.ReasonAllowed, PartnerID: "acme"}}
		tr := []string{"10.0.0.0/8"}
		if trusted {
			tr = []string{"192.0.2.0/24"}
		}
		header := http.Header{}
		for name, v := range map[string]string{HeaderOriginalURI: ouri, HeaderOriginalMethod: omethod, HeaderRequiredScopes: scopes} {
			if v != "" {
				header[name] = []string{v}
			}
		}
		r := httptest.NewRequest(method, "/", nil)
		r.RequestURI = target
		if u, err := url.ParseRequestURI(target); err == nil {
			r.URL = u
		} else {
			return
		}
		r.Header = header
		w := httptest.NewRecorder()
		newHandler(t, dec, tr...).ServeHTTP(w, r)
		switch w.Code {
		case 200, 400, 403, 404, 405:
		default:
			t.Fatalf("%s %s: status %d", method, target, w.Code)
		}
		if w.Code == 200 && strings.HasPrefix(r.URL.Path, EnvoyPrefix+"/") || w.Code == 200 && r.URL.Path == AuthorizePath {
			if len(dec.seen) != 1 {
				t.Fatalf("%s %s: allowed without a decision", method, target)
			}
		}
		for _, req := range dec.seen {
			if !isOriginForm(req.Path) || !isMethod(req.Method) {
				t.Fatalf("decided on %q %q", req.Method, req.Path)
			}
			if !trusted && req.RequiredScopes != "" {
				t.Fatalf("an untrusted peer declared scopes %q", req.RequiredScopes)
			}
		}
	})
}
