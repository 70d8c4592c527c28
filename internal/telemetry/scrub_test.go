package telemetry_test

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/partnergate/partnergate/authz"
	"github.com/partnergate/partnergate/internal/logtest"
	"github.com/partnergate/partnergate/internal/telemetry"
)

// A well-formed key of the configured format and a JWT, both to be kept
// out of every log line.
const (
	testKey    = "pg_test_AbCdEfGhIjKl_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGabc123"
	testSecret = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
	testJWT    = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhY21lIn0.c2lnbmF0dXJl"
)

// writeOne logs d through a decision log with the test key format and
// returns what was written.
func writeOne(t *testing.T, d authz.Decision) string {
	t.Helper()
	var buf logtest.Buffer
	l := telemetry.NewDecisionLog(telemetry.NewLogger(&buf, "json", slog.LevelInfo), telemetry.DecisionLogOptions{KeyPrefix: "pg_test_"})
	l.Decision(context.Background(), d)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestDecisionLogRedactsMisplacedCredentials guards the audit log against
// a credential sent where it does not belong: in the query, the fragment
// or the path, encoded or not, or in any other request-derived field.
func TestDecisionLogRedactsMisplacedCredentials(t *testing.T) {
	encoded := strings.ReplaceAll(testKey, "_", "%5F")
	tests := []struct {
		name string
		d    authz.Decision
		keep []string // what must still be logged
	}{
		{"query-value", authz.Decision{Path: "/v1/orders?api_key=" + testKey}, []string{`/v1/orders?api_key=[redacted]`}},
		{"query-value-not-a-key", authz.Decision{Path: "/v1/orders?partnerId=globex&x=" + testSecret[:10]}, []string{`partnerId=[redacted]&x=[redacted]`}},
		{"query-name", authz.Decision{Path: "/v1/orders?" + testKey}, []string{"/v1/orders?"}},
		{"fragment", authz.Decision{Path: "/v1/orders#" + testKey}, []string{`/v1/orders#[redacted]`}},
		{"path", authz.Decision{Path: "/v1/keys/" + testKey + "/orders"}, []string{"/v1/keys/[redacted]/orders"}},
		{"path-percent-encoded", authz.Decision{Path: "/v1/keys/" + encoded}, []string{"/v1/keys/[redacted]"}},
		{"path-upper-case-prefix", authz.Decision{Path: "/v1/" + strings.ToUpper(testKey[:8]) + testKey[8:]}, []string{"/v1/[redacted]"}},
		{"path-secret-alone", authz.Decision{Path: "/v1/" + testSecret}, []string{"/v1/[redacted]"}},
		{"path-jwt", authz.Decision{Path: "/v1/t/" + testJWT}, []string{"/v1/t/[redacted]"}},
		{"matrix-parameter", authz.Decision{Path: "/v1/orders;k=" + testKey}, []string{"/v1/orders;k=[redacted]"}},
		{"method", authz.Decision{Method: "GET" + testJWT}, []string{`"method":"GET[redacted]"`}},
		{"request-id", authz.Decision{RequestID: testKey}, []string{`"request_id":"[redacted]"`}},
		{"client", authz.Decision{ClientAddr: testKey}, []string{`"client":"[redacted]"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.d.Reason = authz.ReasonMissingCredential
			out := writeOne(t, tt.d)
			for _, secret := range []string{testKey, testSecret, testJWT, testKey[8:20], "eyJzdWIi"} {
				if strings.Contains(out, secret) {
					t.Errorf("log holds %q:\n%s", secret, out)
				}
			}
			for _, k := range tt.keep {
				if !strings.Contains(out, k) {
					t.Errorf("log lacks %q:\n%s", k, out)
				}
			}
		})
	}
}

// TestDecisionLogBoundsRequestFields guards the size of a log line: a
// request's path and other fields are cut to a bound, and marked as cut.
func TestDecisionLogBoundsRequestFields(t *testing.T) {
	long := strings.Repeat("a/", 40<<10)
	out := writeOne(t, authz.Decision{
		Reason: authz.ReasonUnknownCredential, Path: "/" + long, Method: strings.Repeat("G.", 5000),
		ClientAddr: strings.Repeat("9.", 5000), Detail: strings.Repeat("d-", 5000), RequestID: strings.Repeat("r:", 5000),
	})
	if len(out) > 2048 {
		t.Errorf("a %d-byte line for one request", len(out))
	}
	for _, field := range []string{"path", "method", "client", "detail", "request_id"} {
		if !regexp.MustCompile(`"` + field + `":"[^"]*…\[cut\]"`).MatchString(out) {
			t.Errorf("%s is not marked as cut:\n%s", field, out)
		}
	}
	t.Run("multi-byte-not-split", func(t *testing.T) {
		out := writeOne(t, authz.Decision{Reason: authz.ReasonUnknownCredential, Path: "/" + strings.Repeat("é", 2000)})
		if strings.Contains(out, `\ufffd`) || !strings.Contains(out, "é…[cut]") {
			t.Errorf("cut inside a character:\n%.300s", out)
		}
	})
}

// TestDecisionLogBoundsWarningsPerPartner guards the audit log against a
// partner with a valid key that sends cross-tenant requests in a loop:
// its warnings are written up to the rate (kept per partner and
// credential), the rest counted and reported per partner; another
// partner's warnings are still written, and so is the first use of each
// of many revoked keys.
func TestDecisionLogBoundsWarningsPerPartner(t *testing.T) {
	var buf logtest.Buffer
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l := telemetry.NewDecisionLog(telemetry.NewLogger(&buf, "json", slog.LevelInfo), telemetry.DecisionLogOptions{
		WarnRatePerPartner: 5, Now: func() time.Time { return now },
	})
	ctx := context.Background()
	for range 100 { // one instant: the burst of 5 is written
		l.Decision(ctx, authz.Decision{Reason: authz.ReasonTenantMismatch, PartnerID: "acme"})
	}
	for range 3 {
		l.Decision(ctx, authz.Decision{Reason: authz.ReasonTenantMismatch, PartnerID: "globex"})
	}
	// Many revoked keys of one partner, each used once: all written.
	for i := range 20 {
		l.Decision(ctx, authz.Decision{Reason: authz.ReasonRevokedCredential, PartnerID: "initech", CredentialID: fmt.Sprintf("key%09d", i)})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	tests := []struct {
		name string
		got  int
		want int
	}{
		{"acme-burst-written", strings.Count(out, `"reason":"tenant_mismatch","request_id":"","method":"","path":"","client":"","partner_id":"acme"`), 5},
		{"globex-unaffected", strings.Count(out, `"partner_id":"globex"`), 3},
		{"each-revoked-key-written", strings.Count(out, `"reason":"revoked_credential"`), 20},
		{"counted", int(l.WarnSuppressed()), 95},
	}
	// As for DenyRate, the count may come in one report or two (the
	// writer may reach an entry while the flood is still counted).
	reported := 0
	for _, m := range regexp.MustCompile(`"msg":"high-severity denials not written: over audit_warn_rate_per_partner","partner_id":"acme","suppressed":(\d+)`).FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		reported += n
	}
	tests = append(tests, struct {
		name      string
		got, want int
	}{"reported-per-partner", reported, 95})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %d, want %d:\n%s", tt.got, tt.want, out)
			}
		})
	}
}
