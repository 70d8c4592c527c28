// Test strategy: the audit log and the logger are what operators search
// after an incident, and the place a secret would most easily leak. The
// decision log is driven with real slog handlers: which decisions it
// writes (every denial, allows by the sample rate, high-severity reasons
// at warning level), that a slow log never blocks Check (a writer stuck
// mid-write, a full queue: Decision returns and the drop is counted), and
// that credential-bearing attributes are redacted at every level,
// debug included. Tracing is built from the standard environment variables
// and must stay off unless they ask for it. Metrics are scraped through
// the real Prometheus handler.
package telemetry_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/partnergate/partnergate/authz"
	"github.com/partnergate/partnergate/internal/jwtverify"
	"github.com/partnergate/partnergate/internal/logtest"
	"github.com/partnergate/partnergate/internal/telemetry"
)

func TestDecisionLogWritesDenialsAndSampledAllows(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name      string
		sample    float64
		draw      float64
		reason    authz.Reason
		wantLevel string // "" means not written
	}{
		{"deny-always-written", 0, 0.99, authz.ReasonUnknownCredential, "INFO"},
		{"revoked-key-use-is-a-warning", 0, 0.99, authz.ReasonRevokedCredential, "WARN"},
		{"tenant-mismatch-is-a-warning", 0, 0.99, authz.ReasonTenantMismatch, "WARN"},
		{"allow-not-sampled-at-zero", 0, 0, authz.ReasonAllowed, ""},
		{"allow-always-at-one", 1, 0.999, authz.ReasonAllowed, "INFO"},
		{"allow-drawn-under-rate", 0.25, 0.2, authz.ReasonAllowed, "INFO"},
		{"allow-drawn-over-rate", 0.25, 0.3, authz.ReasonAllowed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf logtest.Buffer
			l := telemetry.NewDecisionLog(telemetry.NewLogger(&buf, "json", slog.LevelInfo), telemetry.DecisionLogOptions{
				AllowSample: tc.sample, Rand: func() float64 { return tc.draw }, Now: func() time.Time { return at },
			})
			l.Decision(context.Background(), authz.Decision{
				Reason: tc.reason, RequestID: "req-7", PartnerID: "acme", CredentialID: "AbCdEfGhIjKl",
				Method: "POST", Path: "/v1/orders", ClientAddr: "203.0.113.5",
			})
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if tc.wantLevel == "" {
				if out != "" {
					t.Fatalf("written: %s", out)
				}
				return
			}
			for _, want := range []string{
				`"time":"2026-01-02T03:04:05Z"`, `"level":"` + tc.wantLevel + `"`, `"msg":"decision"`,
				`"reason":"` + string(tc.reason) + `"`, `"request_id":"req-7"`, `"partner_id":"acme"`,
				`"credential_id":"AbCdEfGhIjKl"`, `"path":"/v1/orders"`, `"client":"203.0.113.5"`,
			} {
				if !strings.Contains(out, want) {
					t.Errorf("audit line lacks %s:\n%s", want, out)
				}
			}
		})
	}
}

// A flood of low-severity denials is written up to DenyRate and counted
// beyond it; high-severity denials are all written; the count is reported.
func TestDecisionLogBoundsLowSeverityDenials(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	var buf logtest.Buffer
	l := telemetry.NewDecisionLog(telemetry.NewLogger(&buf, "json", slog.LevelInfo), telemetry.DecisionLogOptions{
		DenyRate: 10, Now: clock,
	})
	ctx := context.Background()
	for range 25 { // one instant: the burst of 10 is written, 15 are not
		l.Decision(ctx, authz.Decision{Reason: authz.ReasonUnknownCredential})
	}
	for range 5 {
		l.Decision(ctx, authz.Decision{Reason: authz.ReasonRevokedCredential})
	}
	now = now.Add(2 * time.Second) // the bucket refills
	l.Decision(ctx, authz.Decision{Reason: authz.ReasonMalformedCredential})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	count := func(s string) int { return strings.Count(out, s) }
	if n := count(`"reason":"unknown_credential"`); n != 10 {
		t.Errorf("wrote %d unknown_credential denials, want the burst of 10", n)
	}
	if n := count(`"reason":"revoked_credential"`); n != 5 {
		t.Errorf("wrote %d of 5 revoked_credential denials; high severity is never suppressed", n)
	}
	if n := count(`"reason":"malformed_credential"`); n != 1 {
		t.Errorf("wrote %d malformed_credential denials after the refill, want 1", n)
	}
	if got := l.Suppressed(); got != 15 {
		t.Errorf("Suppressed() = %d, want 15", got)
	}
	// The count is reported before the next entry written, at most once a
	// second, and at Close. The writer may reach an entry while denials
	// are still being suppressed, so the 15 may come as one report at the
	// flood's instant, or as one then and the rest two seconds later:
	// never more reports, and never another total.
	reports := regexp.MustCompile(`"msg":"denials not written: over audit_deny_rate","suppressed":(\d+)`).FindAllStringSubmatch(out, -1)
	sum := 0
	for _, r := range reports {
		n, _ := strconv.Atoi(r[1])
		sum += n
	}
	if len(reports) == 0 || len(reports) > 2 || sum != 15 {
		t.Errorf("%d reports of %d suppressed denials, want one or two of 15 in all:\n%s", len(reports), sum, out)
	}
}

