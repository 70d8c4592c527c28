package config

import (
	"math"
	"testing"
)

func TestValidateTelemetry(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // key named in the error; "" means valid
	}{
		{"metrics-default", func(*Config) {}, ""},
		{"metrics-disabled", func(c *Config) { c.MetricsListen = "" }, ""},
		{"metrics-loopback", func(c *Config) { c.MetricsListen = "127.0.0.1:9464" }, ""},
		{"metrics-not-host-port", func(c *Config) { c.MetricsListen = "9090" }, "metrics_listen"},
		{"metrics-on-check-port", func(c *Config) { c.MetricsListen = c.Listen }, "metrics_listen"},
		{"metrics-on-admin-port", func(c *Config) { c.MetricsListen = c.AdminListen }, "metrics_listen"},
		{"sample-half", func(c *Config) { c.AuditAllowSample = 0.5 }, ""},
		{"sample-all", func(c *Config) { c.AuditAllowSample = 1 }, ""},
		{"sample-negative", func(c *Config) { c.AuditAllowSample = -0.1 }, "audit_allow_sample"},
		{"sample-over-one", func(c *Config) { c.AuditAllowSample = 1.5 }, "audit_allow_sample"},
		{"sample-nan", func(c *Config) { c.AuditAllowSample = math.NaN() }, "audit_allow_sample"},
		{"deny-rate-unbounded", func(c *Config) { c.AuditDenyRate = 0 }, ""},
		{"deny-rate-negative", func(c *Config) { c.AuditDenyRate = -1 }, "audit_deny_rate"},
		{"deny-rate-nan", func(c *Config) { c.AuditDenyRate = math.NaN() }, "audit_deny_rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c)
			var keys []string
			if tt.want != "" {
				keys = []string{tt.want}
			}
			checkValidate(t, c.Validate(), keys...)
		})
	}
}

func TestTelemetrySettingsFromEnvAndFlags(t *testing.T) {
	fs := flags(t, "--metrics-listen=127.0.0.1:9464")
	c, err := Load(fs, fakeEnv(map[string]string{"PARTNERGATE_AUDIT_ALLOW_SAMPLE": "0.01", "PARTNERGATE_AUDIT_DENY_RATE": "50"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.MetricsListen != "127.0.0.1:9464" || c.AuditAllowSample != 0.01 || c.AuditDenyRate != 50 {
		t.Errorf("metrics_listen %q, audit_allow_sample %v, audit_deny_rate %v; want 127.0.0.1:9464, 0.01 and 50", c.MetricsListen, c.AuditAllowSample, c.AuditDenyRate)
	}
	if d := Default(); d.MetricsListen != ":9090" || d.AuditAllowSample != 0 || d.AuditDenyRate != 1000 {
		t.Errorf("defaults: metrics_listen %q, audit_allow_sample %v, audit_deny_rate %v", d.MetricsListen, d.AuditAllowSample, d.AuditDenyRate)
	}
}
