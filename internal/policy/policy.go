package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/partnergate/partnergate/internal/partner"
)

// Default says what happens to a route no rule matches.
type Default string

const (
	// Deny refuses routes no rule names: fail closed. The default.
	Deny Default = "deny"
	// Authenticated opens routes no rule names to any valid partner
	// credential, with no scope required. An explicit operator choice.
	Authenticated Default = "authenticated"
)

// File is the policy file's schema.
type File struct {
	Default Default `yaml:"default"`
	Routes  []Rule  `yaml:"routes"`
}

// Rule requires scopes on the requests its methods and path match.
type Rule struct {
	// Methods lists HTTP methods; empty means every method.
	Methods []string `yaml:"methods"`
	// Path is a pattern of '/'-separated segments: a literal, "*" for
	// exactly one segment, or a final "**" for any number (zero or more).
	Path string `yaml:"path"`
	// Scopes are all required.
	Scopes []string `yaml:"scopes"`
	// AnyPartner opens the matched routes to any valid partner credential.
	// A rule must set Scopes or AnyPartner, never neither: an empty rule
	// is more likely a mistake than a wish.
	AnyPartner bool `yaml:"any_partner"`
}

// Policy is a loaded, validated policy.
type Policy struct {
	def   Default
	rules []rule
}

type rule struct {
	methods  []string
	segments []string
	scopes   []string
	tail     bool // pattern ends in "**"
}

// Match is a matching result.
type Match struct {
	// Scopes are required, all of them.
	Scopes []string
	// Matched reports whether any rule matched; when false, the route is
	// open to any partner only if Open is true.
	Matched bool
	// Open reports that the route may be used by any valid partner with no
	// scope required.
	Open bool
}

// Empty returns the policy with no rules and the given default.
func Empty(def Default) *Policy { return &Policy{def: def} }

// Load reads and validates a policy file.
func Load(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	p, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	return p, nil
}

// Parse decodes and validates a policy document, reporting every problem
// at once, each naming its key (such as routes[2].path).
func Parse(b []byte) (*Policy, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return New(f)
}