// The audit line lists the route's required scopes as a list, as the
// decision carries them space-separated.
func TestDecisionLogListsRequiredScopes(t *testing.T) {
	var buf logtest.Buffer
	l := telemetry.NewDecisionLog(telemetry.NewLogger(&buf, "json", slog.LevelInfo), telemetry.DecisionLogOptions{})
	d := authz.Decision{Reason: authz.ReasonInsufficientScope, PartnerID: "acme", Required: "orders:write  orders:read"}
	l.Decision(context.Background(), d)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, `"required_scopes":["orders:write","orders:read"]`) || !strings.Contains(out, `"partner_id":"acme"`) {
		t.Errorf("audit line does not list the required scopes:\n%s", out)
	}
}

// stuckWriter blocks every write until released.
type stuckWriter struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (w *stuckWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.entered) })
	<-w.release
	return len(p), nil
}

func TestDecisionLogNeverBlocks(t *testing.T) {
	w := &stuckWriter{entered: make(chan struct{}), release: make(chan struct{})}
	const queue = 4
	l := telemetry.NewDecisionLog(telemetry.NewLogger(w, "json", slog.LevelInfo), telemetry.DecisionLogOptions{Queue: queue})
	deny := authz.Decision{Reason: authz.ReasonWrongSecret}
	l.Decision(context.Background(), deny)
	<-w.entered // the writer is now stuck inside its first write

	const more = 100
	done := make(chan struct{})
	go func() {
		for range more {
			l.Decision(context.Background(), deny)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Decision blocked behind a stuck log writer")
	}
	if got := l.Dropped(); got != more-queue {
		t.Errorf("Dropped = %d, want %d (queue of %d full)", got, more-queue, queue)
	}
	close(w.release)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLoggerRedactsCredentialsAtEveryLevel(t *testing.T) {
	const secret = "pgk_live_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghijk"
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			log := telemetry.NewLogger(&buf, format, slog.LevelDebug)
			log.Debug("incoming", "authorization", "Bearer "+secret, "x-api-key", secret)
			log.Info("request", slog.Group("headers", slog.String("Authorization", secret), slog.String("x-api-key", secret)))
			log.Warn("token", "access_token", secret, "client_secret", secret, "api_key", secret)
			if strings.Contains(buf.String(), secret) || strings.Contains(buf.String(), secret[len(secret)-20:]) {
				t.Fatalf("a credential reached the log:\n%s", buf.String())
			}
			if n := strings.Count(buf.String(), "[redacted]"); n != 7 {
				t.Errorf("%d attributes redacted, want 7:\n%s", n, buf.String())
			}
		})
	}
}

func TestTracingFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantOn  bool
		wantErr string
	}{
		{"off-by-default", nil, false, ""},
		{"off-when-exporter-none", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, false, ""},
		{"on-with-endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true, ""},
		{"on-with-traces-endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, true, ""},
		{"on-with-exporter-otlp", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true, ""},
		{"grpc-protocol", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, true, ""},
		{"unknown-exporter", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, false, "OTEL_TRACES_EXPORTER"},
		{"unknown-protocol", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"}, false, "OTEL_EXPORTER_OTLP_PROTOCOL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v) // the exporters read the variables themselves
			}
			tr, err := telemetry.TracingFromEnv(context.Background(), func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Shutdown(context.Background())
			if tr.Enabled() != tc.wantOn || (len(tr.ServerOptions()) > 0) != tc.wantOn {
				t.Errorf("Enabled = %v with %d server options, want on = %v", tr.Enabled(), len(tr.ServerOptions()), tc.wantOn)
			}
		})
	}
}

// issuers is a fixed token-verifier status.
type issuers []jwtverify.IssuerStatus

func (s issuers) Status() []jwtverify.IssuerStatus { return s }

