package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/clientaddr"
	"github.com/partnergate/partnergate/internal/dpop"
	"github.com/partnergate/partnergate/internal/forwardauth"
	"github.com/partnergate/partnergate/internal/jwtverify"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/ratelimit"
)

// EnvPrefix prefixes every environment variable partnergate reads.
const EnvPrefix = "PARTNERGATE_"

// DefaultHotKeys is hot_keys' default, and MaxHotKeys its bound: at about
// 1 KiB a key, 4 GiB of memory.
const (
	DefaultHotKeys = 16384
	MaxHotKeys     = 4 << 20
)

// EnvAdminToken holds the admin token, for the server and the CLI alike.
const EnvAdminToken = EnvPrefix + "ADMIN_TOKEN"

// Config is the server's configuration. Each field's yaml tag is its key;
// the environment variable is PARTNERGATE_ and the key in upper case, and
// the flag is the key with '-' for '_' (nested keys join with '_' and '-').
type Config struct {
	// Listen is the Check (and gRPC health) address.
	Listen string `yaml:"listen" help:"Check API address (gRPC ext_authz and health)"`
	// AdminListen is the admin API address; keep it off the Check port
	// and off public interfaces.
	AdminListen string `yaml:"admin_listen" help:"admin API address; never the Check port, keep it off public interfaces"`
	// Store is the store URL: sqlite:///path/to/file.db or postgres://…
	// A PostgreSQL URL carrying a password belongs in PARTNERGATE_STORE
	// or StoreFile, never on the command line of a shared host.
	Store string `yaml:"store" help:"store URL: sqlite:///path.db or postgres://… (a URL with a password belongs in the environment or store_file)"`
	// StoreFile holds the store URL, replacing Store; set one or the other.
	StoreFile string `yaml:"store_file" help:"file holding the store URL, which keeps a password off the command line; set it or store" doc:"none"`
	// MaxStaleness is how long a replica may go without reading the store's
	// change feed before it stops trusting its cache and refuses Checks
	// with UNAVAILABLE (Envoy fails closed); 0 never does.
	MaxStaleness time.Duration `yaml:"max_staleness" help:"past this without reading the change feed, Check fails closed; 0 disables"`
	// ReconcileInterval is how often the cache is compared with a full
	// store snapshot and repaired; 0 disables.
	ReconcileInterval time.Duration `yaml:"reconcile_interval" help:"how often the cache is compared with the store and repaired; 0 disables"`
	// FeedRetention is how long change-feed entries are kept; a replica
	// further behind reloads a full snapshot instead of replaying.
	FeedRetention time.Duration `yaml:"feed_retention" help:"how long change-feed entries are kept; a replica further behind reloads a snapshot; 0 keeps them all"`
	// AuditRetention is how long admin audit events are kept; 0 keeps
	// them all.
	AuditRetention time.Duration `yaml:"audit_retention" help:"how long admin audit events are kept, at least 24h; 0 keeps every event"`
	// SourceAddress says where the client address that source
	// allow-lists judge comes from.
	SourceAddress SourceAddress `yaml:"source_address" help:"client address for source allow-lists"`
	// KeyPrefix starts every API key; name issuer and environment.
	KeyPrefix string `yaml:"key_prefix" help:"API key prefix, naming issuer and environment"`
	// PepperFile holds the HMAC pepper (at least 32 bytes, hex or raw).
	// With SQLite and no setting, a file "pepper" beside the database is
	// created on first start; with PostgreSQL it is required, and every
	// replica needs the same file.
	PepperFile string `yaml:"pepper_file" help:"HMAC pepper file, at least 32 bytes hex or raw; required with PostgreSQL" doc:"beside the SQLite file"`
	// PepperVersion numbers the pepper in PepperFile.
	PepperVersion int `yaml:"pepper_version" help:"number of the pepper in pepper_file, recorded with each digest"`
	// Peppers is a rotating set of peppers, in place of PepperFile and
	// PepperVersion: the highest version hashes new keys, and every
	// listed version still verifies the keys hashed with it. A list has
	// no flag or environment form.
	Peppers []Pepper `yaml:"peppers" help:"rotating peppers, a list of {version, file}, in place of pepper_file: the highest version hashes new keys, every listed one still verifies" doc:"none (pepper_file)"`
	// PolicyFile maps routes without required_scopes to scopes.
	PolicyFile string `yaml:"policy_file" help:"route policy file: scopes for routes without required_scopes" doc:"none (deny)"`
	// AdminTokenFile holds the bootstrap admin token;
	// PARTNERGATE_ADMIN_TOKEN is the alternative. With neither, a token is
	// generated on first start, printed once, and only its hash kept. A
	// token of under 128 bits (by its length and alphabet) is refused.
	AdminTokenFile string `yaml:"admin_token_file" help:"file holding the bootstrap admin token, at least 128 bits; PARTNERGATE_ADMIN_TOKEN is the alternative" doc:"generated"`
	// AdminBootstrap is "enabled" (the default) or "disabled": disabled
	// turns the bootstrap token off, once named operators exist.
	AdminBootstrap string `yaml:"admin_bootstrap" help:"enabled or disabled: disabled turns the bootstrap token off, once named admins exist"`
	// AdminTLS serves the admin API over TLS; with client_ca_file, a
	// verified client certificate authenticates as the operator whose
	// cert_san it carries.
	AdminTLS TLS `yaml:"admin_tls" help:"admin API"`
	// AdminPlaintext allows a plaintext admin listener on a non-loopback
	// address, stating that a mesh (such as Istio) provides mutual TLS.
	AdminPlaintext bool `yaml:"admin_plaintext" help:"allow a plaintext admin listener off loopback, because a mesh provides mutual TLS"`
	// AdminOIDC admits operators with access tokens from the company's
	// IdP; empty issuer disables it.
	AdminOIDC AdminOIDC `yaml:"admin_oidc" help:"operators from the IdP"`
	// KeyDefaultLifetime is the life of a key issued without --expires-in.
	KeyDefaultLifetime time.Duration `yaml:"key_default_lifetime" help:"life of a key issued without --expires-in"`
	// KeyMaxLifetime is the longest life a key may be issued with.
	KeyMaxLifetime time.Duration `yaml:"key_max_lifetime" help:"longest life a key may be issued with"`
	// MaxRotationOverlap caps key rotate --overlap.
	MaxRotationOverlap time.Duration `yaml:"max_rotation_overlap" help:"cap on key rotate --overlap"`
	// NegativeCacheTTL is how long an unknown key id is remembered.
	NegativeCacheTTL time.Duration `yaml:"negative_cache_ttl" help:"how long an unknown key id is remembered"`
	// HotKeys is how many distinct API keys in use Check keeps decoded,
	// each with its allow response built and encoded, in front of the
	// index of every key. Size it to about twice the keys in use at once
	// (about 1 KiB a key held): past it, a Check decodes its key and
	// builds its response again.
	HotKeys int `yaml:"hot_keys" help:"API keys in use kept decoded with their allow responses ready (about 1 KiB a key); about twice the keys in use at once"`
	// MissLookups bounds store look-ups for key ids missing from the hot
	// cache, per second; 0 disables them.
	MissLookups float64 `yaml:"miss_lookups_per_second" help:"store look-ups per second for key ids missing from the cache; 0 disables"`
	// ShutdownGrace is how long in-flight Checks get to finish on SIGTERM.
	ShutdownGrace time.Duration `yaml:"shutdown_grace" help:"time in-flight Checks get to finish on SIGTERM"`
	// ShutdownDelay is how long, on SIGTERM, the server keeps serving
	// while its health service already reports NOT_SERVING, so that a load
	// balancer polling health stops sending before the listeners close.
	// Zero where something else waits (Kubernetes' preStop sleep).
	ShutdownDelay time.Duration `yaml:"shutdown_delay" help:"on SIGTERM, time to keep serving while health says NOT_SERVING, before draining; 0 where a preStop hook waits"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level" help:"log level: debug, info, warn or error"`
	// LogFormat is json or text.
	LogFormat string `yaml:"log_format" help:"log format: json or text"`
	// TLS serves Check over TLS, and mTLS with a client CA, when set.
	TLS TLS `yaml:"tls" help:"Check API"`
	// JWT trusts OAuth2 access tokens from the listed issuers.
	JWT JWT `yaml:"jwt"`
	// MetricsListen serves Prometheus metrics at /metrics; empty disables.
	MetricsListen string `yaml:"metrics_listen" help:"Prometheus /metrics address (HTTP); empty disables"`
	// AuditAllowSample is the fraction of allowed Checks written to the
	// decision audit log, 0 to 1; every denial is written.
	AuditAllowSample float64 `yaml:"audit_allow_sample" help:"fraction of allowed Checks written to the decision audit log, 0 to 1"`
	// AuditDenyRate bounds the denials written to the audit log, per
	// second, but for high-severity ones (revoked or expired credentials,
	// suspended partners, cross-tenant attempts), which are always
	// written; the rest are counted and reported. Zero writes every one.
	AuditDenyRate float64 `yaml:"audit_deny_rate" help:"low-severity denials written to the audit log per second, the rest counted; 0 writes every one"`
	// AuditWarnRatePerPartner bounds the high-severity denials written
	// to the audit log for each credential of a partner, per second; the
	// rest are counted and reported per partner. Zero writes every one.
	AuditWarnRatePerPartner float64 `yaml:"audit_warn_rate_per_partner" help:"high-severity denials written to the audit log per second for each credential of a partner, the rest counted and reported per partner; 0 writes every one"`
	// RateLimit names the envoyproxy/ratelimit domain and the tiers
	// partners are assigned to; `partnergate ratelimit-config` renders it.
	// Only ratelimit.domain has a flag and environment form: the tier and
	// override lists are set in the config file.
	RateLimit ratelimit.Config `yaml:"ratelimit"`
	// SecretScanning is the leaked-key endpoint; off unless listen is set.
	SecretScanning SecretScanning `yaml:"secret_scanning"`
	// HTTP is the HTTP forward-auth server; off unless listen is set.
	HTTP HTTP `yaml:"http"`

	// AdminToken comes only from PARTNERGATE_ADMIN_TOKEN or
	// AdminTokenFile, never a flag or the config file.
	AdminToken string `yaml:"-"`

	// LoadWarnings are problems Load found that do not stop the server,
	// for the caller to log.
	LoadWarnings []string `yaml:"-"`
}

