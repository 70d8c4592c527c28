package authz

import (
	"encoding/json"
	"strings"
	"testing"
)

// reasonOf returns a reason whose public code is public.
func reasonOf(public string) Reason {
	for _, r := range Reasons() {
		if r.Public() == public {
			return r
		}
	}
	panic("no reason for " + public)
}

// FuzzDenyBody checks that the hand-built deny body is the JSON of its
// fields for any request id a caller can send: the id is sanitised first,
// so no input can break out of its string.
func FuzzDenyBody(f *testing.F) {
	for _, s := range []string{"", "req-123", "a.b:c_d", `x","error":"allowed`, "\x00\n", strings.Repeat("a", 129), "ünï"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		id := requestID(raw, headers{})
		for _, public := range []string{PublicInvalidCredentials, PublicPartnerSuspended, PublicInsufficientScope, PublicTenantMismatch, PublicRouteNotAllowed} {
			d := Decision{Reason: reasonOf(public), RequestID: id}
			body := d.Body()
			var got map[string]string
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("Body(%q, %q) = %s: not JSON: %v", public, id, body, err)
			}
			want := map[string]string{"error": public}
			if id != "" {
				want["request_id"] = id
			}
			if len(got) != len(want) || got["error"] != want["error"] || got["request_id"] != want["request_id"] {
				t.Fatalf("Body(%q, %q) = %s, want the fields %v", public, id, body, want)
			}
		}
	})
}