func TestMetricsJWKSAndDrops(t *testing.T) {
	refreshed := time.Unix(1_760_000_000, 0)
	var verifier telemetry.IssuerStatuser
	log := telemetry.NewDecisionLog(slog.New(slog.DiscardHandler), telemetry.DecisionLogOptions{})
	defer log.Close()
	m, err := telemetry.NewMetrics(telemetry.MetricsOptions{
		Issuers:  func() telemetry.IssuerStatuser { return verifier },
		AuditLog: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	get := func() string { t.Helper(); return scrape(t, m) }

	// No verifier yet (tokens not configured): no JWKS series, no error.
	if page := get(); strings.Contains(page, "partnergate_jwks") {
		t.Errorf("JWKS series without a verifier:\n%s", page)
	}
	verifier = issuers{
		{Issuer: "https://idp.example.com", Keys: 2, LastRefresh: refreshed},
		{Issuer: "https://down.example.com", LastError: io.ErrUnexpectedEOF},
	}
	m.Decision(context.Background(), authz.Decision{Reason: authz.ReasonInsufficientScope})
	for range 2 {
		m.Decision(context.Background(), authz.Decision{Reason: authz.ReasonAllowed})
		m.Decision(context.Background(), authz.Decision{Reason: "not_a_reason"})
	}
	page := get()
	for _, want := range []string{
		`partnergate_jwks_refresh_ok{issuer="https://idp.example.com"} 1`,
		`partnergate_jwks_refresh_ok{issuer="https://down.example.com"} 0`,
		`partnergate_jwks_keys{issuer="https://idp.example.com"} 2`,
		`partnergate_jwks_last_refresh_seconds{issuer="https://idp.example.com"} 1.76e+09`,
		`partnergate_jwks_last_refresh_seconds{issuer="https://down.example.com"} 0`,
		`partnergate_decisions_total{reason="insufficient_scope",result="deny"} 1`,
		`partnergate_decisions_total{reason="allowed",result="allow"} 2`,
		`partnergate_decisions_total{reason="unlisted",result="deny"} 2`,
		`partnergate_audit_dropped_total 0`,
	} {
		if !strings.Contains(page, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	if n := strings.Count(page, "partnergate_decisions_total{"); n != 3 {
		t.Errorf("%d decision series, want the 3 reasons counted", n)
	}
	if t.Failed() {
		t.Log(page)
	}
}

// BenchmarkObservers measures what each observer adds to an allowed
// Check: the decision counter, the audit log's sampling decision, and the
// span annotation with tracing off.
func BenchmarkObservers(b *testing.B) {
	m, err := telemetry.NewMetrics(telemetry.MetricsOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	log := telemetry.NewDecisionLog(slog.New(slog.DiscardHandler), telemetry.DecisionLogOptions{AllowSample: 0.01})
	defer log.Close()
	d := authz.Decision{Reason: authz.ReasonAllowed, PartnerID: "acme", CredentialID: "AbCdEfGhIjKl"}
	for _, o := range []struct {
		name string
		a    authz.Auditor
	}{
		{"metrics", m},
		{"audit-log-sampled-1pc", log},
		{"tracing-off", &telemetry.Tracing{}},
	} {
		b.Run(o.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					o.a.Decision(ctx, d)
				}
			})
		})
	}
}

// TestMetricsAdminAuthFailures checks the failed-authentication counter's
// exported name and its one, bounded attribute.
func TestMetricsAdminAuthFailures(t *testing.T) {
	m, err := telemetry.NewMetrics(telemetry.MetricsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	m.AdminAuthFailed("operator_token")
	m.AdminAuthFailed("operator_token")
	m.AdminAuthFailed("203.0.113.9") // not a method: counted as none
	page := scrape(t, m)
	for _, want := range []string{
		`partnergate_admin_auth_failures_total{method="operator_token"} 2`,
		`partnergate_admin_auth_failures_total{method="none"} 1`,
		`partnergate_admin_auth_failures_total{method="oidc"} 0`,
	} {
		if !strings.Contains(page, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(page, "203.0.113.9") {
		t.Error("a source address became a label")
	}
	if t.Failed() {
		t.Log(page)
	}
}

// TestMetricsKeysLeaked checks the leaked-key counter's exported name and
// its attributes: the program and the partner, bounded as the per-partner
// decisions are; never a key, never a made-up program.
func TestMetricsKeysLeaked(t *testing.T) {
	m, err := telemetry.NewMetrics(telemetry.MetricsOptions{MaxPartners: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	m.KeyLeaked("github", "acme")
	m.KeyLeaked("github", "acme")
	m.KeyLeaked("scan", "globex")
	m.KeyLeaked("acme-partner", "acme") // not a program: not counted, not a label
	m.KeyLeaked("gitlab", "")           // no partner: not counted
	m.KeyLeaked("gitlab", "initech")    // past the bound of 2 partners
	page := scrape(t, m)
	for _, want := range []string{
		`partnergate_keys_leaked_total{partner_id="acme",program="github"} 2`,
		`partnergate_keys_leaked_total{partner_id="globex",program="scan"} 1`,
		`partnergate_keys_leaked_total{partner_id="_other",program="gitlab"} 1`,
	} {
		if !strings.Contains(page, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(page, "acme-partner") || strings.Contains(page, `partner_id=""`) || strings.Contains(page, "initech") {
		t.Error("an unknown program, an empty partner or a partner past the bound became a label")
	}
	if t.Failed() {
		t.Log(page)
	}
}