// TLS configures a listener's TLS: the Check API's (tls) or the admin
// API's (admin_tls).
type TLS struct {
	CertFile     string `yaml:"cert_file" help:"TLS certificate (PEM), with key_file" doc:"none (plaintext)"`
	KeyFile      string `yaml:"key_file" help:"TLS private key (PEM), with cert_file" doc:"none"`
	ClientCAFile string `yaml:"client_ca_file" help:"CA bundle that client certificates must chain to: mutual TLS" doc:"none"`
}

// AdminOIDC configures operators who sign in with the company's IdP.
type AdminOIDC struct {
	// Issuer is the exact iss of the IdP's access tokens.
	Issuer string `yaml:"issuer" help:"exact iss of the IdP's access tokens; empty disables IdP operators" doc:"none"`
	// JWKSURL is the IdP's JWKS; or set Discovery.
	JWKSURL   string `yaml:"jwks_url" help:"the IdP's JWKS URL; or set discovery" doc:"none"`
	Discovery bool   `yaml:"discovery" help:"find the JWKS through the issuer's OpenID discovery document"`
	// Audiences are the accepted aud values (the admin API's); required.
	Audiences []string `yaml:"audiences" help:"accepted aud values (the admin API's); required with issuer" doc:"none"`
	// Algorithms is the alg allow-list; default RS256, ES256, EdDSA.
	Algorithms []string `yaml:"algorithms" help:"alg allow-list" doc:"RS256, ES256, EdDSA"`
	// OperatorClaim names the operator: sub (default), email, azp,
	// client_id, cid or appid.
	OperatorClaim string `yaml:"operator_claim" help:"claim naming the operator: sub, email, azp, client_id, cid or appid" doc:"sub"`
	// RolesClaim holds the operator's groups or roles: roles (default),
	// groups, scp or scope, a string list or a space-separated string.
	RolesClaim string `yaml:"roles_claim" help:"claim holding the operator's groups or roles: roles, groups, scp or scope" doc:"roles"`
	// Roles maps a value of RolesClaim to a partnergate role (viewer,
	// auditor, issuer, admin). A token with no mapped value is refused.
	Roles map[string]string `yaml:"roles" help:"map of a roles_claim value to a role (viewer, auditor, issuer, admin); a token with none mapped is refused" doc:"none"`
}

