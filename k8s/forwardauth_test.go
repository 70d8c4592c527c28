package k8s

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/partnergate/partnergate/internal/forwardauth"
)

// Test strategy: the manifests for ingress controllers that ask
// partnergate over HTTP (ingress-nginx.yaml, traefik.yaml) are decoded
// strictly with the rest (TestManifestsDecodeStrictly), then checked for
// what the HTTP forward-auth server depends on: the controller asks GET
// /authorize on the chart's HTTP Service, sends the request target and
// the route's scopes, copies all four identity headers back (replacing
// the caller's) and keeps the credential from the upstream. Each check is
// then broken on purpose and must fail. TestChartHTTPAuth checks the
// chart's side: the Service, the port, the listener and who may reach it.

// TraefikMiddleware is traefik.io/v1alpha1 Middleware. Traefik's Go types
// are not a dependency: `go install` of github.com/traefik/traefik/v3 is
// refused (its go.mod has replace directives), and its module would bring
// Traefik's whole dependency tree in for one struct. The spec is decoded
// as unstructured data and [checkTraefikMiddleware] checks the fields,
// their types and the required ones, against Traefik's CRD.
type TraefikMiddleware struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              map[string]any `json:"spec"`
}

// forwardAuthFields are the fields of Traefik's ForwardAuth spec, with the
// JSON type each takes.
var forwardAuthFields = map[string]string{
	"address": "string", "trustForwardHeader": "bool", "authResponseHeaders": "list",
	"authResponseHeadersRegex": "string", "authRequestHeaders": "list", "tls": "object",
	"addAuthCookiesToResponse": "list", "headerField": "string", "forwardBody": "bool",
	"maxBodySize": "number", "preserveLocationHeader": "bool", "preserveRequestMethod": "bool",
}

// identityHeaders are the headers partnergate answers an allow with.
var identityHeaders = []string{forwardauth.HeaderPartnerID, forwardauth.HeaderPartnerScopes,
	forwardauth.HeaderPartnerCredential, forwardauth.HeaderPartnerTier}

// checkTraefikMiddleware checks a Middleware's spec: one middleware kind;
// for forwardAuth, only Traefik's fields with their types, an address at
// partnergate's /authorize on service (host:port), never trusting the
// caller's forwarded headers, and a response regex that replaces every
// X-Partner-* header and nothing else; for headers, string values.
func checkTraefikMiddleware(m *TraefikMiddleware, service string) error {
	if len(m.Spec) != 1 {
		return fmt.Errorf("middleware %s: spec must hold exactly one middleware, has %d", m.Name, len(m.Spec))
	}
	if h, ok := m.Spec["headers"]; ok {
		obj, ok := h.(map[string]any)
		if !ok {
			return fmt.Errorf("middleware %s: headers is not an object", m.Name)
		}
		for k, v := range obj {
			vals, ok := v.(map[string]any)
			if k != "customRequestHeaders" && k != "customResponseHeaders" || !ok {
				return fmt.Errorf("middleware %s: headers.%s is not a header map", m.Name, k)
			}
			for name, val := range vals {
				if _, ok := val.(string); !ok {
					return fmt.Errorf("middleware %s: headers.%s.%s is not a string", m.Name, k, name)
				}
			}
		}
		return nil
	}
	fa, ok := m.Spec["forwardAuth"].(map[string]any)
	if !ok {
		return fmt.Errorf("middleware %s: neither headers nor forwardAuth", m.Name)
	}
	for k, v := range fa {
		want, known := forwardAuthFields[k]
		if !known {
			return fmt.Errorf("middleware %s: forwardAuth.%s is no field of Traefik's ForwardAuth", m.Name, k)
		}
		if got := jsonType(v); got != want {
			return fmt.Errorf("middleware %s: forwardAuth.%s is a %s, want a %s", m.Name, k, got, want)
		}
	}
	addr, _ := fa["address"].(string)
	if addr == "" {
		return fmt.Errorf("middleware %s: forwardAuth.address is required", m.Name)
	}
	if err := checkAuthURL(addr, service); err != nil {
		return fmt.Errorf("middleware %s: forwardAuth.address: %w", m.Name, err)
	}
	if trust, _ := fa["trustForwardHeader"].(bool); trust {
		return fmt.Errorf("middleware %s: trustForwardHeader lets the caller describe the request", m.Name)
	}
	re, err := regexp.Compile(fmt.Sprint(fa["authResponseHeadersRegex"]))
	if err != nil || fa["authResponseHeadersRegex"] == nil {
		return fmt.Errorf("middleware %s: authResponseHeadersRegex must be set to a regular expression: %v", m.Name, err)
	}
	for _, h := range append(slices.Clone(identityHeaders), "X-Partner-Role") {
		if !re.MatchString(h) {
			return fmt.Errorf("middleware %s: authResponseHeadersRegex %q leaves the caller's %s on the request", m.Name, re, h)
		}
	}
	for _, h := range []string{"Authorization", "X-Api-Key", "Content-Type", "X-Request-Id"} {
		if re.MatchString(h) {
			return fmt.Errorf("middleware %s: authResponseHeadersRegex %q matches %s", m.Name, re, h)
		}
	}
	return nil
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "bool"
	case float64, int64:
		return "number"
	case []any:
		return "list"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// checkAuthURL checks that raw is http://<service>/authorize.
func checkAuthURL(raw, service string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" || u.Host != service || u.Path != forwardauth.AuthorizePath || u.RawQuery != "" {
		return fmt.Errorf("%q is not http://%s%s", raw, service, forwardauth.AuthorizePath)
	}
	return nil
}

