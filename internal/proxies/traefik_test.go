package proxies

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/partnergate/partnergate/internal/forwardauth"
)

// Traefik is not run: `go install` of github.com/traefik/traefik/v3 is
// refused (its go.mod has replace directives), and no Debian package
// ships it. Its file-provider config is decoded strictly instead, into
// the subset of Traefik's dynamic configuration it uses (an unknown or
// misspelt field is an error, as it is to Traefik), and checked for what
// partnergate depends on; TestTraefikChecksCatchMistakes breaks each
// property.

type traefikDynamic struct {
	HTTP struct {
		Routers     map[string]traefikRouter     `json:"routers"`
		Middlewares map[string]traefikMiddleware `json:"middlewares"`
		Services    map[string]struct {
			LoadBalancer struct {
				Servers []struct {
					URL string `json:"url"`
				} `json:"servers"`
			} `json:"loadBalancer"`
		} `json:"services"`
	} `json:"http"`
}

type traefikRouter struct {
	Rule        string   `json:"rule"`
	Service     string   `json:"service"`
	Middlewares []string `json:"middlewares"`
	Priority    int      `json:"priority"`
	EntryPoints []string `json:"entryPoints"`
}

type traefikMiddleware struct {
	ForwardAuth *struct {
		Address                  string   `json:"address"`
		TrustForwardHeader       bool     `json:"trustForwardHeader"`
		AuthResponseHeaders      []string `json:"authResponseHeaders"`
		AuthResponseHeadersRegex string   `json:"authResponseHeadersRegex"`
		AuthRequestHeaders       []string `json:"authRequestHeaders"`
	} `json:"forwardAuth"`
	Headers *struct {
		CustomRequestHeaders map[string]string `json:"customRequestHeaders"`
	} `json:"headers"`
}

func decodeTraefik(b []byte) (*traefikDynamic, error) {
	j, err := yaml.YAMLToJSONStrict(b)
	if err != nil {
		return nil, err
	}
	var d traefikDynamic
	strict, err := sigsjson.UnmarshalStrict(j, &d, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return nil, err
	}
	return &d, errors.Join(strict...)
}

// checkTraefik returns every problem of the config: each router runs
// [its route's scopes, partnergate's ForwardAuth, the credential strip]
// in that order; the ForwardAuth asks GET /authorize, never trusts the
// caller's forwarded headers, and replaces every X-Partner-* header.
func checkTraefik(d *traefikDynamic) []error {
	var errs []error
	if len(d.HTTP.Routers) == 0 {
		errs = append(errs, errors.New("no routers"))
	}
	for name, r := range d.HTTP.Routers {
		if len(r.Middlewares) != 3 {
			errs = append(errs, fmt.Errorf("router %s: want [scopes, partnergate, strip], got %q", name, r.Middlewares))
			continue
		}
		scopes, auth, strip := d.HTTP.Middlewares[r.Middlewares[0]], d.HTTP.Middlewares[r.Middlewares[1]], d.HTTP.Middlewares[r.Middlewares[2]]
		if scopes.Headers == nil {
			errs = append(errs, fmt.Errorf("router %s: %s sets no headers", name, r.Middlewares[0]))
		} else if _, ok := scopes.Headers.CustomRequestHeaders[forwardauth.HeaderRequiredScopes]; !ok {
			errs = append(errs, fmt.Errorf("router %s: %s does not set %s, so the caller's would be honoured", name, r.Middlewares[0], forwardauth.HeaderRequiredScopes))
		}
		if fa := auth.ForwardAuth; fa == nil {
			errs = append(errs, fmt.Errorf("router %s: %s is no forwardAuth", name, r.Middlewares[1]))
		} else {
			if u, err := url.Parse(fa.Address); err != nil || u.Path != forwardauth.AuthorizePath {
				errs = append(errs, fmt.Errorf("router %s: forwardAuth address %q is not partnergate's %s", name, fa.Address, forwardauth.AuthorizePath))
			}
			if fa.TrustForwardHeader {
				errs = append(errs, fmt.Errorf("router %s: trustForwardHeader lets the caller describe the request", name))
			}
			re, err := regexp.Compile(fa.AuthResponseHeadersRegex)
			if err != nil || fa.AuthResponseHeadersRegex == "" {
				errs = append(errs, fmt.Errorf("router %s: authResponseHeadersRegex must be set: %v", name, err))
			} else {
				for _, h := range []string{forwardauth.HeaderPartnerID, forwardauth.HeaderPartnerScopes, forwardauth.HeaderPartnerCredential, forwardauth.HeaderPartnerTier, "X-Partner-Role"} {
					if !re.MatchString(h) {
						errs = append(errs, fmt.Errorf("router %s: authResponseHeadersRegex leaves the caller's %s", name, h))
					}
				}
				if re.MatchString("Authorization") || re.MatchString("Content-Type") {
					errs = append(errs, fmt.Errorf("router %s: authResponseHeadersRegex %q matches more than X-Partner-*", name, re))
				}
			}
		}
		if strip.Headers == nil {
			errs = append(errs, fmt.Errorf("router %s: %s strips nothing", name, r.Middlewares[2]))
		} else {
			for _, h := range []string{"Authorization", "X-Api-Key"} {
				if v, ok := strip.Headers.CustomRequestHeaders[h]; !ok || v != "" {
					errs = append(errs, fmt.Errorf("router %s: %s does not remove %s", name, r.Middlewares[2], h))
				}
			}
		}
		if _, ok := d.HTTP.Services[r.Service]; !ok {
			errs = append(errs, fmt.Errorf("router %s: no service %s", name, r.Service))
		}
	}
	return errs
}

func TestTraefikConfig(t *testing.T) {
	b, err := os.ReadFile("traefik/dynamic.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := decodeTraefik(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range checkTraefik(d) {
		t.Error(err)
	}
}

func TestTraefikChecksCatchMistakes(t *testing.T) {
	b, err := os.ReadFile("traefik/dynamic.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, old, new string }{
		{"unknown-field", "trustForwardHeader: false", "trustForwardHeaders: false"},
		{"wrong-case", "trustForwardHeader: false", "trustforwardheader: false"},
		{"trusts-caller", "trustForwardHeader: false", "trustForwardHeader: true"},
		{"wrong-path", "9003/authorize", "9003/auth"},
		{"regex-too-narrow", "authResponseHeadersRegex: ^X-Partner-", "authResponseHeadersRegex: ^X-Partner-Id$"},
		{"regex-too-wide", "authResponseHeadersRegex: ^X-Partner-", "authResponseHeadersRegex: ."},
		{"no-scopes-middleware", "middlewares: [scopes-policy-file, partnergate, strip-credential]", "middlewares: [partnergate, strip-credential]"},
		{"policy-route-honours-caller", "          X-Partnergate-Required-Scopes: \"\"\n          X-Original-Uri", "          X-Original-Uri"},
		{"credential-kept", "          Authorization: \"\"\n", ""},
		{"wrong-type", "priority: 1", "priority: one"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(string(b), tt.old) {
				t.Fatalf("%q not found: update this test", tt.old)
			}
			d, err := decodeTraefik([]byte(strings.Replace(string(b), tt.old, tt.new, 1)))
			if err == nil && len(checkTraefik(d)) == 0 {
				t.Error("the mistake went unnoticed")
			}
		})
	}
}