// The accepted admin_oidc.operator_claim and roles_claim values.
var (
	operatorClaims = []string{"sub", "email", "azp", "client_id", "cid", "appid"}
	rolesClaims    = []string{"roles", "groups", "scp", "scope"}
)

// Enabled reports whether IdP operators are configured.
func (o AdminOIDC) Enabled() bool { return o.Issuer != "" }

// IssuerConfig returns the issuer's token-checking settings.
func (o AdminOIDC) IssuerConfig() jwtverify.IssuerConfig {
	ic := jwtverify.IssuerConfig{
		Issuer: o.Issuer, JWKSURL: o.JWKSURL, Discovery: o.Discovery,
		Audiences: o.Audiences, Algorithms: o.Algorithms,
		ClientClaim: o.OperatorClaim, ScopeClaim: o.RolesClaim,
	}
	// email and groups are read by the admin API from the verified
	// token; the verifier itself requires sub and reads roles.
	if !slices.Contains(operatorClaims, ic.ClientClaim) || ic.ClientClaim == "email" {
		ic.ClientClaim = "sub"
	}
	if !slices.Contains(rolesClaims, ic.ScopeClaim) || ic.ScopeClaim == "groups" {
		ic.ScopeClaim = "roles"
	}
	return ic
}

// JWT configures OAuth2 access tokens (client-credentials JWTs).
type JWT struct {
	// Issuers are the trusted token issuers; none means tokens are refused.
	// A list has no flag or environment form: set it in the config file.
	Issuers jwtverify.Issuers `yaml:"issuers" help:"trusted OAuth2 token issuers; see Partner tokens" doc:"none"`
	// CacheSize is how many verified tokens are remembered, so a repeated
	// token skips the signature check; 0 disables the cache. Revocation is
	// checked on every request either way.
	CacheSize int `yaml:"cache_size" help:"verified tokens remembered, so a repeat skips the signature check; 0 disables"`
	// CacheTTL is the longest a verified token is remembered (never past
	// its exp); at most 10m.
	CacheTTL time.Duration `yaml:"cache_ttl" help:"longest a verified token is remembered (never past its exp), at most 10m"`
	// DPoP checks the proofs of "Authorization: DPoP" tokens (RFC 9449).
	DPoP DPoP `yaml:"dpop"`
}

