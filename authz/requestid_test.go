package authz

import "testing"

// TestRequestIDDropsCredentials guards the request id, which is echoed in
// deny bodies, logs and spans: an API key or a JWT sent as x-request-id is
// dropped, while ordinary ids (UUIDs, Envoy's, tracing ones) are kept.
func TestRequestIDDropsCredentials(t *testing.T) {
	key := mustGenerate(t, newFixture(t, nil, nil).format).Reveal()
	tests := []struct {
		name, id string
		keep     bool
	}{
		{"uuid", "6f1c2a0e-3b7d-4c55-9a1e-2f4b8d9c0a11", true},
		{"envoy-style", "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6", true},
		{"dotted", "req.2026-11-27:0001", true},
		{"api-key", key, false},
		{"key-secret-alone", key[len(key)-49:], false},
		{"jwt-segment", "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.e30", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := requestID("", mapHeaders("x-request-id", tt.id))
			if (got == tt.id) != tt.keep || !tt.keep && got != "" {
				t.Errorf("requestID(%q) = %q, keep %v", tt.id, got, tt.keep)
			}
		})
	}
}
