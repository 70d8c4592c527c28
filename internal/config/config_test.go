// Test strategy: configuration errors should stop start-up with a message
// that names the key, and secrets must never leak into logs. Load is driven
// the way main drives it — a real pflag.FlagSet from RegisterFlags, a fake
// getenv and a temporary YAML file — to pin precedence (flag > env > file >
// default) key by key and to check that every parse error names the file
// key, variable or flag. Validate is checked to report every problem in one
// error. LogValue is rendered through a real slog JSON handler and
// searched for the admin token and store passwords.
package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

// fakeEnv is a getenv over a map.
func fakeEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "partnergate.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("partnergate", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("flag parse %q: %v", args, err)
	}
	return fs
}

func TestLoadPrecedence(t *testing.T) {
	file := writeFile(t, `
listen: ":7001"
log_level: debug
shutdown_grace: 20s
negative_cache_ttl: 40s
miss_lookups_per_second: 5
tls:
  cert_file: /file/cert.pem
`)
	env := map[string]string{
		"PARTNERGATE_CONFIG":                        file,
		"PARTNERGATE_LISTEN":                        ":7002",
		"PARTNERGATE_LOG_LEVEL":                     "warn",
		"PARTNERGATE_NEGATIVE_CACHE_TTL":            "50s",
		"PARTNERGATE_PEPPER_VERSION":                "3",
		"PARTNERGATE_TLS_CERT_FILE":                 "/env/cert.pem",
		"PARTNERGATE_MISS_LOOKUPS_PER_SECOND":       "6.5",
		"PARTNERGATE_UNRELATED_VARIABLE_IS_IGNORED": "x",
	}
	fs := flags(t, "--listen=:7003", "--negative-cache-ttl", "1m", "--log-format=text")
	c, err := Load(fs, fakeEnv(env))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	def := Default()

	tests := []struct {
		name string
		got  any
		want any
	}{
		{"flag-over-env-over-file", c.Listen, ":7003"},
		{"env-over-file", c.LogLevel, "warn"},
		{"file-over-default", c.ShutdownGrace, 20 * time.Second},
		{"flag-over-env-duration", c.NegativeCacheTTL, time.Minute},
		{"flag-over-default", c.LogFormat, "text"},
		{"env-over-default-int", c.PepperVersion, 3},
		{"env-over-file-float", c.MissLookups, 6.5},
		{"env-over-file-nested", c.TLS.CertFile, "/env/cert.pem"},
		{"default-kept", c.AdminListen, def.AdminListen},
		{"default-kept-duration", c.KeyMaxLifetime, def.KeyMaxLifetime},
		{"flag-default-is-not-a-setting", c.Store, def.Store},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadConfigPath(t *testing.T) {
	fromEnv := writeFile(t, "listen: \":7001\"\n")
	fromFlag := writeFile(t, "listen: \":7002\"\n")
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"none", nil, nil, Default().Listen},
		{"env", map[string]string{"PARTNERGATE_CONFIG": fromEnv}, nil, ":7001"},
		{"flag", nil, []string{"--config", fromFlag}, ":7002"},
		{"flag-over-env", map[string]string{"PARTNERGATE_CONFIG": fromEnv}, []string{"--config=" + fromFlag}, ":7002"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(flags(t, tt.args...), fakeEnv(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.Listen != tt.want {
				t.Errorf("Listen = %q, want %q", c.Listen, tt.want)
			}
		})
	}
	t.Run("nil-flag-set", func(t *testing.T) {
		c, err := Load(nil, fakeEnv(map[string]string{"PARTNERGATE_CONFIG": fromEnv}))
		if err != nil || c.Listen != ":7001" {
			t.Fatalf("Load(nil) = %+v, %v", c, err)
		}
	})
}

func TestLoadErrorsNameTheSetting(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		args []string
		want []string
	}{
		{"unknown-file-key", "listne: \":1\"\n", nil, nil, []string{"listne"}},
		{"unknown-nested-file-key", "tls:\n  cert: x\n", nil, nil, []string{"cert"}},
		{"admin-token-in-file-refused", "admin_token: hunter2\n", nil, nil, []string{"admin_token"}},
		{"bad-duration-in-file", "shutdown_grace: soon\n", nil, nil, []string{"soon"}},
		{"file-not-yaml", "listen: [\n", nil, nil, []string{"partnergate.yaml"}},
		{"bad-duration-env", "", map[string]string{"PARTNERGATE_KEY_MAX_LIFETIME": "forever"}, nil, []string{"PARTNERGATE_KEY_MAX_LIFETIME", `"forever"`}},
		{"bad-nested-duration-env", "", map[string]string{"PARTNERGATE_SHUTDOWN_GRACE": "15"}, nil, []string{"PARTNERGATE_SHUTDOWN_GRACE"}},
		{"bad-int-env", "", map[string]string{"PARTNERGATE_PEPPER_VERSION": "one"}, nil, []string{"PARTNERGATE_PEPPER_VERSION"}},
		{"bad-float-env", "", map[string]string{"PARTNERGATE_MISS_LOOKUPS_PER_SECOND": "many"}, nil, []string{"PARTNERGATE_MISS_LOOKUPS_PER_SECOND"}},
		{"bad-duration-flag", "", nil, []string{"--negative-cache-ttl=1 minute"}, []string{"--negative-cache-ttl"}},
		{"bad-int-flag", "", nil, []string{"--pepper-version", "v2"}, []string{"--pepper-version", `"v2"`}},
		{"env-and-flag-both-reported", "", map[string]string{"PARTNERGATE_KEY_MAX_LIFETIME": "x"}, []string{"--shutdown-grace=y"},
			[]string{"PARTNERGATE_KEY_MAX_LIFETIME", "--shutdown-grace"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range tt.env {
				env[k] = v
			}
			if tt.file != "" {
				env["PARTNERGATE_CONFIG"] = writeFile(t, tt.file)
			}
			c, err := Load(flags(t, tt.args...), fakeEnv(env))
			if err == nil {
				t.Fatalf("Load accepted it: %+v", c)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
	t.Run("missing-file", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "absent.yaml")
		if _, err := Load(flags(t, "--config", missing), fakeEnv(nil)); err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("Load = %v, want an error naming %s", err, missing)
		}
	})
}

// TestNoSecretFlags checks that no flag can carry a secret: flags show up
// in process listings and shell history.
func TestNoSecretFlags(t *testing.T) {
	fs := flags(t)
	fs.VisitAll(func(f *pflag.Flag) {
		if strings.Contains(f.Name, "token") && !strings.HasSuffix(f.Name, "-file") ||
			strings.Contains(f.Name, "password") ||
			strings.Contains(f.Name, "pepper") && f.Name != "pepper-file" && f.Name != "pepper-version" {
			t.Errorf("flag --%s looks like it carries a secret", f.Name)
		}
	})
	if fs.Lookup("admin-token") != nil {
		t.Error("an --admin-token flag exists")
	}
}

func TestAdminTokenFromEnv(t *testing.T) {
	c, err := Load(flags(t), fakeEnv(map[string]string{EnvAdminToken: "tok-from-env"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.AdminToken != "tok-from-env" {
		t.Errorf("AdminToken = %q, want the env value", c.AdminToken)
	}
}

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
}

func TestValidate(t *testing.T) {
	existing := writeFile(t, "x")
	missing := filepath.Join(t.TempDir(), "absent")
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string // keys named in the error; nil means valid
	}{
		{"default", func(*Config) {}, nil},
		{"postgres-with-pepper-file", func(c *Config) { c.Store = "postgres://db/pg"; c.PepperFile = existing }, nil},
		{"postgres-needs-pepper-file", func(c *Config) { c.Store = "postgres://db/pg" }, []string{"pepper_file"}},
		{"postgresql-scheme-needs-pepper-file", func(c *Config) { c.Store = "postgresql://db/pg" }, []string{"pepper_file"}},
		{"sqlite-without-pepper-file", func(c *Config) { c.Store = "sqlite:///tmp/x.db" }, nil},
		{"sqlite-without-path", func(c *Config) { c.Store = "sqlite://" }, []string{"store"}},
		{"other-scheme", func(c *Config) { c.Store = "mysql://db/x" }, []string{"store"}},
		{"bad-listen", func(c *Config) { c.Listen = "9001" }, []string{"listen"}},
		{"same-listeners", func(c *Config) { c.AdminListen = c.Listen }, []string{"admin_listen"}},
		{"bad-key-prefix", func(c *Config) { c.KeyPrefix = "PG-" }, []string{"key_prefix"}},
		{"pepper-version-zero", func(c *Config) { c.PepperVersion = 0 }, []string{"pepper_version"}},
		{"peppers-with-postgres", func(c *Config) {
			c.Store = "postgres://db/pg"
			c.Peppers = []Pepper{{Version: 2, File: existing}, {Version: 1, File: existing}}
		}, nil},
		{"peppers-and-pepper-file", func(c *Config) { c.Peppers = []Pepper{{Version: 1, File: existing}}; c.PepperFile = existing }, []string{"peppers"}},
		{"peppers-and-pepper-version", func(c *Config) { c.Peppers = []Pepper{{Version: 1, File: existing}}; c.PepperVersion = 2 }, []string{"peppers"}},
		{"peppers-bad-entries", func(c *Config) {
			c.Peppers = []Pepper{{Version: 0, File: existing}, {Version: 3, File: missing}, {Version: 3, File: existing}, {Version: 4}}
		}, []string{"peppers[0].version", "peppers[1].file", "peppers[2].version", "peppers[3].file"}},
		{"pepper-version-too-big", func(c *Config) { c.PepperVersion = 65536 }, []string{"pepper_version"}},
		{"max-lifetime-zero", func(c *Config) { c.KeyMaxLifetime = 0; c.KeyDefaultLifetime = time.Hour }, []string{"key_max_lifetime", "key_default_lifetime"}},
		{"default-over-max", func(c *Config) { c.KeyDefaultLifetime = c.KeyMaxLifetime + 1 }, []string{"key_default_lifetime"}},
		{"negative-overlap", func(c *Config) { c.MaxRotationOverlap = -1 }, []string{"max_rotation_overlap"}},
		{"short-negative-cache", func(c *Config) { c.NegativeCacheTTL = 999 * time.Millisecond }, []string{"negative_cache_ttl"}},
		{"no-hot-keys", func(c *Config) { c.HotKeys = 0 }, []string{"hot_keys"}},
		{"too-many-hot-keys", func(c *Config) { c.HotKeys = MaxHotKeys + 1 }, []string{"hot_keys"}},
		{"negative-miss-lookups", func(c *Config) { c.MissLookups = -1 }, []string{"miss_lookups_per_second"}},
		{"short-feed-retention", func(c *Config) { c.FeedRetention = time.Minute }, []string{"feed_retention"}},
		{"feed-retention-off", func(c *Config) { c.FeedRetention = 0 }, nil},
		{"source-from-xff", func(c *Config) { c.SourceAddress = SourceAddress{From: SourceFromXFF, XFFNumTrustedHops: 2} }, nil},
		{"source-hops-without-xff", func(c *Config) { c.SourceAddress.XFFNumTrustedHops = 1 }, []string{"source_address.xff_num_trusted_hops"}},
		{"source-hops-negative", func(c *Config) { c.SourceAddress = SourceAddress{From: SourceFromXFF, XFFNumTrustedHops: -1} }, []string{"source_address.xff_num_trusted_hops"}},
		{"source-from-other-header", func(c *Config) { c.SourceAddress.From = "x-real-ip" }, []string{"source_address.from"}},
		{"short-audit-retention", func(c *Config) { c.AuditRetention = time.Hour }, []string{"audit_retention"}},
		{"audit-retention-a-year", func(c *Config) { c.AuditRetention = 365 * 24 * time.Hour }, nil},
		{"zero-miss-lookups-allowed", func(c *Config) { c.MissLookups = 0 }, nil},
		{"negative-grace", func(c *Config) { c.ShutdownGrace = -time.Second }, []string{"shutdown_grace"}},
		{"bad-log-level", func(c *Config) { c.LogLevel = "loud" }, []string{"log_level"}},
		{"bad-log-format", func(c *Config) { c.LogFormat = "xml" }, []string{"log_format"}},
		{"cert-without-key", func(c *Config) { c.TLS.CertFile = existing }, []string{"tls"}},
		{"client-ca-without-cert", func(c *Config) { c.TLS.ClientCAFile = existing }, []string{"tls.client_ca_file"}},
		{"tls-complete", func(c *Config) { c.TLS = TLS{CertFile: existing, KeyFile: existing, ClientCAFile: existing} }, nil},
		{"missing-policy-file", func(c *Config) { c.PolicyFile = missing }, []string{"policy_file"}},
		{"missing-tls-key-file", func(c *Config) { c.TLS = TLS{CertFile: existing, KeyFile: missing} }, []string{"tls.key_file"}},
		{"token-both-ways", func(c *Config) { c.AdminToken = "t"; c.AdminTokenFile = existing }, []string{"admin_token_file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c)
			checkValidate(t, c.Validate(), tt.want...)
		})
	}
}

// checkValidate fails t unless err is nil when no keys are given, or names
// every key ("key: …") when some are.
func checkValidate(t *testing.T, err error, keys ...string) {
	t.Helper()
	if len(keys) == 0 {
		if err != nil {
			t.Fatalf("Validate() = %v, want nil", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("Validate() = nil, want an error naming %q", keys)
	}
	for _, key := range keys {
		if !strings.Contains(err.Error(), key+":") {
			t.Errorf("error %q does not name %q", err, key)
		}
	}
}

// TestValidateReportsEveryProblem checks that one bad config yields one
// error naming all its problems, not just the first.
func TestValidateReportsEveryProblem(t *testing.T) {
	c := Default()
	c.Listen = "nope"
	c.Store = "postgres://db/pg"
	c.KeyPrefix = "UPPER_"
	c.PepperVersion = -1
	c.NegativeCacheTTL = 0
	c.LogLevel = "chatty"
	c.LogFormat = "xml"
	c.TLS.ClientCAFile = "/ca.pem"
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil")
	}
	for _, key := range []string{"listen", "pepper_file", "key_prefix", "pepper_version", "negative_cache_ttl", "log_level", "log_format", "tls.client_ca_file"} {
		if !strings.Contains(err.Error(), key+":") {
			t.Errorf("error does not name %q:\n%v", key, err)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n < 8 {
		t.Errorf("error has %d lines, want at least 8:\n%v", n, err)
	}
}

// logged renders c through a real slog JSON handler.
func logged(c *Config) string {
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c, "value", *c)
	return buf.String()
}

func TestLogValueRedactsAdminToken(t *testing.T) {
	const token = "pgadm_3Xq9TOKENVALUEmustnotleak"
	c, err := Load(flags(t), fakeEnv(map[string]string{EnvAdminToken: token}))
	if err != nil {
		t.Fatal(err)
	}
	if c.AdminToken != token {
		t.Fatalf("AdminToken = %q, want it loaded", c.AdminToken)
	}
	for name, out := range map[string]string{"log-value": c.LogValue().String(), "slog-json": logged(c)} {
		if strings.Contains(out, token) || strings.Contains(out, "TOKENVALUE") {
			t.Errorf("%s shows the admin token: %s", name, out)
		}
	}
	if c.AdminToken != token {
		t.Error("LogValue cleared the caller's admin token")
	}
}

func TestLogValueRedactsStorePassword(t *testing.T) {
	tests := []struct {
		name   string
		store  string
		secret string
		keep   []string // non-secret parts still logged
	}{
		{"userinfo-password", "postgres://partnergate:hunter2@db.internal:5432/pg?sslmode=verify-full", "hunter2", []string{"partnergate", "db.internal", "sslmode"}},
		{"encoded-userinfo-password", "postgres://u:hun%40ter2@db/pg", "hun", []string{"db"}},
		{"password-query-parameter", "postgres://partnergate@db/pg?password=hunter2&sslmode=require", "hunter2", []string{"db", "sslmode"}},
		{"sslpassword-query-parameter", "postgres://db/pg?sslpassword=hunter2", "hunter2", []string{"db"}},
		{"upper-case-query-parameter", "postgresql://db/pg?PASSWORD=hunter2", "hunter2", []string{"db"}},
		{"unparseable-url", "postgres://u:hunter2%zz@db/pg", "hunter2", nil},
		{"keyword-value-dsn", "host=db user=u password=hunter2", "hunter2", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Store = tt.store
			for name, out := range map[string]string{"log-value": c.LogValue().String(), "slog-json": logged(&c)} {
				if strings.Contains(out, tt.secret) {
					t.Errorf("%s shows the store password: %s", name, out)
				}
				for _, k := range tt.keep {
					if !strings.Contains(out, k) {
						t.Errorf("%s lost %q: %s", name, k, out)
					}
				}
			}
			if c.Store != tt.store {
				t.Error("LogValue changed the caller's Store")
			}
		})
	}
	t.Run("no-password-unchanged", func(t *testing.T) {
		c := Default()
		if out := c.LogValue().String(); !strings.Contains(out, c.Store) {
			t.Errorf("LogValue dropped a password-free store: %s", out)
		}
	})
}

func TestPrintingNeverShowsSecrets(t *testing.T) {
	c := Default()
	c.AdminToken = "pgadm_supersecretvalue"
	c.Store = "postgres://app:hunter2@db.internal:5432/pg"
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, c)
		if strings.Contains(out, "supersecret") || strings.Contains(out, "hunter2") {
			t.Errorf("fmt %s printed a secret: %s", verb, out)
		}
		out = fmt.Sprintf(verb, &c)
		if strings.Contains(out, "supersecret") || strings.Contains(out, "hunter2") {
			t.Errorf("fmt %s of a pointer printed a secret: %s", verb, out)
		}
	}
}