// DPoP configures the DPoP proof checks (RFC 9449); see docs/possession.md.
type DPoP struct {
	// Window is how far a proof's iat may be from now, either way, and so
	// how long its jti is remembered against replay.
	Window time.Duration `yaml:"window" help:"how far a DPoP proof's iat may be from now, either way; its jti is remembered as long"`
	// ReplayCacheSize is how many proof jtis this replica remembers; a
	// full cache refuses new proofs, so size it above the peak DPoP rate
	// times the window. The cache is per replica (docs/possession.md).
	ReplayCacheSize int `yaml:"replay_cache_size" help:"DPoP proof jtis remembered per replica against replay; above peak DPoP requests/s times the window"`
	// Algorithms is the alg allow-list of proofs: asymmetric only.
	Algorithms []string `yaml:"algorithms" help:"DPoP proof alg allow-list (asymmetric only)" doc:"ES256, EdDSA, RS256, PS256"`
}

// Options returns the settings as dpop.Options.
func (d DPoP) Options() dpop.Options {
	return dpop.Options{Algorithms: d.Algorithms, Window: d.Window, ReplayCacheSize: d.ReplayCacheSize}
}

// SourceAddress says where the client address of a source allow-list
// comes from.
type SourceAddress struct {
	// From is "source" (Envoy's attributes.source.address: the peer that
	// connected) or "x-forwarded-for".
	From string `yaml:"from" help:"source (Envoy's attributes.source.address) or x-forwarded-for"`
	// XFFNumTrustedHops is the number of proxies whose entries, rightmost
	// in x-forwarded-for, are skipped, as Envoy's xff_num_trusted_hops.
	XFFNumTrustedHops int `yaml:"xff_num_trusted_hops" help:"with from x-forwarded-for, the trusted proxies' entries skipped from the right, as Envoy's xff_num_trusted_hops"`
}

// Source address origins.
const (
	SourceFromPeer = "source"
	SourceFromXFF  = "x-forwarded-for"
)

// Pepper is one entry of [Config.Peppers].
type Pepper struct {
	Version int    `yaml:"version"`
	File    string `yaml:"file"`
}

// Bounds of shutdown_delay. The default suits a load balancer that polls
// health every few seconds; Kubernetes manifests whose preStop hook sleeps
// set 0.
const (
	DefaultShutdownDelay = 5 * time.Second
	MaxShutdownDelay     = time.Minute
)

// validatePeppers checks the rotating set: each version 1-65535 and listed
// once, each file present, and neither pepper_file nor pepper_version set
// beside it.
func (c *Config) validatePeppers() []error {
	var errs []error
	if c.PepperFile != "" {
		errs = append(errs, errors.New("peppers: set it or pepper_file, not both"))
	}
	if c.PepperVersion != Default().PepperVersion {
		errs = append(errs, errors.New("peppers: set it or pepper_version, not both (each entry has its version)"))
	}
	seen := map[int]bool{}
	for i, p := range c.Peppers {
		key := fmt.Sprintf("peppers[%d]", i)
		switch {
		case p.Version < 1 || p.Version > 65535:
			errs = append(errs, fmt.Errorf("%s.version: must be 1-65535", key))
		case seen[p.Version]:
			errs = append(errs, fmt.Errorf("%s.version: %d is listed twice", key, p.Version))
		}
		seen[p.Version] = true
		if p.File == "" {
			errs = append(errs, fmt.Errorf("%s.file: required", key))
		} else if _, err := os.Stat(p.File); err != nil {
			errs = append(errs, fmt.Errorf("%s.file: %v", key, err))
		}
	}
	return errs
}

// Default returns the defaults.
func Default() Config {
	return Config{
		Listen:             ":9001",
		AdminListen:        "127.0.0.1:9002",
		Store:              "sqlite:///var/lib/partnergate/partnergate.db",
		KeyPrefix:          apikey.DefaultPrefix,
		PepperVersion:      1,
		KeyDefaultLifetime: 90 * 24 * time.Hour,
		KeyMaxLifetime:     365 * 24 * time.Hour,
		MaxRotationOverlap: 30 * 24 * time.Hour,
		NegativeCacheTTL:   30 * time.Second,
		MissLookups:        20,
		HotKeys:            DefaultHotKeys,
		MaxStaleness:       5 * time.Minute,
		ReconcileInterval:  5 * time.Minute,
		FeedRetention:      7 * 24 * time.Hour,
		SourceAddress:      SourceAddress{From: SourceFromPeer},
		ShutdownGrace:      15 * time.Second,
		ShutdownDelay:      DefaultShutdownDelay,
		LogLevel:           "info",
		LogFormat:          "json",
		JWT: JWT{CacheSize: 10_000, CacheTTL: time.Minute, DPoP: DPoP{
			Window: dpop.DefaultWindow, ReplayCacheSize: dpop.DefaultReplayCacheSize, Algorithms: slices.Clone(dpop.DefaultAlgorithms),
		}},
		MetricsListen:           ":9090",
		AuditDenyRate:           1000,
		AuditWarnRatePerPartner: 10,
		AdminBootstrap:          "enabled",
		RateLimit:               ratelimit.Config{Domain: "partnergate"},
		SecretScanning:          SecretScanning{GitHub: SecretScanningProgram{PublicKeysURL: GitHubSecretScanningKeys}},
		HTTP:                    HTTP{TrustedProxies: slices.Clone(forwardauth.DefaultTrustedProxies)},
	}
}

