package policy

import (
	"strings"
	"testing"
)

// TestBadPathRefusesWhatUpstreamsNormalise guards the path forms an
// outside attack got past route rules: overlong UTF-8, fullwidth dots,
// dots with trailing white space, three dots, and other dot-segment
// variants, decoded once or more, are bad; ordinary paths, dots inside a
// segment and query strings are not.
func TestBadPathRefusesWhatUpstreamsNormalise(t *testing.T) {
	tests := []struct {
		name string
		path string
		want bool
	}{
		{"plain", "/v1/orders", false},
		{"query-dots-ignored", "/v1/orders?next=../../x", false},
		{"file-extension", "/v1/reports/2026.csv", false},
		{"dot-inside-segment", "/v1/a..b/c", false},
		{"encoded-space-in-name", "/v1/my%20file", false},
		{"unicode-segment", "/v1/caf%C3%A9", false},
		{"raw-unicode-segment", "/v1/café", false},
		{"root", "/", false},
		{"dot", "/v1/./orders", true},
		{"dot-dot", "/v1/../admin", true},
		{"three-dots", "/v1/orders/.../admin", true},
		{"trailing-dot-dot", "/v1/..", true},
		{"dot-dot-encoded-space", "/v1/orders/..%20/admin", true},
		{"dot-dot-tab", "/v1/orders/..%09/admin", true},
		{"encoded-dots", "/v1/%2e%2e/admin", true},
		{"mixed-encoded-dots", "/v1/.%2E/admin", true},
		{"double-encoded-dots", "/v1/%252e%252e/admin", true},
		{"encoded-slash-traversal", "/v1/reports/..%2f..%2fadmin", true},
		{"overlong-dots", "/v1/orders/%c0%ae%c0%ae/admin", true},
		{"overlong-slash", "/v1/orders%c0%afadmin", true},
		{"three-byte-overlong", "/v1/%e0%80%ae%e0%80%ae", true},
		{"invalid-utf8", "/v1/%ff", true},
		{"invalid-escape", "/v1/%zz%c0%ae%c0%ae", true},
		{"double-encoded-invalid-escape", "/v1/%25zz", true},
		{"raw-invalid-utf8", "/v1/\xff", true},
		{"surrogate", "/v1/%ed%a0%80", true},
		{"fullwidth-dots", "/v1/orders/%EF%BC%8E%EF%BC%8E/admin", true},
		{"raw-fullwidth-dots", "/v1/orders/\uff0e\uff0e/admin", true},
		{"one-dot-leader-pair", "/v1/\u2025/admin", true},
		{"small-full-stop", "/v1/\ufe52\ufe52", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := BadPath(tt.path); got != tt.want {
				t.Errorf("BadPath(%q) = %v, want %v", tt.path, got, tt.want)
			}
		})
	}
}

func FuzzBadPath(f *testing.F) {
	// Ordinary paths.
	f.Add("/v1/orders")
	f.Add("/v1/reports/2026.csv?x=1")
	// The attack run's forms: overlong, fullwidth, dots and a space,
	// three dots.
	f.Add("/v1/orders/%c0%ae%c0%ae/admin")
	f.Add("/v1/orders/%EF%BC%8E%EF%BC%8E/admin")
	f.Add("/v1/orders/..%20/admin")
	f.Add("/v1/orders/.../admin")
	// A double encoding and an invalid escape.
	f.Add("/v1/%252e%252e")
	f.Add("/v1/%zz")

	f.Fuzz(func(t *testing.T, p string) {
		bad := BadPath(p)
		if i := strings.IndexAny(p, "?#"); i >= 0 {
			p = p[:i]
		}
		// Whatever came before, a ".." segment after it is always bad.
		if !BadPath(p + "/../x") {
			t.Fatalf("%q/../x is not bad", p)
		}
		_ = bad
	})
}
