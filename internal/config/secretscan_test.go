package config

import "testing"

func TestValidateSecretScanning(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string // keys named in the error; none means valid
	}{
		{"off-by-default", func(*Config) {}, nil},
		{"on-with-github-default", func(c *Config) { c.SecretScanning.Listen = ":8443" }, nil},
		{"on-with-gitlab-only", func(c *Config) {
			c.SecretScanning = SecretScanning{Listen: ":8443", GitLab: SecretScanningProgram{PublicKeysURL: "https://keys.example.com/gitlab"}}
		}, nil},
		{"listen-not-host-port", func(c *Config) { c.SecretScanning.Listen = "8443" }, []string{"secret_scanning.listen"}},
		{"listen-on-check-port", func(c *Config) { c.SecretScanning.Listen = c.Listen }, []string{"secret_scanning.listen"}},
		{"listen-on-admin-port", func(c *Config) { c.SecretScanning.Listen = c.AdminListen }, []string{"secret_scanning.listen"}},
		{"listen-on-metrics-port", func(c *Config) { c.SecretScanning.Listen = c.MetricsListen }, []string{"secret_scanning.listen"}},
		{"no-program", func(c *Config) {
			c.SecretScanning = SecretScanning{Listen: ":8443"}
		}, []string{"secret_scanning.listen"}},
		{"bad-urls-each-named", func(c *Config) {
			c.SecretScanning = SecretScanning{Listen: ":8443",
				GitHub: SecretScanningProgram{PublicKeysURL: "ftp://keys"},
				GitLab: SecretScanningProgram{PublicKeysURL: "not a url"}}
		}, []string{"secret_scanning.github.public_keys_url", "secret_scanning.gitlab.public_keys_url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c)
			checkValidate(t, c.Validate(), tt.want...)
		})
	}
}

func TestSecretScanningFromFlagsAndEnv(t *testing.T) {
	fs := flags(t, "--secret-scanning-listen=:8443")
	c, err := Load(fs, fakeEnv(map[string]string{"PARTNERGATE_SECRET_SCANNING_GITLAB_PUBLIC_KEYS_URL": "https://keys.example.com/gl"}))
	if err != nil {
		t.Fatal(err)
	}
	s := c.SecretScanning
	if s.Listen != ":8443" || s.GitLab.PublicKeysURL != "https://keys.example.com/gl" || s.GitHub.PublicKeysURL != GitHubSecretScanningKeys {
		t.Errorf("secret_scanning = %+v", s)
	}
	if Default().SecretScanning.Listen != "" {
		t.Error("the endpoint is on by default")
	}
}
