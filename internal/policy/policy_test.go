// Test strategy: the policy decides which scopes a route needs, so a path
// that reaches an upstream under another name than the one matched here is
// a bypass. Canonical gets one table row per path trick (encoded and
// doubled slashes, backslashes, dot segments, double encoding, case,
// control bytes, bad escapes) and a fuzz target that checks its output
// never carries a separator or escape an upstream could reinterpret and is
// a fixed point. Match is tested on a realistic policy for method filters,
// wildcards, the union of every matching rule in either rule order, and the
// default — a non-canonical path must never be open, whatever the default.
// Parse errors must name the offending key.
package policy

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"
)

func TestCanonical(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // nil with ok false means refused
		ok   bool
	}{
		{"root", "/", []string{}, true},
		{"simple", "/v1/orders", []string{"v1", "orders"}, true},
		{"double-slash", "/v1//admin", []string{"v1", "admin"}, true},
		{"leading-double-slash", "//v1/admin", []string{"v1", "admin"}, true},
		{"many-slashes", "///v1///admin///", []string{"v1", "admin"}, true},
		{"trailing-slash", "/v1/admin/", []string{"v1", "admin"}, true},
		{"upper-case", "/V1/Admin", []string{"v1", "admin"}, true},
		{"encoded-letter", "/v1/%61dmin", []string{"v1", "admin"}, true},
		{"encoded-upper-letter", "/v1/%41dmin", []string{"v1", "admin"}, true},
		{"encoded-upper-letter-lower-hex", "/v1/ADMIN%4c", []string{"v1", "adminl"}, true},
		{"encoded-space", "/v1/a%20b", []string{"v1", "a b"}, true},
		{"plus-is-literal", "/v1/a+b", []string{"v1", "a+b"}, true},
		{"encoded-utf8", "/v1/caf%C3%A9", []string{"v1", "café"}, true},
		{"query-stripped", "/v1/admin?x=1&y=/..", []string{"v1", "admin"}, true},
		{"fragment-stripped", "/v1/admin#frag", []string{"v1", "admin"}, true},
		{"query-then-fragment", "/v1/admin?a#b", []string{"v1", "admin"}, true},
		{"empty-query", "/v1/admin?", []string{"v1", "admin"}, true},
		{"query-with-backslash", `/v1/admin?q=\`, []string{"v1", "admin"}, true},
		{"dots-inside-segment", "/v1/a..b/.c/d.", []string{"v1", "a..b", ".c", "d."}, true},
		{"three-dots", "/v1/...", []string{"v1", "..."}, true},
		{"semicolon-path-parameter", "/v1/admin;x=1", nil, false},
		{"semicolon-encoded", "/v1/admin%3bx=1", nil, false},

		{"empty", "", nil, false},
		{"relative", "v1/admin", nil, false},
		{"query-only", "?x=/v1", nil, false},
		{"asterisk-form", "*", nil, false},
		{"absolute-uri", "http://h/v1/admin", nil, false},
		{"encoded-slash-upper", "/v1%2Fadmin", nil, false},
		{"encoded-slash-lower", "/v1%2fadmin", nil, false},
		{"encoded-backslash", "/v1%5Cadmin", nil, false},
		{"encoded-backslash-lower", "/v1%5cadmin", nil, false},
		{"backslash", `/v1\admin`, nil, false},
		{"leading-backslash", `\v1/admin`, nil, false},
		{"dot-dot", "/v1/public/../admin", nil, false},
		{"dot-dot-trailing", "/v1/admin/..", nil, false},
		{"dot", "/v1/./admin", nil, false},
		{"dot-trailing", "/v1/admin/.", nil, false},
		{"encoded-dot-dot", "/v1/public/%2e%2e/admin", nil, false},
		{"encoded-dot-dot-upper", "/v1/public/%2E%2E/admin", nil, false},
		{"half-encoded-dot-dot", "/v1/public/.%2e/admin", nil, false},
		{"encoded-dot", "/v1/%2e/admin", nil, false},
		{"double-encoded-slash", "/v1%252Fadmin", nil, false},
		{"double-encoded-dot", "/v1/%252e%252e/admin", nil, false},
		{"double-encoded-letter", "/v1/%2561dmin", nil, false},
		{"encoded-percent", "/v1/100%25", nil, false},
		{"encoded-question-mark", "/v1/admin%3F/x", nil, false},
		{"encoded-question-mark-lower", "/v1/admin%3f", nil, false},
		{"encoded-hash", "/v1/admin%23/x", nil, false},
		{"nul-raw", "/v1/admin\x00", nil, false},
		{"nul-encoded", "/v1/admin%00.json", nil, false},
		{"newline-encoded", "/v1/admin%0a", nil, false},
		{"carriage-return-encoded", "/v1/admin%0D%0A", nil, false},
		{"tab-raw", "/v1/ad\tmin", nil, false},
		{"del-encoded", "/v1/admin%7f", nil, false},
		{"unit-separator-encoded", "/v1/%1fadmin", nil, false},
		{"invalid-escape", "/v1/%zzadmin", nil, false},
		{"truncated-escape", "/v1/admin%4", nil, false},
		{"lone-percent", "/v1/admin%", nil, false},
		{"percent-unicode-form", "/v1/%u0061dmin", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Canonical(tt.in)
			if ok != tt.ok {
				t.Fatalf("Canonical(%q) ok = %v, want %v (segments %q)", tt.in, ok, tt.ok, got)
			}
			if !ok {
				if got != nil {
					t.Errorf("Canonical(%q) refused but returned %q", tt.in, got)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Canonical(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// testPolicy is a realistic policy. Rules are listed general-first so that
// a first-match implementation would get them wrong.
const testPolicy = `
default: deny
routes:
  - path: /v1/**
    scopes: [api]
  - path: /v1/admin/**
    scopes: [admin]
  - methods: [GET, HEAD]
    path: /v1/orders
    scopes: [orders:read]
  - methods: [POST]
    path: /v1/orders
    scopes: [orders:write]
  - path: /v1/orders/*/items
    scopes: [orders:read, items:read]
  - path: /v1/orders/*
    methods: [DELETE]
    scopes: [orders:delete]
  - path: /health
    any_partner: true
  - path: /v1/admin/users/*/reset
    methods: [POST]
    scopes: [admin:reset]
  - path: /public/**
    any_partner: true
`

func mustParse(t testing.TB, doc string) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

// reordered returns doc's policy with its rules reversed and def as its
// default, to show that rule order never changes a decision.
func reordered(t testing.TB, doc string, reverse bool, def Default) *Policy {
	t.Helper()
	var f File
	if err := yaml.Unmarshal([]byte(doc), &f); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	if reverse {
		slices.Reverse(f.Routes)
	}
	f.Default = def
	p, err := New(f)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func TestMatch(t *testing.T) {
	type want struct {
		scopes  []string
		matched bool
		open    bool
	}
	tests := []struct {
		name   string
		method string
		path   string
		want   want
	}{
		{"general-rule", "GET", "/v1/things", want{[]string{"api"}, true, true}},
		{"tail-zero-segments", "GET", "/v1", want{[]string{"api"}, true, true}},
		{"tail-zero-segments-trailing-slash", "GET", "/v1/", want{[]string{"api"}, true, true}},
		{"tail-many-segments", "GET", "/v1/a/b/c/d", want{[]string{"api"}, true, true}},
		{"specific-and-general-union", "GET", "/v1/admin/users", want{[]string{"admin", "api"}, true, true}},
		{"admin-tail-zero-segments", "GET", "/v1/admin", want{[]string{"admin", "api"}, true, true}},
		{"admin-upper-case", "GET", "/V1/ADMIN/users", want{[]string{"admin", "api"}, true, true}},
		{"admin-encoded-letter", "GET", "/v1/%41dmin/users", want{[]string{"admin", "api"}, true, true}},
		{"admin-double-slash", "GET", "/v1//admin//users/", want{[]string{"admin", "api"}, true, true}},
		{"admin-with-query", "GET", "/v1/admin?x=/public", want{[]string{"admin", "api"}, true, true}},
		{"three-rules-union", "POST", "/v1/admin/users/42/reset", want{[]string{"admin", "admin:reset", "api"}, true, true}},
		{"method-filter-get", "GET", "/v1/orders", want{[]string{"api", "orders:read"}, true, true}},
		{"method-filter-head", "HEAD", "/v1/orders", want{[]string{"api", "orders:read"}, true, true}},
		{"method-filter-post", "POST", "/v1/orders", want{[]string{"api", "orders:write"}, true, true}},
		{"method-filter-none-match", "PATCH", "/v1/orders", want{[]string{"api"}, true, true}},
		{"method-case-folded", "post", "/v1/orders", want{[]string{"api", "orders:write"}, true, true}},
		{"star-one-segment", "GET", "/v1/orders/7/items", want{[]string{"api", "items:read", "orders:read"}, true, true}},
		{"star-not-two-segments", "GET", "/v1/orders/7/8/items", want{[]string{"api"}, true, true}},
		{"star-not-zero-segments", "GET", "/v1/orders/items", want{[]string{"api"}, true, true}},
		{"star-with-method", "DELETE", "/v1/orders/7", want{[]string{"api", "orders:delete"}, true, true}},
		{"star-method-mismatch", "GET", "/v1/orders/7", want{[]string{"api"}, true, true}},
		{"any-partner", "GET", "/health", want{nil, true, true}},
		{"any-partner-exact-only", "GET", "/health/deep", want{nil, false, false}},
		{"any-partner-tail", "GET", "/public/docs/a.html", want{nil, true, true}},
		{"any-partner-tail-root", "GET", "/public", want{nil, true, true}},
		{"prefix-is-not-segment", "GET", "/v10/admin", want{nil, false, false}},
		{"prefix-of-segment", "GET", "/publicity", want{nil, false, false}},
		{"unmatched-root", "GET", "/", want{nil, false, false}},
		{"unmatched-other", "GET", "/v2/admin", want{nil, false, false}},
		{"dot-dot-into-admin", "GET", "/public/../v1/admin", want{nil, false, false}},
		{"encoded-slash", "GET", "/public%2F..%2Fv1/admin", want{nil, false, false}},
		{"backslash", "GET", `/public\..\v1\admin`, want{nil, false, false}},
		{"double-encoded", "GET", "/public/%252e%252e/v1/admin", want{nil, false, false}},
		{"nul", "GET", "/health%00", want{nil, false, false}},
		{"relative", "GET", "health", want{nil, false, false}},
	}
	for _, order := range []struct {
		name string
		p    *Policy
	}{
		{"file-order", mustParse(t, testPolicy)},
		{"reversed-order", reordered(t, testPolicy, true, Deny)},
	} {
		t.Run(order.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					got := order.p.Match(tt.method, tt.path)
					gotW := want{got.Scopes, got.Matched, got.Open}
					if diff := cmp.Diff(tt.want, gotW, cmp.AllowUnexported(want{}), cmpopts.SortSlices(lessString), cmpopts.EquateEmpty()); diff != "" {
						t.Errorf("Match(%s %s) (-want +got):\n%s", tt.method, tt.path, diff)
					}
				})
			}
		})
	}
}

// TestMatchDefault checks what the default opens: with deny nothing
// unmatched, with authenticated every unmatched canonical path — and never
// a path that is not canonical, so a trick cannot turn a matched, scoped
// route into an unmatched, open one.
func TestMatchDefault(t *testing.T) {
	tests := []struct {
		name      string
		path      string
		denyOpen  bool
		authOpen  bool
		authScope []string
	}{
		{"unmatched", "/v2/anything", false, true, nil},
		{"unmatched-root", "/", false, true, nil},
		{"matched-keeps-scopes", "/v1/admin/x", true, true, []string{"admin", "api"}},
		{"encoded-slash", "/v1%2Fadmin/x", false, false, nil},
		{"dot-dot", "/v2/../v1/admin", false, false, nil},
		{"encoded-dot-dot", "/v2/%2E%2E/v1/admin", false, false, nil},
		{"double-encoded", "/v1/%2561dmin", false, false, nil},
		{"backslash", `/v1\admin`, false, false, nil},
		{"nul", "/v1/admin%00", false, false, nil},
		{"invalid-escape", "/v1/admin%G0", false, false, nil},
		{"encoded-question-mark", "/v1/admin%3F/x", false, false, nil},
		{"not-absolute", "v1/admin", false, false, nil},
		{"empty", "", false, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, reverse := range []bool{false, true} {
				deny := reordered(t, testPolicy, reverse, Deny).Match("GET", tt.path)
				auth := reordered(t, testPolicy, reverse, Authenticated).Match("GET", tt.path)
				if deny.Open != tt.denyOpen {
					t.Errorf("default deny: Match(%q).Open = %v, want %v", tt.path, deny.Open, tt.denyOpen)
				}
				if auth.Open != tt.authOpen {
					t.Errorf("default authenticated: Match(%q).Open = %v, want %v", tt.path, auth.Open, tt.authOpen)
				}
				if diff := cmp.Diff(tt.authScope, auth.Scopes, cmpopts.SortSlices(lessString), cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("default authenticated: Match(%q).Scopes (-want +got):\n%s", tt.path, diff)
				}
			}
		})
	}
	t.Run("empty-policy", func(t *testing.T) {
		if m := Empty(Deny).Match("GET", "/x"); m.Open || m.Matched {
			t.Errorf("Empty(Deny).Match = %+v, want closed", m)
		}
		if m := Empty(Authenticated).Match("GET", "/x"); !m.Open || m.Matched || len(m.Scopes) > 0 {
			t.Errorf("Empty(Authenticated).Match = %+v, want open with no scopes", m)
		}
		if m := Empty(Authenticated).Match("GET", "/x/../y"); m.Open {
			t.Errorf("Empty(Authenticated) opened a non-canonical path: %+v", m)
		}
	})
	t.Run("empty-document-denies", func(t *testing.T) {
		p := mustParse(t, "")
		if p.Default() != Deny || p.Rules() != 0 {
			t.Errorf("empty document: default %q, %d rules; want deny, 0", p.Default(), p.Rules())
		}
	})
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // substrings the one error must contain
	}{
		{"bad-default", "default: allow\n", []string{"default:", `"allow"`}},
		{"relative-path", "routes:\n  - path: /ok\n    scopes: [a]\n  - path: v1/x\n    scopes: [a]\n", []string{"routes[1].path"}},
		{"empty-path", "routes:\n  - scopes: [a]\n", []string{"routes[0].path"}},
		{"double-star-inside", "routes:\n  - path: /v1/**/x\n    scopes: [a]\n", []string{"routes[0].path", "'**'"}},
		{"empty-segment", "routes:\n  - path: /v1//x\n    scopes: [a]\n", []string{"routes[0].path"}},
		{"dot-dot-segment", "routes:\n  - path: /v1/../x\n    scopes: [a]\n", []string{"routes[0].path"}},
		{"percent-in-pattern", "routes:\n  - path: /v1/%41\n    scopes: [a]\n", []string{"routes[0].path"}},
		{"partial-star", "routes:\n  - path: /v1/ord*\n    scopes: [a]\n", []string{"routes[0].path"}},
		{"backslash-in-pattern", "routes:\n  - path: '/v1\\x'\n    scopes: [a]\n", []string{"routes[0].path"}},
		{"bad-scope", "routes:\n  - path: /v1\n    scopes: [\"has space\"]\n", []string{"routes[0].scopes"}},
		{"neither-scopes-nor-any-partner", "routes:\n  - path: /v1\n", []string{"routes[0]:", "any_partner"}},
		{"both-scopes-and-any-partner", "routes:\n  - path: /v1\n    scopes: [a]\n    any_partner: true\n", []string{"routes[0]:", "exclude"}},
		{"lower-case-method", "routes:\n  - path: /v1\n    methods: [get]\n    scopes: [a]\n", []string{"routes[0].methods[0]"}},
		{"empty-method", "routes:\n  - path: /v1\n    methods: [\"\"]\n    scopes: [a]\n", []string{"routes[0].methods[0]"}},
		{"unknown-top-level-field", "default: deny\nrouts: []\n", []string{"routs"}},
		{"unknown-rule-field", "routes:\n  - path: /v1\n    scope: [a]\n", []string{"scope"}},
		{"wrong-type", "routes: {}\n", []string{"line 1", "[]policy.Rule"}},
		{"every-problem-at-once", "default: open\nroutes:\n  - path: /ok\n    scopes: [a]\n  - path: nope\n    scopes: [a]\n  - path: /v1\n    scopes: [\"bad scope\"]\n",
			[]string{"default:", "routes[1].path", "routes[2].scopes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse accepted %q: %d rules", tt.doc, p.Rules())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(good, []byte(testPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := Load(good)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if p.Rules() != 9 || p.Default() != Deny {
		t.Errorf("Load: %d rules, default %q; want 9, deny", p.Rules(), p.Default())
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("default: nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "default:") {
		t.Errorf("Load(bad) = %v, want an error naming the file and the key", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want os.ErrNotExist", err)
	}
}

func FuzzCanonical(f *testing.F) {
	// Plain paths, the root, and a tail of slashes.
	f.Add("/v1/orders")
	f.Add("/")
	f.Add("///v1//a///")
	// Case and percent-encoded letters, which must fold the same way.
	f.Add("/V1/%41dmin")
	// Encoded separators and their double encodings.
	f.Add("/v1%2Fadmin")
	f.Add("/v1%5cadmin")
	f.Add("/v1%252Fadmin")
	// Dot segments raw, encoded and half encoded.
	f.Add("/a/../b")
	f.Add("/a/%2e%2E/b")
	f.Add("/a/.%2e/b")
	// Query and fragment, and their encoded forms inside the path.
	f.Add("/a?b=/../c#d")
	f.Add("/a%3Fb/c")
	f.Add("/a%23b")
	// Control bytes raw and encoded, invalid and truncated escapes.
	f.Add("/a\x00b")
	f.Add("/a%00b%7F")
	f.Add("/a%zz")
	f.Add("/a%4")
	// Non-ASCII: UTF-8 that folds (Kelvin sign, dotted capital I) and
	// invalid UTF-8 raw and encoded.
	f.Add("/\u212a/\u0130")
	f.Add("/a\xffb/%C3%28")
	// Not absolute.
	f.Add("")
	f.Add("a/b")

	f.Fuzz(func(t *testing.T, raw string) {
		segs, ok := Canonical(raw)
		if !ok {
			if segs != nil {
				t.Fatalf("Canonical(%q) refused but returned %q", raw, segs)
			}
			return
		}
		for _, s := range segs {
			if s == "" || s == "." || s == ".." {
				t.Fatalf("Canonical(%q) has segment %q", raw, s)
			}
			if strings.ContainsAny(s, "%\\/?#") {
				t.Fatalf("Canonical(%q) has segment %q with a separator or escape", raw, s)
			}
			for i := 0; i < len(s); i++ {
				if s[i] < 0x20 || s[i] == 0x7f {
					t.Fatalf("Canonical(%q) has control byte in segment %q", raw, s)
				}
			}
		}
		joined := "/" + strings.Join(segs, "/")
		again, ok := Canonical(joined)
		if !ok {
			t.Fatalf("Canonical(%q) = %q, but its join %q is refused", raw, segs, joined)
		}
		if diff := cmp.Diff(segs, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("Canonical is not idempotent on %q (-first +second):\n%s", raw, diff)
		}
	})
}

func BenchmarkMatch(b *testing.B) {
	p := mustParse(b, testPolicy)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if m := p.Match("POST", "/v1/admin/users/42/reset?x=1"); len(m.Scopes) != 3 {
				b.Errorf("Match scopes = %q", m.Scopes)
				return
			}
		}
	})
}

func lessString(a, b string) bool { return a < b }

func TestHeadFallsUnderGet(t *testing.T) {
	p, err := Parse([]byte(`
default: authenticated
routes:
  - methods: [GET]
    path: /v1/secrets
    scopes: [secrets:read]
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"GET", "HEAD", "get", "head"} {
		if m := p.Match(method, "/v1/secrets"); !m.Matched || len(m.Scopes) != 1 {
			t.Errorf("Match(%s) = %+v; a %s must not dodge the GET rule's scope", method, m, method)
		}
	}
	if m := p.Match("POST", "/v1/secrets"); m.Matched {
		t.Errorf("Match(POST) = %+v; the GET rule must not cover POST", m)
	}
}