// New validates f and builds its Policy.
func New(f File) (*Policy, error) {
	var errs []error
	p := &Policy{def: f.Default}
	switch f.Default {
	case "":
		p.def = Deny
	case Deny, Authenticated:
	default:
		errs = append(errs, fmt.Errorf("default: %q is not %q or %q", f.Default, Deny, Authenticated))
	}
	for i, r := range f.Routes {
		key := fmt.Sprintf("routes[%d]", i)
		compiled, err := compile(key, r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.rules = append(p.rules, compiled)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

func compile(key string, r Rule) (rule, error) {
	var errs []error
	out := rule{}
	for j, m := range r.Methods {
		if m == "" || strings.ToUpper(m) != m || strings.ContainsAny(m, " /") {
			errs = append(errs, fmt.Errorf("%s.methods[%d]: %q must be an upper-case HTTP method", key, j, m))
		}
		out.methods = append(out.methods, m)
	}
	segs, tail, err := parsePattern(r.Path)
	if err != nil {
		errs = append(errs, fmt.Errorf("%s.path: %w", key, err))
	}
	out.segments, out.tail = segs, tail
	scopes, err := partner.NewScopes(key+".scopes", r.Scopes)
	if err != nil {
		errs = append(errs, err)
	}
	out.scopes = scopes
	if len(scopes) == 0 && !r.AnyPartner {
		errs = append(errs, fmt.Errorf("%s: set scopes, or any_partner: true to open the route to every partner", key))
	}
	if len(scopes) > 0 && r.AnyPartner {
		errs = append(errs, fmt.Errorf("%s: any_partner and scopes exclude each other", key))
	}
	return out, errors.Join(errs...)
}

func parsePattern(p string) ([]string, bool, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, false, fmt.Errorf("%q must start with '/'", p)
	}
	if p == "/" {
		return nil, false, nil
	}
	parts := strings.Split(strings.TrimSuffix(p[1:], "/"), "/")
	tail := false
	for i, s := range parts {
		switch {
		case s == "**" && i == len(parts)-1:
			tail = true
		case s == "**":
			return nil, false, fmt.Errorf("%q: '**' may only end a pattern", p)
		case s == "" || s == "." || s == "..":
			return nil, false, fmt.Errorf("%q: empty, '.' and '..' segments never match a canonical path", p)
		case s != "*" && strings.ContainsAny(s, "*%?#\\"):
			return nil, false, fmt.Errorf("%q: segment %q may not contain '*', '%%', '?', '#' or '\\\\'", p, s)
		}
		parts[i] = strings.ToLower(s)
	}
	if tail {
		parts = parts[:len(parts)-1]
	}
	return parts, tail, nil
}

// Default returns what happens to routes no rule matches.
func (p *Policy) Default() Default { return p.def }

// Rules returns the number of rules.
func (p *Policy) Rules() int { return len(p.rules) }

// Match returns what the route method+rawPath requires. rawPath is the
// request target as Envoy saw it, query included. A path that is not
// canonicalisable matches nothing and is never open.
func (p *Policy) Match(method, rawPath string) Match {
	segs, ok := Canonical(rawPath)
	if !ok {
		return Match{}
	}
	var m Match
	for i := range p.rules {
		r := &p.rules[i]
		if !r.matches(method, segs) {
			continue
		}
		m.Matched = true
		for _, s := range r.scopes {
			if !slices.Contains(m.Scopes, s) {
				m.Scopes = append(m.Scopes, s)
			}
		}
	}
	m.Open = m.Matched || p.def == Authenticated
	return m
}

func (r *rule) matches(method string, segs []string) bool {
	if len(r.methods) > 0 && !r.hasMethod(method) {
		return false
	}
	if len(segs) < len(r.segments) || (!r.tail && len(segs) != len(r.segments)) {
		return false
	}
	for i, want := range r.segments {
		if want != "*" && want != segs[i] {
			return false
		}
	}
	return true
}

// hasMethod reports whether the rule covers method. Methods compare
// without case, and HEAD falls under GET, as most servers answer HEAD with
// the GET handler: a HEAD must not dodge a GET rule's scopes.
func (r *rule) hasMethod(method string) bool {
	method = strings.ToUpper(method)
	if slices.Contains(r.methods, method) {
		return true
	}
	return method == "HEAD" && slices.Contains(r.methods, "GET")
}

// Canonical returns rawPath's canonical segments, or false if the path is
// ambiguous: not absolute, an encoded '/', '\', '?' or '#', a double
// encoding, a NUL or control byte, a '.' or '..' segment, or an invalid
// escape.
func Canonical(rawPath string) ([]string, bool) {
	if i := strings.IndexAny(rawPath, "?#"); i >= 0 {
		rawPath = rawPath[:i]
	}
	if !strings.HasPrefix(rawPath, "/") || strings.ContainsRune(rawPath, '\\') {
		return nil, false
	}
	lower := strings.ToLower(rawPath)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
		return nil, false
	}
	decoded, err := url.PathUnescape(rawPath)
	if err != nil || strings.ContainsAny(decoded, "%?#;") {
		// A '%' left after one decoding is a double encoding: an upstream
		// that decodes again would see another path than we matched. A
		// '?' or '#' can only come from %3F or %23, and would end the
		// path for an upstream that decodes before it splits. A ';'
		// starts path parameters that Java servers strip before routing
		// (/v1/admin;x=1 is /v1/admin there).
		return nil, false
	}
	// Fold case after decoding, so that %41 folds like A.
	decoded = strings.ToLower(decoded)
	segs := make([]string, 0, 8)
	for s := range strings.SplitSeq(decoded[1:], "/") {
		switch s {
		case "":
			continue // "//" merges, a trailing "/" drops
		case ".", "..":
			return nil, false
		}
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] == 0x7f {
				return nil, false
			}
		}
		segs = append(segs, s)
	}
	return segs, true
}