// httpAuthService is the chart's HTTP forward-auth Service, as a client
// in another namespace names it: the release partnergate in the
// namespace partnergate, with httpAuth.enabled (TestChartHTTPAuth).
const httpAuthService = "partnergate-http.partnergate.svc.cluster.local:9003"

// checkIngressNginx checks an Ingress's ingress-nginx external-auth
// annotations: GET <service>/authorize, a ConfigMap of auth-request
// headers sending the request target and the route's scopes, and every
// identity header copied back, with the credential.
func checkIngressNginx(ing *networkingv1.Ingress, configMaps map[string]*corev1.ConfigMap, service string) error {
	const p = "nginx.ingress.kubernetes.io/"
	a := ing.Annotations
	if err := checkAuthURL(a[p+"auth-url"], service); err != nil {
		return fmt.Errorf("ingress %s: auth-url: %w", ing.Name, err)
	}
	if m := a[p+"auth-method"]; m != "" && m != "GET" {
		return fmt.Errorf("ingress %s: auth-method %q: partnergate answers GET", ing.Name, m)
	}
	copied := strings.Split(a[p+"auth-response-headers"], ",")
	for _, h := range append(slices.Clone(identityHeaders), "Authorization", "X-Api-Key") {
		if !slices.Contains(copied, h) {
			return fmt.Errorf("ingress %s: auth-response-headers lacks %s", ing.Name, h)
		}
	}
	ns, name, _ := strings.Cut(a[p+"auth-proxy-set-headers"], "/")
	cm := configMaps[name]
	if cm == nil || cm.Namespace != ns {
		return fmt.Errorf("ingress %s: auth-proxy-set-headers names no ConfigMap shipped here", ing.Name)
	}
	if dataFold(cm, forwardauth.HeaderOriginalURI) != "$request_uri" {
		return fmt.Errorf("ingress %s: ConfigMap %s must set %s: $request_uri", ing.Name, cm.Name, forwardauth.HeaderOriginalURI)
	}
	if strings.TrimSpace(dataFold(cm, forwardauth.HeaderRequiredScopes)) == "" {
		return fmt.Errorf("ingress %s: ConfigMap %s declares no %s", ing.Name, cm.Name, forwardauth.HeaderRequiredScopes)
	}
	return nil
}

// dataFold returns the value of a header in a ConfigMap of headers,
// whatever the case of its name.
func dataFold(cm *corev1.ConfigMap, name string) string {
	for k, v := range cm.Data {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// forwardAuthObjects returns the Ingresses and Middlewares of the
// manifests.
func forwardAuthObjects(m *manifests) (ings []*networkingv1.Ingress, mws []*TraefikMiddleware) {
	for _, obj := range m.all {
		switch o := obj.(type) {
		case *networkingv1.Ingress:
			ings = append(ings, o)
		case *TraefikMiddleware:
			mws = append(mws, o)
		}
	}
	return ings, mws
}

// checkForwardAuth returns every problem of the forward-auth manifests
// in m.
func checkForwardAuth(m *manifests) []error {
	var errs []error
	ings, mws := forwardAuthObjects(m)
	if len(ings) == 0 || len(mws) == 0 {
		errs = append(errs, fmt.Errorf("want an ingress-nginx Ingress and Traefik Middlewares, got %d and %d", len(ings), len(mws)))
	}
	for _, ing := range ings {
		if err := checkIngressNginx(ing, m.configMaps, httpAuthService); err != nil {
			errs = append(errs, err)
		}
	}
	var strip *TraefikMiddleware
	for _, mw := range mws {
		if mw.Name == "partnergate-strip-credential" {
			strip = mw
		}
		if err := checkTraefikMiddleware(mw, httpAuthService); err != nil {
			errs = append(errs, err)
		}
	}
	if strip == nil {
		errs = append(errs, errors.New("no Middleware partnergate-strip-credential"))
	} else {
		headers, _ := strip.Spec["headers"].(map[string]any)
		set, _ := headers["customRequestHeaders"].(map[string]any)
		for _, h := range []string{"Authorization", "X-Api-Key"} {
			if v, ok := set[h]; !ok || v != "" {
				errs = append(errs, fmt.Errorf("partnergate-strip-credential does not remove %s", h))
			}
		}
	}
	return errs
}

func TestForwardAuthManifests(t *testing.T) {
	for _, err := range checkForwardAuth(load(t)) {
		t.Error(err)
	}
}

// TestChartHTTPAuth checks the chart's optional HTTP port: off by
// default (no listener, port, Service or NetworkPolicy rule); with
// httpAuth.enabled, partnergate listens on 9003 trusting the given
// proxies, the container declares the port, the Service the manifests
// point at serves it, and only the controllers' namespaces may reach it.
func TestChartHTTPAuth(t *testing.T) {
	def := renderChart(t, "")
	cfg, c := loadChartConfig(t, def)
	if cfg.HTTP.Listen != "" || slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.ContainerPort == 9003 }) || def.services[chartRelease+"-http"] != nil {
		t.Error("the default render serves HTTP forward-auth")
	}
	if peers := portPeers(t, def, chartRelease); peers[9003] != nil {
		t.Errorf("the default NetworkPolicy opens 9003 to %v", peers[9003])
	}

	m := renderChart(t, chartValues(t)["http-auth"])
	cfg, c = loadChartConfig(t, m) // validated as the server validates it
	if cfg.HTTP.Listen != ":9003" || !slices.Equal(cfg.HTTP.TrustedProxies, []string{"10.0.0.0/8"}) {
		t.Errorf("http = %+v, want listen :9003 trusting 10.0.0.0/8", cfg.HTTP)
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "http-authz" && p.ContainerPort == 9003 }) {
		t.Errorf("the container does not declare http-authz 9003: %v", c.Ports)
	}
	svc := m.services[chartRelease+"-http"]
	if svc == nil || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "http-authz" {
		t.Fatalf("Service %s-http does not serve http-authz", chartRelease)
	}
	if got := net.JoinHostPort(svc.Name+"."+svc.Namespace+".svc.cluster.local", fmt.Sprint(svc.Spec.Ports[0].Port)); got != httpAuthService {
		t.Errorf("the chart's Service is %s; ingress-nginx.yaml and traefik.yaml point at %s", got, httpAuthService)
	}
	if peers := portPeers(t, m, chartRelease); !slices.Equal(peers[9003], []string{"ingress-nginx", "traefik"}) {
		t.Errorf("9003 is reachable from %v, want ingress-nginx and traefik only", peers[9003])
	}
}

