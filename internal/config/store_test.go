package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStoreFile(t *testing.T) {
	dir := t.TempDir()
	const dsn = "postgres://pg:s3cret-pw@db.internal:5432/partnergate?sslmode=verify-full"
	good := filepath.Join(dir, "store")
	if err := os.WriteFile(good, []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("mysql://x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		wantStore string
		wantErr   string // key the Load or Validate error names; "" means none
	}{
		{"file-from-flag", []string{"--store-file=" + good}, nil, dsn, ""},
		{"file-from-env", nil, map[string]string{"PARTNERGATE_STORE_FILE": good}, dsn, ""},
		{"file-and-store-flag", []string{"--store-file=" + good, "--store=postgres://h/db"}, nil, "", "store_file:"},
		{"file-and-store-env", []string{"--store-file=" + good}, map[string]string{"PARTNERGATE_STORE": "postgres://h/db"}, "", "store_file:"},
		{"file-missing", []string{"--store-file=" + filepath.Join(dir, "nope")}, nil, "", "store_file:"},
		{"file-empty", []string{"--store-file=" + empty}, nil, "", "store_file:"},
		{"file-bad-scheme", []string{"--store-file=" + bad}, nil, "mysql://x", "store_file:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(flags(t, tt.args...), fakeEnv(tt.env))
			if err == nil {
				if c.Store != tt.wantStore {
					t.Errorf("Store = %q, want %q", c.Store, tt.wantStore)
				}
				c.PepperFile = good // any existing file: pepper_file is required with PostgreSQL
				err = c.Validate()
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one naming %s", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "s3cret-pw") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestStorePasswordOnCommandLineIsWarned(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		warn bool
	}{
		{"flag-with-user-password", []string{"--store=postgres://pg:pw@h/db"}, nil, true},
		{"flag-with-password-param", []string{"--store=postgres://pg@h/db?password=pw"}, nil, true},
		{"flag-without-password", []string{"--store=postgres://pg@h/db"}, nil, false},
		{"env-with-password", nil, map[string]string{"PARTNERGATE_STORE": "postgres://pg:pw@h/db"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(flags(t, tt.args...), fakeEnv(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			w := strings.Join(c.LoadWarnings, "\n")
			if got := strings.Contains(w, "--store carries a password"); got != tt.warn {
				t.Errorf("warnings %q, want a password warning: %v", w, tt.warn)
			}
			if strings.Contains(w, "pw@") || strings.Contains(w, "=pw") {
				t.Errorf("warning shows the password: %q", w)
			}
		})
	}
}

func TestValidateFeedSettings(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"defaults", func(*Config) {}, ""},
		{"staleness-off", func(c *Config) { c.MaxStaleness = 0 }, ""},
		{"staleness-at-minimum", func(c *Config) { c.MaxStaleness = 2 * time.Second }, ""},
		{"staleness-too-short", func(c *Config) { c.MaxStaleness = time.Second }, "max_staleness"},
		{"staleness-negative", func(c *Config) { c.MaxStaleness = -time.Second }, "max_staleness"},
		{"reconcile-off", func(c *Config) { c.ReconcileInterval = 0 }, ""},
		{"reconcile-too-short", func(c *Config) { c.ReconcileInterval = time.Second }, "reconcile_interval"},
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
	if d := Default(); d.MaxStaleness != 5*time.Minute || d.ReconcileInterval != 5*time.Minute {
		t.Errorf("defaults: max_staleness %v, reconcile_interval %v; want 5m 5m", d.MaxStaleness, d.ReconcileInterval)
	}
}
