package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// SecretScanning configures the endpoint GitHub's and GitLab's
// secret-scanning partner programs report leaked keys to.
type SecretScanning struct {
	// Listen serves POST /secret-scanning/github and /gitlab, and nothing
	// else; empty (the default) disables it. It is meant to face the
	// internet, behind a proxy that terminates TLS.
	Listen string                `yaml:"listen" help:"leaked-key endpoint address (HTTP, behind a TLS proxy): POST /secret-scanning/github and /gitlab only; empty disables" doc:"none (off)"`
	GitHub SecretScanningProgram `yaml:"github" help:"GitHub's secret scanning"`
	GitLab SecretScanningProgram `yaml:"gitlab" help:"GitLab's secret detection"`
}

// SecretScanningProgram is one partner program's settings.
type SecretScanningProgram struct {
	// PublicKeysURL serves the program's signing keys as
	// {"public_keys":[{"key_identifier","key","is_current"}]}. Empty
	// turns the program's route off. GitHub's is the default; GitLab's
	// has none, so its route is off until it is set.
	PublicKeysURL string `yaml:"public_keys_url" help:"URL of the program's signing keys; empty turns its route off"`
}

// GitHubSecretScanningKeys is GitHub's published key document.
const GitHubSecretScanningKeys = "https://api.github.com/meta/public_keys/secret_scanning"

// validateSecretScanning checks the secret_scanning section.
func (c *Config) validateSecretScanning() []error {
	s := c.SecretScanning
	if s.Listen == "" {
		return nil
	}
	var errs []error
	if _, _, err := net.SplitHostPort(s.Listen); err != nil {
		errs = append(errs, fmt.Errorf("secret_scanning.listen: %q is not host:port (empty disables it)", s.Listen))
	} else if !strings.HasSuffix(s.Listen, ":0") && (s.Listen == c.Listen || s.Listen == c.AdminListen || s.Listen == c.MetricsListen) {
		// It faces the internet: it shares no port with anything else.
		errs = append(errs, errors.New("secret_scanning.listen: must differ from listen, admin_listen and metrics_listen"))
	}
	if s.GitHub.PublicKeysURL == "" && s.GitLab.PublicKeysURL == "" {
		errs = append(errs, errors.New("secret_scanning.listen: set, but neither secret_scanning.github.public_keys_url nor secret_scanning.gitlab.public_keys_url is: it would serve nothing"))
	}
	for key, raw := range map[string]string{
		"secret_scanning.github.public_keys_url": s.GitHub.PublicKeysURL,
		"secret_scanning.gitlab.public_keys_url": s.GitLab.PublicKeysURL,
	} {
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s: %q is not an http(s) URL", key, raw))
		}
	}
	return errs
}