// TestForwardAuthChecksCatchMistakes breaks each property on purpose.
func TestForwardAuthChecksCatchMistakes(t *testing.T) {
	tests := []struct {
		name, file, old, new string
	}{
		{"ingress-wrong-path", "ingress-nginx.yaml", ":9003/authorize", ":9003/auth"},
		{"ingress-wrong-port", "ingress-nginx.yaml", ":9003/authorize", ":9004/authorize"},
		{"ingress-post", "ingress-nginx.yaml", "auth-method: GET", "auth-method: POST"},
		{"ingress-tier-not-copied", "ingress-nginx.yaml", "X-Partner-Credential,X-Partner-Tier,", "X-Partner-Credential,"},
		{"ingress-credential-kept", "ingress-nginx.yaml", ",Authorization,X-Api-Key", ",X-Api-Key"},
		{"ingress-no-uri", "ingress-nginx.yaml", "X-Original-URI: $request_uri", "X-Original-Url: $request_uri"},
		{"ingress-no-scopes", "ingress-nginx.yaml", "X-Partnergate-Required-Scopes: orders:read", "X-Partnergate-Required-Scopes: \"\""},
		{"ingress-other-configmap", "ingress-nginx.yaml", "partner-api/partnergate-orders-read", "partner-api/partnergate-orders"},
		{"traefik-trusts-caller", "traefik.yaml", "trustForwardHeader: false", "trustForwardHeader: true"},
		{"traefik-regex-too-narrow", "traefik.yaml", "authResponseHeadersRegex: ^X-Partner-", "authResponseHeadersRegex: ^X-Partner-Id$"},
		{"traefik-regex-too-wide", "traefik.yaml", "authResponseHeadersRegex: ^X-Partner-", "authResponseHeadersRegex: ^X-"},
		{"traefik-unknown-field", "traefik.yaml", "trustForwardHeader: false", "trustForwardHeaders: false"},
		{"traefik-wrong-type", "traefik.yaml", "trustForwardHeader: false", "trustForwardHeader: \"false\""},
		{"traefik-wrong-host", "traefik.yaml", "partnergate-http.partnergate.svc", "partnergate.partnergate.svc"},
		{"traefik-no-address", "traefik.yaml", "    address: http://partnergate-http.partnergate.svc.cluster.local:9003/authorize\n", ""},
		{"traefik-strip-keeps-key", "traefik.yaml", "      X-Api-Key: \"\"\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newManifests()
			for _, f := range []string{"ingress-nginx.yaml", "traefik.yaml"} {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if f == tt.file {
					if !strings.Contains(string(b), tt.old) {
						t.Fatalf("%q not found in %s: update this test", tt.old, f)
					}
					b = []byte(strings.Replace(string(b), tt.old, tt.new, 1))
				}
				m.add(t, f, b)
			}
			if len(checkForwardAuth(m)) == 0 {
				t.Errorf("%s: the mistake went unnoticed", tt.name)
			}
		})
	}
}