// setting is one leaf of Config, addressed three ways. Its description
// (the field's help tag) is the one source of the flag's usage line and the
// README's configuration table; its doc tag, when set, says in words what
// the default is.
type setting struct {
	key  string // yaml path, dotted
	env  string
	flag string
	help string
	doc  string
	list bool // set in the config file only: no flag, no variable
	v    reflect.Value
}

// settings lists every setting, in the order of Config's fields. A new
// setting is one field with a yaml and a help tag.
func (c *Config) settings() []setting {
	var out []setting
	var walk func(v reflect.Value, path []string, owner string)
	walk = func(v reflect.Value, path []string, owner string) {
		t := v.Type()
		for i := range t.NumField() {
			tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			p := append(append([]string(nil), path...), tag)
			f := v.Field(i)
			if f.Kind() == reflect.Struct && f.Type() != durationType {
				// A struct's help names whose settings its fields are
				// (the Check API's TLS, the admin API's).
				walk(f, p, t.Field(i).Tag.Get("help"))
				continue
			}
			help := t.Field(i).Tag.Get("help")
			if owner != "" && help != "" {
				help = owner + ": " + help
			}
			out = append(out, setting{
				key:  strings.Join(p, "."),
				env:  EnvPrefix + strings.ToUpper(strings.Join(p, "_")),
				flag: strings.ReplaceAll(strings.Join(p, "-"), "_", "-"),
				help: help,
				doc:  t.Field(i).Tag.Get("doc"),
				list: f.Kind() == reflect.Slice || f.Kind() == reflect.Map,
				v:    f,
			})
		}
	}
	walk(reflect.ValueOf(c).Elem(), nil, "")
	return out
}

// scalars returns the settings that have a flag and a variable.
func (c *Config) scalars() []setting {
	all := c.settings()
	out := all[:0]
	for _, s := range all {
		if !s.list {
			out = append(out, s)
		}
	}
	return out
}

var durationType = reflect.TypeFor[time.Duration]()

// typeName is the kind of value a setting takes, as --help shows it.
func typeName(v reflect.Value) string {
	switch {
	case v.Type() == durationType:
		return "duration"
	case v.Kind() == reflect.Float64:
		return "float"
	}
	return v.Kind().String()
}

// shown is a setting's value as a flag default and the README show it.
func shown(v reflect.Value) string {
	if v.Type() == durationType {
		return time.Duration(v.Int()).String()
	}
	return fmt.Sprint(v.Interface())
}

func set(v reflect.Value, s string) error {
	switch {
	case v.Type() == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 30s or 2160h", s)
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not an integer", s)
		}
		v.SetInt(int64(n))
	case v.Kind() == reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		v.SetFloat(f)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		v.SetBool(b)
	default:
		return fmt.Errorf("unsupported setting type %s", v.Type())
	}
	return nil
}

// flagValue is a setting's flag. It is typed for --help (duration, int,
// float, bool, string) but keeps the text it was given: [Load] parses it
// with the environment and the file, so that every bad flag is reported
// at once, each naming itself, rather than the first alone.
type flagValue struct {
	typ, text string
}

func (f *flagValue) String() string     { return f.text }
func (f *flagValue) Set(s string) error { f.text = s; return nil }
func (f *flagValue) Type() string       { return f.typ }

// boolFlagValue is a bool setting's flag, which may be given bare.
type boolFlagValue struct{ flagValue }

func (*boolFlagValue) IsBoolFlag() bool { return true }

// RegisterFlags adds a typed flag per setting to fs, each with its
// description, plus --config.
func RegisterFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "config file (YAML); env "+EnvPrefix+"CONFIG")
	def := Default()
	for _, s := range def.scalars() {
		usage := s.help + " (env " + s.env + ")"
		v := flagValue{typ: typeName(s.v), text: shown(s.v)}
		if v.typ == "bool" {
			fs.VarPF(&boolFlagValue{v}, s.flag, "", usage).NoOptDefVal = "true"
			continue
		}
		fs.VarP(&v, s.flag, "", usage)
	}
}

// Load builds the config: defaults, then the file named by --config (or
// PARTNERGATE_CONFIG), then the environment, then flags set on the command
// line. getenv is os.LookupEnv in production. Parse errors name the key,
// variable or flag; Load does not validate (see [Config.Validate], and
// [Resolve] for both at once).
func Load(fs *pflag.FlagSet, getenv func(string) (string, bool)) (*Config, error) {
	c, errs := load(fs, getenv)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// load is Load, returning every parse error and the config as far as it
// was built, or nil when the file could not be read: validating defaults
// in its place would report problems the file does not have.
func load(fs *pflag.FlagSet, getenv func(string) (string, bool)) (*Config, []error) {
	c := Default()
	var errs []error
	path, _ := getenv(EnvPrefix + "CONFIG")
	if fs != nil && fs.Changed("config") {
		path, _ = fs.GetString("config")
	}
	fileOK := true
	if path != "" {
		b, err := os.ReadFile(path)
		if err == nil {
			err = decodeFile(&c, b)
			if err != nil {
				err = fmt.Errorf("config %s: %w", path, err)
			}
		} else {
			err = fmt.Errorf("config: %w", err)
		}
		if err != nil {
			errs = append(errs, err)
			fileOK = false
		}
	}
	for _, s := range c.scalars() {
		if v, ok := getenv(s.env); ok {
			if err := set(s.v, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.env, err))
			}
		}
		if fs == nil || !fs.Changed(s.flag) {
			continue
		}
		if err := set(s.v, fs.Lookup(s.flag).Value.String()); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", s.flag, err))
		}
	}
	if v, ok := getenv(EnvAdminToken); ok {
		c.AdminToken = v
	}
	errs = append(errs, c.loadStore(fs, getenv)...)
	if !fileOK {
		return nil, errs
	}
	return &c, errs
}

