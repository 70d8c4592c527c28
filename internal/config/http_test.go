package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateHTTP(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string // keys named in the error; none means valid
	}{
		{"off-by-default", func(*Config) {}, nil},
		{"on", func(c *Config) { c.HTTP.Listen = "127.0.0.1:9003" }, nil},
		{"on-trusting-a-network", func(c *Config) {
			c.HTTP = HTTP{Listen: ":9003", TrustedProxies: []string{"10.0.0.0/8", "fd00::/8", "192.0.2.7"}}
		}, nil},
		{"on-trusting-nobody", func(c *Config) { c.HTTP = HTTP{Listen: ":9003", TrustedProxies: []string{}} }, nil},
		{"listen-not-host-port", func(c *Config) { c.HTTP.Listen = "9003" }, []string{"http.listen"}},
		{"listen-on-check-port", func(c *Config) { c.HTTP.Listen = c.Listen }, []string{"http.listen"}},
		{"listen-on-admin-port", func(c *Config) { c.HTTP.Listen = c.AdminListen }, []string{"http.listen"}},
		{"listen-on-metrics-port", func(c *Config) { c.HTTP.Listen = c.MetricsListen }, []string{"http.listen"}},
		{"listen-on-secret-scanning-port", func(c *Config) {
			c.SecretScanning.Listen = ":8443"
			c.HTTP.Listen = ":8443"
		}, []string{"http.listen"}},
		{"bad-proxies-each-named", func(c *Config) {
			c.HTTP.TrustedProxies = []string{"10.0.0.0/8", "10.0.0.0/33", "localhost", "10.1.2.3/8", ""}
		}, []string{"http.trusted_proxies[1]", "http.trusted_proxies[2]", "http.trusted_proxies[3]", "http.trusted_proxies[4]"}},
		{"bad-proxies-named-while-off", func(c *Config) { c.HTTP.TrustedProxies = []string{"10.0.0.0/33"} }, []string{"http.trusted_proxies[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c)
			checkValidate(t, c.Validate(), tt.want...)
		})
	}
}

// TestResolveNamesBadTrustedProxies checks the path start-up takes: a
// config file with a malformed trusted_proxies entry stops Resolve with a
// problem naming the entry, beside the other problems.
func TestResolveNamesBadTrustedProxies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "partnergate.yaml")
	file := "http:\n  listen: 127.0.0.1:9003\n  trusted_proxies: [127.0.0.1, 10.0.0.0/33]\nlog_level: loud\n"
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Resolve(flags(t, "--config="+path), fakeEnv(nil))
	if err == nil {
		t.Fatal("Resolve accepted a malformed trusted_proxies entry")
	}
	for _, want := range []string{`http.trusted_proxies[1]: "10.0.0.0/33"`, "log_level:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Resolve error %q does not name %q", err, want)
		}
	}
}

func TestHTTPFromFlagsAndEnv(t *testing.T) {
	c, err := Load(flags(t, "--http-listen=127.0.0.1:9003"), fakeEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Listen != "127.0.0.1:9003" {
		t.Errorf("http.listen = %q", c.HTTP.Listen)
	}
	c, err = Load(flags(t), fakeEnv(map[string]string{"PARTNERGATE_HTTP_LISTEN": ":9004"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Listen != ":9004" {
		t.Errorf("http.listen from the environment = %q", c.HTTP.Listen)
	}
	d := Default()
	if d.HTTP.Listen != "" {
		t.Error("the HTTP server is on by default")
	}
	if got := strings.Join(d.HTTP.TrustedProxies, ","); got != "127.0.0.0/8,::1/128" {
		t.Errorf("default trusted_proxies = %s, want loopback only", got)
	}
}
