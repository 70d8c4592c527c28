package config

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/partnergate/partnergate/internal/forwardauth"
)

// HTTP configures the HTTP forward-auth server, which answers nginx
// auth_request, Traefik ForwardAuth, Caddy forward_auth, APISIX
// forward-auth and Envoy's HTTP ext_authz with the decision Check makes.
type HTTP struct {
	// Listen serves GET /authorize and Envoy's http_service under
	// /envoy/; empty (the default) disables it.
	Listen string `yaml:"listen" help:"HTTP forward-auth address (nginx auth_request, Traefik, Caddy, APISIX: GET /authorize; Envoy http_service: /envoy/…); empty disables" doc:"none (off)"`
	// TrustedProxies are the CIDRs (or single addresses) whose forwarded
	// headers are honoured: X-Original-URI and -Method, X-Forwarded-Uri,
	// -Method, -Host and -For, and X-Partnergate-Required-Scopes. From any
	// other address they are ignored, and the request is judged on what
	// partnergate sees itself (OWASP: do not trust forwarded headers from
	// unknown sources).
	TrustedProxies []string `yaml:"trusted_proxies" help:"CIDRs or addresses whose forwarded headers (X-Original-*, X-Forwarded-*, X-Partnergate-Required-Scopes) are honoured; others are ignored" doc:"127.0.0.0/8, ::1/128"`
}

// validateHTTP checks the http section. trusted_proxies is checked
// whether or not the server is on, so that turning it on later does not
// reveal a typo then.
func (c *Config) validateHTTP() []error {
	var errs []error
	if _, err := forwardauth.ParseTrusted("http.trusted_proxies", c.HTTP.TrustedProxies); err != nil {
		errs = append(errs, err)
	}
	l := c.HTTP.Listen
	if l == "" {
		return errs
	}
	if _, _, err := net.SplitHostPort(l); err != nil {
		errs = append(errs, fmt.Errorf("http.listen: %q is not host:port (empty disables it)", l))
	} else if !strings.HasSuffix(l, ":0") && (l == c.Listen || l == c.AdminListen || l == c.MetricsListen || l == c.SecretScanning.Listen) {
		// The admin API and the leaked-key endpoint each keep their own
		// port; Check's is gRPC.
		errs = append(errs, errors.New("http.listen: must differ from listen, admin_listen, metrics_listen and secret_scanning.listen"))
	}
	return errs
}