func decodeFile(c *Config, b []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true) // a misspelt key is an error, not a silent default
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return typeError(b, te)
		}
		return err
	}
	return nil
}

// Validate reports every problem with c at once, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	for _, a := range []struct{ key, addr string }{{"listen", c.Listen}, {"admin_listen", c.AdminListen}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			bad(a.key, "%q is not host:port", a.addr)
		}
	}
	if c.Listen == c.AdminListen && !strings.HasSuffix(c.Listen, ":0") { // :0 picks two free ports
		bad("admin_listen", "must differ from listen: the admin API never shares the Check port")
	}
	errs = append(errs, c.validateStore()...)
	if _, err := apikey.NewFormat(c.KeyPrefix); err != nil {
		bad("key_prefix", "%v", err)
	} else if c.KeyPrefix == "pgop_" || c.KeyPrefix == "pgadm_" {
		// Secret scanners and people tell an operator's or the bootstrap
		// token from a partner key by its prefix.
		bad("key_prefix", "%q is the prefix of admin tokens; choose another", c.KeyPrefix)
	}
	if c.PepperVersion < 1 || c.PepperVersion > 65535 {
		bad("pepper_version", "must be 1-65535")
	}
	if len(c.Peppers) > 0 {
		errs = append(errs, c.validatePeppers()...)
	} else if kind, _ := StoreKind(c.Store); kind == "postgres" && c.PepperFile == "" {
		bad("pepper_file", "required with a PostgreSQL store: every replica must share one pepper")
	}
	if c.KeyMaxLifetime <= 0 {
		bad("key_max_lifetime", "must be positive: keys always expire")
	}
	if c.KeyDefaultLifetime <= 0 || c.KeyDefaultLifetime > c.KeyMaxLifetime {
		bad("key_default_lifetime", "must be positive and at most key_max_lifetime (%s)", c.KeyMaxLifetime)
	}
	if c.MaxRotationOverlap < 0 {
		bad("max_rotation_overlap", "must not be negative")
	}
	if c.NegativeCacheTTL < time.Second {
		bad("negative_cache_ttl", "must be at least 1s")
	}
	if c.MissLookups < 0 {
		bad("miss_lookups_per_second", "must not be negative")
	}
	if c.HotKeys < 1 || c.HotKeys > MaxHotKeys {
		bad("hot_keys", "must be between 1 and %d", MaxHotKeys)
	}
	switch c.SourceAddress.From {
	case SourceFromPeer:
		if c.SourceAddress.XFFNumTrustedHops != 0 {
			bad("source_address.xff_num_trusted_hops", "needs source_address.from: %s; the peer address has no hops to trust", SourceFromXFF)
		}
	case SourceFromXFF:
		if c.SourceAddress.XFFNumTrustedHops < 0 || c.SourceAddress.XFFNumTrustedHops > clientaddr.MaxTrustedHops {
			bad("source_address.xff_num_trusted_hops", "must be 0-%d", clientaddr.MaxTrustedHops)
		}
	default:
		bad("source_address.from", "%q is not %s or %s", c.SourceAddress.From, SourceFromPeer, SourceFromXFF)
	}
	if c.AuditRetention != 0 && c.AuditRetention < 24*time.Hour {
		bad("audit_retention", "must be 0 (keep every event) or at least 24h")
	}
	if c.FeedRetention != 0 && c.FeedRetention < time.Hour {
		// Shorter would make a replica that restarts, or loses its store
		// for a few minutes, reload its whole state.
		bad("feed_retention", "must be 0 (keep every entry) or at least 1h")
	}
	errs = append(errs, c.validateTelemetry()...)
	if c.ShutdownGrace < 0 {
		bad("shutdown_grace", "must not be negative")
	}
	if c.ShutdownDelay < 0 || c.ShutdownDelay > MaxShutdownDelay {
		bad("shutdown_delay", "must be between 0 and %s", MaxShutdownDelay)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		bad("log_level", "%q is not debug, info, warn or error", c.LogLevel)
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		bad("log_format", "%q is not json or text", c.LogFormat)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls", "cert_file and key_file go together")
	}
	if c.TLS.ClientCAFile != "" && c.TLS.CertFile == "" {
		bad("tls.client_ca_file", "needs tls.cert_file and tls.key_file")
	}
	for _, f := range []struct{ key, path string }{
		{"policy_file", c.PolicyFile}, {"admin_token_file", c.AdminTokenFile},
		{"tls.cert_file", c.TLS.CertFile}, {"tls.key_file", c.TLS.KeyFile}, {"tls.client_ca_file", c.TLS.ClientCAFile},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			bad(f.key, "%v", err)
		}
	}
	if c.AdminToken != "" && c.AdminTokenFile != "" {
		bad("admin_token_file", "set it or %s, not both", EnvAdminToken)
	}
	errs = append(errs, c.JWT.validate()...)
	errs = append(errs, c.validateAdmin()...)
	errs = append(errs, c.validateRateLimit()...)
	errs = append(errs, c.validateSecretScanning()...)
	errs = append(errs, c.validateHTTP()...)
	return errors.Join(errs...)
}

// validateAdmin checks the admin listener's security settings: TLS, the
// bootstrap token and IdP operators.
func (c *Config) validateAdmin() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	t := c.AdminTLS
	if (t.CertFile == "") != (t.KeyFile == "") {
		bad("admin_tls", "cert_file and key_file go together")
	}
	if t.ClientCAFile != "" && t.CertFile == "" {
		bad("admin_tls.client_ca_file", "needs admin_tls.cert_file and admin_tls.key_file")
	}
	for key, path := range map[string]string{"admin_tls.cert_file": t.CertFile, "admin_tls.key_file": t.KeyFile, "admin_tls.client_ca_file": t.ClientCAFile} {
		if path != "" {
			if _, err := os.Stat(path); err != nil {
				bad(key, "%v", err)
			}
		}
	}
	switch {
	case c.AdminPlaintext && t.CertFile != "":
		bad("admin_plaintext", "cannot be combined with admin_tls: set one")
	case t.CertFile == "" && !c.AdminPlaintext && !loopback(c.AdminListen):
		// The admin plane carries operator credentials and partner
		// secrets: plaintext only on the loopback interface.
		bad("admin_listen", "%q is not a loopback address, so the admin API needs TLS: set admin_tls.cert_file and admin_tls.key_file, or admin_plaintext: true if a mesh provides mutual TLS", c.AdminListen)
	}
	switch c.AdminBootstrap {
	case "enabled":
		if strings.HasPrefix(c.AdminToken, "pgop_") {
			// The CLI reads the same variable: an operator's own token
			// must not become the server's bootstrap (admin) token.
			bad(EnvAdminToken, "holds an operator token (pgop_…), not a bootstrap token: unset it for the server, or set admin_bootstrap: disabled")
		} else if c.AdminToken != "" {
			if bits := apikey.Strength(c.AdminToken); bits < apikey.MinTokenBits {
				bad(EnvAdminToken, "about %.0f bits of entropy by its length and alphabet; a bootstrap token needs at least %d (use 32 random characters or more)", bits, apikey.MinTokenBits)
			}
		}
	case "disabled":
		if c.AdminTokenFile != "" {
			bad("admin_token_file", "set with admin_bootstrap: disabled, which turns the bootstrap token off")
		}
	default:
		bad("admin_bootstrap", "%q is not enabled or disabled", c.AdminBootstrap)
	}
	if o := c.AdminOIDC; o.Enabled() {
		ic := o.IssuerConfig()
		if err := ic.Validate(); err != nil {
			list := []error{err}
			if joined, ok := err.(interface{ Unwrap() []error }); ok {
				list = joined.Unwrap()
			}
			for _, e := range list {
				errs = append(errs, fmt.Errorf("admin_oidc.%w", e))
			}
		}
		if o.OperatorClaim != "" && !slices.Contains(operatorClaims, o.OperatorClaim) {
			bad("admin_oidc.operator_claim", "%q is not one of %s", o.OperatorClaim, strings.Join(operatorClaims, ", "))
		}
		if o.RolesClaim != "" && !slices.Contains(rolesClaims, o.RolesClaim) {
			bad("admin_oidc.roles_claim", "%q is not one of %s", o.RolesClaim, strings.Join(rolesClaims, ", "))
		}
		if len(o.Roles) == 0 {
			bad("admin_oidc.roles", "map at least one group or role to a partnergate role")
		}
		for k, v := range o.Roles {
			if _, err := partner.ParseRole("role", v); err != nil || k == "" {
				bad("admin_oidc.roles", "%q: %q is not viewer, auditor, issuer or admin", k, v)
			}
		}
	} else if o.JWKSURL != "" || o.Discovery || len(o.Audiences) > 0 || len(o.Roles) > 0 {
		bad("admin_oidc.issuer", "required when any admin_oidc setting is given")
	}
	return errs
}

// loopback reports whether addr's host is a loopback address or
// "localhost". An empty host listens on every interface.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return true // reported as not host:port already
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// StoreKind returns "sqlite" or "postgres" for a store URL.
func StoreKind(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("not a URL (want sqlite:///path.db or postgres://…)")
	}
	switch u.Scheme {
	case "sqlite":
		if u.Host+u.Path == "" {
			return "", errors.New("sqlite URL names no file (want sqlite:///path.db)")
		}
		return "sqlite", nil
	case "postgres", "postgresql":
		return "postgres", nil
	}
	return "", fmt.Errorf("scheme %q is not sqlite or postgres", u.Scheme)
}

// LogValue implements [slog.LogValuer]. It lists the settings it names
// and no others, so the admin token never appears, and a store password
// is redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("listen", c.Listen), slog.String("admin_listen", c.AdminListen),
		slog.String("store", redactStore(c.Store)), slog.String("key_prefix", c.KeyPrefix),
		slog.String("policy_file", c.PolicyFile), slog.Bool("tls", c.TLS.CertFile != ""),
		slog.Bool("admin_tls", c.AdminTLS.CertFile != ""), slog.Bool("admin_plaintext", c.AdminPlaintext),
		slog.String("admin_bootstrap", c.AdminBootstrap), slog.Bool("admin_oidc", c.AdminOIDC.Enabled()),
		slog.String("http_listen", c.HTTP.Listen), slog.Any("http_trusted_proxies", c.HTTP.TrustedProxies),
	)
}

// redactStore returns the store setting in a form safe to log. PostgreSQL
// URLs may carry a password in the user info or, for libpq and pgx, in a
// query parameter such as password= or sslpassword=; both are replaced. A
// value that does not parse as a URL with a scheme — a keyword/value DSN,
// a mistyped URL — is withheld whole, since where its password sits is
// unknown.
func redactStore(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "(redacted: not a URL)"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "redacted")
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if strings.Contains(strings.ToLower(k), "password") {
				q[k] = []string{"redacted"}
			}
		}
		// Re-encoding also drops pairs Query could not decode.
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// String returns the redacted form, so that printing a Config with %v or
// %+v never shows the admin token or a store password.
func (c Config) String() string { return c.LogValue().String() }

// GoString does the same for %#v.
func (c Config) GoString() string { return "config.Config" + c.String() }

// validate reports the dpop section's problems, each naming its key.
func (d DPoP) validate() error {
	if d.Window == 0 {
		return errors.New("jwt.dpop.window: must be positive, at most " + dpop.MaxWindow.String())
	}
	if d.ReplayCacheSize == 0 {
		return errors.New("jwt.dpop.replay_cache_size: must be positive: a DPoP proof is accepted only once recorded")
	}
	return d.Options().Validate("jwt.dpop.")
}

// validate reports the jwt section's problems, each naming its key as
// jwt.<key>.
func (j *JWT) validate() []error {
	var errs []error
	if j.CacheSize < 0 {
		errs = append(errs, errors.New("jwt.cache_size: must not be negative"))
	}
	if j.CacheTTL < 0 || j.CacheTTL > 10*time.Minute {
		errs = append(errs, errors.New("jwt.cache_ttl: must be between 0 (1m) and 10m"))
	}
	if err := j.DPoP.validate(); err != nil {
		errs = append(errs, err)
	}
	err := j.Issuers.Validate()
	if err == nil {
		return errs
	}
	list := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		list = joined.Unwrap()
	}
	for _, e := range list {
		errs = append(errs, fmt.Errorf("jwt.%w", e))
	}
	return errs
}

// validateTelemetry checks metrics_listen and the audit log's rates.
func (c *Config) validateTelemetry() []error {
	var errs []error
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			errs = append(errs, fmt.Errorf("metrics_listen: %q is not host:port (empty disables metrics)", c.MetricsListen))
		} else if !strings.HasSuffix(c.MetricsListen, ":0") && (c.MetricsListen == c.Listen || c.MetricsListen == c.AdminListen) {
			errs = append(errs, errors.New("metrics_listen: must differ from listen and admin_listen"))
		}
	}
	if !(c.AuditAllowSample >= 0 && c.AuditAllowSample <= 1) { // also refuses NaN
		errs = append(errs, fmt.Errorf("audit_allow_sample: must be between 0 and 1, got %v", c.AuditAllowSample))
	}
	if !(c.AuditDenyRate >= 0 && c.AuditDenyRate <= 1e6) {
		errs = append(errs, fmt.Errorf("audit_deny_rate: must be between 0 (no bound) and 1000000 per second, got %v", c.AuditDenyRate))
	}
	if !(c.AuditWarnRatePerPartner >= 0 && c.AuditWarnRatePerPartner <= 1e6) {
		errs = append(errs, fmt.Errorf("audit_warn_rate_per_partner: must be between 0 (no bound) and 1000000 per second, got %v", c.AuditWarnRatePerPartner))
	}
	return errs
}

// validateRateLimit checks the ratelimit section. No tiers means partnergate
// does not police tier names; with tiers, partner.DefaultTier must be one,
// since partners created without a tier get it.
func (c *Config) validateRateLimit() []error {
	if len(c.RateLimit.Tiers) == 0 {
		if len(c.RateLimit.Overrides) > 0 {
			return []error{fmt.Errorf("ratelimit.overrides: need ratelimit.tiers")}
		}
		return nil
	}
	var errs []error
	if err := c.RateLimit.ValidateAt("ratelimit"); err != nil {
		errs = append(errs, err)
	}
	if !c.RateLimit.HasTier(partner.DefaultTier) {
		errs = append(errs, fmt.Errorf("ratelimit.tiers: must include %q, the tier partners get by default", partner.DefaultTier))
	}
	return errs
}
