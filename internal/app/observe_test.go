// Test strategy: observability is checked from the outside, as an
// operator meets it, on the whole server (app.Start, real SQLite, real
// gRPC on loopback). Spans are read back from the SDK's in-memory exporter
// after real Checks, with trace context arriving each way Envoy can send
// it; metrics come from a real HTTP scrape of the Prometheus endpoint and
// are asserted by name, labels and value; last use is read back through
// the admin API once the recorder has flushed. Every issued secret is then
// searched for in everything the run produced — server, admin and audit
// logs, every span attribute, the metrics page and the files on disk — and
// must appear nowhere.
package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/partnergate/partnergate/internal/config"
	"github.com/partnergate/partnergate/internal/telemetry"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// withTracing makes the next server record spans into an in-memory
// exporter. Tests using it must not run in parallel.
func withTracing(t *testing.T) *tracetest.InMemoryExporter {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	old := tracingFromEnv
	// No shutdown hook: the exporter's Shutdown would forget the spans.
	tracingFromEnv = func(context.Context) (*telemetry.Tracing, error) { return telemetry.NewTracing(tp, nil), nil }
	t.Cleanup(func() { tracingFromEnv = old })
	return exp
}

// checkRequest is a Check for GET /v1/orders requiring orders:read.
func checkRequest(reqID string, hdrs map[string]string) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "198.51.100.9"},
		}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: reqID, Method: "GET", Path: "/v1/orders", Headers: hdrs,
		}},
		ContextExtensions: map[string]string{"required_scopes": "orders:read"},
	}}
}

// issueKey creates partner acme (once) and issues it a key.
func issueKey(t *testing.T, h *harness) *adminv1.IssueKeyResponse {
	t.Helper()
	ctx := adminCtx()
	if _, err := h.admin.GetPartner(ctx, &adminv1.GetPartnerRequest{Id: "acme"}); err != nil {
		if _, err := h.admin.CreatePartner(ctx, &adminv1.CreatePartnerRequest{Id: "acme", Tier: "gold", Scopes: []string{"orders:read"}}); err != nil {
			t.Fatal(err)
		}
	}
	issued, err := h.admin.IssueKey(ctx, &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true})
	if err != nil {
		t.Fatal(err)
	}
	return issued
}

// spansNamed polls exp until it holds n spans named name, and returns them.
func spansNamed(t *testing.T, exp *tracetest.InMemoryExporter, name string, n int) tracetest.SpanStubs {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var out tracetest.SpanStubs
		for _, s := range exp.GetSpans() {
			if s.Name == name {
				out = append(out, s)
			}
		}
		if len(out) >= n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d spans named %q after 5s, want %d; have %v", len(out), name, n, exp.GetSpans().Snapshots())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func attrs(s tracetest.SpanStub) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}

func TestCheckSpans(t *testing.T) {
	exp := withTracing(t)
	h := start(t)
	issued := issueKey(t, h)
	keyID := issued.GetKey().GetId()

	httpTrace, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	httpParent, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	envoyTrace, _ := trace.TraceIDFromHex("0af7651916cd43dd8448eb211c80319c")
	envoyParent, _ := trace.SpanIDFromHex("b7ad6b7169203331")
	traceparent := func(tr trace.TraceID, sp trace.SpanID) string { return "00-" + tr.String() + "-" + sp.String() + "-01" }

	tests := []struct {
		name       string
		key        string
		metadata   string // traceparent in gRPC metadata, as a tracing Envoy sends it
		wantTrace  trace.TraceID
		wantRemote trace.SpanID // the Check span's parent when it continues the HTTP request's trace
		wantAttrs  map[string]string
		wantAbsent []string
	}{
		{
			name: "allow-continues-the-http-request-trace", key: issued.GetSecret(),
			wantTrace: httpTrace, wantRemote: httpParent,
			wantAttrs: map[string]string{
				telemetry.AttrDecision: "allow", telemetry.AttrReason: "allowed", telemetry.AttrPartnerID: "acme",
				telemetry.AttrCredentialID: keyID, telemetry.AttrRequestID: "allow-continues-the-http-request-trace",
			},
		},
		{
			name: "deny-under-envoy-ext-authz-span", key: "not-a-key", metadata: traceparent(envoyTrace, envoyParent),
			wantTrace: envoyTrace,
			wantAttrs: map[string]string{
				telemetry.AttrDecision: "deny", telemetry.AttrReason: "malformed_credential",
				telemetry.AttrRequestID: "deny-under-envoy-ext-authz-span",
			},
			wantAbsent: []string{telemetry.AttrPartnerID, telemetry.AttrCredentialID},
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.metadata != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "traceparent", tc.metadata)
			}
			req := checkRequest(tc.name, map[string]string{"x-api-key": tc.key, "traceparent": traceparent(httpTrace, httpParent)})
			if _, err := h.check.Check(ctx, req); err != nil {
				t.Fatal(err)
			}
			rpc := spansNamed(t, exp, "envoy.service.auth.v3.Authorization/Check", i+1)[i]
			check := spansNamed(t, exp, telemetry.CheckSpanName, i+1)[i]

			if got := check.SpanContext.TraceID(); got != tc.wantTrace {
				t.Errorf("Check span trace = %s, want %s", got, tc.wantTrace)
			}
			if tc.wantRemote.IsValid() {
				if check.Parent.SpanID() != tc.wantRemote || !check.Parent.IsRemote() {
					t.Errorf("Check span parent = %s (remote %v), want the request's span %s", check.Parent.SpanID(), check.Parent.IsRemote(), tc.wantRemote)
				}
				if len(check.Links) != 1 || check.Links[0].SpanContext.SpanID() != rpc.SpanContext.SpanID() {
					t.Errorf("Check span links = %v, want the RPC span %s", check.Links, rpc.SpanContext.SpanID())
				}
			} else {
				if rpc.Parent.SpanID() != envoyParent || rpc.SpanContext.TraceID() != envoyTrace {
					t.Errorf("RPC span parent = %s in %s, want Envoy's %s in %s", rpc.Parent.SpanID(), rpc.SpanContext.TraceID(), envoyParent, envoyTrace)
				}
				if check.Parent.SpanID() != rpc.SpanContext.SpanID() {
					t.Errorf("Check span parent = %s, want the RPC span %s", check.Parent.SpanID(), rpc.SpanContext.SpanID())
				}
			}
			got := attrs(check)
			for k, v := range tc.wantAttrs {
				if got[k] != v {
					t.Errorf("attribute %s = %q, want %q", k, got[k], v)
				}
			}
			for _, k := range tc.wantAbsent {
				if _, ok := got[k]; ok {
					t.Errorf("attribute %s = %q, want absent", k, got[k])
				}
			}
		})
	}
	for _, s := range exp.GetSpans() {
		for k, v := range attrs(s) {
			if strings.Contains(v, issued.GetSecret()) || strings.Contains(v, secretPart(issued.GetSecret())) {
				t.Errorf("span %q attribute %s holds the secret", s.Name, k)
			}
		}
	}
}

// secretPart is the random part of a key, past its prefix and id.
func secretPart(secret string) string {
	if len(secret) < 43 {
		return secret
	}
	return secret[len(secret)-43:]
}

func TestTracingOffAddsNoSpanMachinery(t *testing.T) {
	old := tracingFromEnv
	tracingFromEnv = func(ctx context.Context) (*telemetry.Tracing, error) {
		return telemetry.TracingFromEnv(ctx, func(string) string { return "" })
	}
	t.Cleanup(func() { tracingFromEnv = old })
	tr, err := tracingFromEnv(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tr.Enabled() || len(tr.ServerOptions()) != 0 {
		t.Fatalf("with no OTEL_* variables tracing is on (%v) or adds server options (%d)", tr.Enabled(), len(tr.ServerOptions()))
	}
}

// scrape fetches the metrics page.
func scrape(t *testing.T, h *harness) string {
	t.Helper()
	resp, err := http.Get("http://" + h.srv.MetricsAddr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	return string(body)
}

// sample returns the value of the series name{labels}, labels written as
// Prometheus prints them (sorted), or fails.
func sample(t *testing.T, page, series string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no series %s on the metrics page:\n%s", series, page)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMetricsScrape(t *testing.T) {
	h := start(t)
	issued := issueKey(t, h)
	unknown := issueKey(t, h)
	if _, err := h.admin.RevokeKey(adminCtx(), &adminv1.RevokeKeyRequest{KeyId: unknown.GetKey().GetId(), Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		h.wantCheck(t, "allowed", issued.GetSecret(), codes.OK)
	}
	for range 2 {
		h.wantCheck(t, "malformed", "garbage", codes.Unauthenticated)
	}
	h.wantCheck(t, "revoked", unknown.GetSecret(), codes.Unauthenticated)

	page := scrape(t, h)
	for _, tc := range []struct {
		series string
		want   float64
	}{
		{`partnergate_decisions_total{reason="allowed",result="allow"}`, 3},
		{`partnergate_decisions_total{reason="malformed_credential",result="deny"}`, 2},
		{`partnergate_decisions_total{reason="revoked_credential",result="deny"}`, 1},
		{`partnergate_partner_decisions_total{partner_id="acme",result="allow"}`, 3},
		{`partnergate_partner_decisions_total{partner_id="acme",result="deny"}`, 1},
		{`partnergate_check_duration_seconds_count{result="allow"}`, 3},
		{`partnergate_check_duration_seconds_count{result="deny"}`, 3},
		{`partnergate_cache_lookups_total{outcome="hit"}`, 4},
		{`partnergate_cache_ready`, 1},
		{`partnergate_store_up`, 1},
		{`partnergate_feed_version`, float64(h.srv.Cache.Version())},
		{`partnergate_audit_dropped_total`, 0},
		{`partnergate_audit_warn_suppressed_total`, 0},
	} {
		t.Run(strings.NewReplacer("{", "-", "}", "", `"`, "", ",", "-", "=", "-").Replace(tc.series), func(t *testing.T) {
			if got := sample(t, page, tc.series); got != tc.want {
				t.Errorf("%s = %v, want %v", tc.series, got, tc.want)
			}
		})
	}
	if v := sample(t, page, `partnergate_cache_keys`); v < 2 {
		t.Errorf("partnergate_cache_keys = %v, want at least the 2 issued keys", v)
	}
	if v := sample(t, page, `partnergate_feed_staleness_seconds`); v < 0 || v > 60 {
		t.Errorf("partnergate_feed_staleness_seconds = %v, want a fresh feed", v)
	}
	// Every change this replica applied (the partner, two keys, the
	// revocation) reports its propagation, each within a few seconds of
	// its commit: from the store's clock to the cache's, here one clock.
	n := sample(t, page, `partnergate_feed_propagation_seconds_count`)
	sum := sample(t, page, `partnergate_feed_propagation_seconds_sum`)
	maxProp := sample(t, page, `partnergate_feed_propagation_max_seconds`)
	if n < 4 || sum < 0 || sum > 5*n || maxProp < 0 || maxProp > 5 || maxProp*n < sum {
		t.Errorf("feed propagation: %v changes, sum %vs, max %vs; want at least 4, each within 5s", n, sum, maxProp)
	}
	// Bounded labels: partner_id labels partnergate_partner_decisions_total
	// and nothing else; no series names a key.
	for line := range strings.Lines(page) {
		if strings.Contains(line, "acme") || strings.Contains(line, "partner_id") {
			if name, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(line, "# HELP "), "# TYPE "), "{"); !strings.HasPrefix(name, "partnergate_partner_decisions_total") {
				t.Errorf("a metric other than partnergate_partner_decisions_total names a partner: %q", line)
			}
		}
		for _, key := range []string{issued.GetKey().GetId(), unknown.GetKey().GetId()} {
			if strings.Contains(line, key) {
				t.Errorf("metrics page names key %s: %q", key, line)
			}
		}
	}
	// Per partner: the revoked key's denial counts for acme, whose key it
	// validly is; the garbage keys named no partner and count nowhere.
	if n := strings.Count(page, "\npartnergate_partner_decisions_total{"); n != 2 {
		t.Errorf("%d per-partner series, want acme's allow and deny", n)
	}
	if strings.Contains(page, `partner_id=""`) {
		t.Error("a decision with no partner has a per-partner series")
	}
}

// FlushUses writes the uses recorded so far before it returns, long
// before the next periodic flush.
func TestFlushUsesWritesThemNow(t *testing.T) {
	old := lastUsedFlush
	lastUsedFlush = time.Hour
	t.Cleanup(func() { lastUsedFlush = old })
	h := start(t)
	issued := issueKey(t, h)
	h.wantCheck(t, "allowed", issued.GetSecret(), codes.OK)
	if err := h.srv.FlushUses(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp, err := h.admin.ListKeys(adminCtx(), &adminv1.ListKeysRequest{PartnerId: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range resp.GetKeys() {
		if k.GetId() == issued.GetKey().GetId() && k.GetLastUsedAt() == nil {
			t.Fatal("the key's use is not in the store after FlushUses")
		}
	}
}

func TestLastUsedRecordedAsynchronously(t *testing.T) {
	old := lastUsedFlush
	lastUsedFlush = 20 * time.Millisecond
	t.Cleanup(func() { lastUsedFlush = old })
	h := start(t)
	issued := issueKey(t, h)
	idle := issueKey(t, h)
	before := time.Now().Add(-time.Second)
	h.wantCheck(t, "allowed", issued.GetSecret(), codes.OK)

	deadline := time.Now().Add(5 * time.Second)
	var got *adminv1.Key
	for {
		resp, err := h.admin.ListKeys(adminCtx(), &adminv1.ListKeysRequest{PartnerId: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range resp.GetKeys() {
			switch k.GetId() {
			case issued.GetKey().GetId():
				got = k
			case idle.GetKey().GetId():
				if k.GetLastUsedAt() != nil {
					t.Fatalf("an unused key shows a last use: %v", k)
				}
			}
		}
		if got.GetLastUsedAt() != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got.GetLastUsedAt() == nil || got.GetLastUsedAt().AsTime().Before(before) || got.GetLastUsedFrom() != "198.51.100.9" {
		t.Fatalf("last use = %v from %q, want a time after %v from 198.51.100.9", got.GetLastUsedAt(), got.GetLastUsedFrom(), before)
	}
	// A touch is no admin write: no audit event for it.
	evs, err := h.admin.ListAudit(adminCtx(), &adminv1.ListAuditRequest{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs.GetEvents() {
		if !strings.HasPrefix(ev.GetAction(), "partner.") && !strings.HasPrefix(ev.GetAction(), "key.issue") {
			t.Errorf("unexpected audit event %s", ev.GetAction())
		}
	}
}

// TestFullFlowLeaksNoSecret runs the credential lifecycle with every
// observer on — tracing, every allow audited, metrics — and searches all
// of it for the secrets issued.
func TestFullFlowLeaksNoSecret(t *testing.T) {
	exp := withTracing(t)
	h := startReady(t, func(c *config.Config) { c.AuditAllowSample = 1 })
	ctx := adminCtx()
	var secrets []string

	first := issueKey(t, h)
	second := issueKey(t, h)
	secrets = append(secrets, first.GetSecret(), second.GetSecret())
	h.wantCheck(t, "allowed", first.GetSecret(), codes.OK)
	// The same secret as a bearer token, and with a corrupted body.
	if resp, err := h.check.Check(context.Background(), checkRequest("bearer", map[string]string{"authorization": "Bearer " + second.GetSecret()})); err != nil || resp.GetStatus().GetCode() != 0 {
		t.Fatalf("bearer Check: %v %v", resp.GetStatus(), err)
	}
	wrong := []byte(first.GetSecret())
	wrong[len(wrong)-10] ^= 0x01
	h.wantCheck(t, "typo", string(wrong), codes.Unauthenticated)

	// A key where it does not belong: in the query, the fragment, the
	// path, percent-encoded, in other headers and the user agent. Each is
	// denied, and logged without it.
	misplaced := issueKey(t, h)
	key := misplaced.GetSecret()
	secrets = append(secrets, key)
	encoded := strings.Replace(key, "_", "%5F", 2)
	for _, m := range []struct{ name, path string }{
		{"query", "/v1/orders?api_key=" + key},
		{"query-name", "/v1/orders?" + key},
		{"fragment", "/v1/orders#" + key},
		{"path", "/v1/keys/" + key + "/orders"},
		{"path-encoded", "/v1/keys/" + encoded},
		{"matrix", "/v1/orders;key=" + key},
	} {
		req := checkRequest("", map[string]string{
			"user-agent": "curl/8 " + key, "x-forwarded-key": key, "cookie": "k=" + key, "referer": "https://x.example/?k=" + key,
			"x-request-id": key,
		})
		req.Attributes.Request.Http.Path = m.path
		if resp, err := h.check.Check(context.Background(), req); err != nil || resp.GetStatus().GetCode() == 0 {
			t.Fatalf("%s: Check = %v, %v; want a denial", m.name, resp.GetStatus(), err)
		}
	}

	rotated, err := h.admin.RotateKey(ctx, &adminv1.RotateKeyRequest{KeyId: first.GetKey().GetId()})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, rotated.GetSecret())
	h.wantCheck(t, "rotated", rotated.GetSecret(), codes.OK)
	if _, err := h.admin.RevokeKey(ctx, &adminv1.RevokeKeyRequest{KeyId: second.GetKey().GetId(), Reason: "leaked"}); err != nil {
		t.Fatal(err)
	}
	h.wantCheck(t, "revoked", second.GetSecret(), codes.Unauthenticated)

	page := scrape(t, h)
	spansNamed(t, exp, telemetry.CheckSpanName, 5)
	var spanText strings.Builder
	for _, s := range exp.GetSpans() {
		b, _ := json.Marshal(attrs(s))
		fmt.Fprintf(&spanText, "%s %s\n", s.Name, b)
	}
	if err := h.stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	// The audit log is there to search: each decision, with its reason,
	// request id and client address; revoked-key use at warning level.
	logs := h.logs.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`"level":"INFO","msg":"decision".*"allowed":true,"reason":"allowed","request_id":"req-1","method":"GET","path":"/v1/orders","client":"198.51.100.9".*"credential_id":"` + first.GetKey().GetId() + `"`),
		regexp.MustCompile(`"level":"WARN","msg":"decision".*"reason":"revoked_credential".*"partner_id":"acme","credential_id":"` + second.GetKey().GetId() + `"`),
		regexp.MustCompile(`"reason":"malformed_credential","request_id":"req-1"`),
		regexp.MustCompile(`"trace_id":"[0-9a-f]{32}"`),
	} {
		if !want.MatchString(logs) {
			t.Errorf("logs lack %s", want)
		}
	}
	for name, blob := range map[string]string{"spans": spanText.String(), "metrics": page} {
		for _, s := range secrets {
			if strings.Contains(blob, s) || strings.Contains(blob, secretPart(s)) {
				t.Errorf("%s contain an issued secret", name)
			}
		}
	}
	assertNoSecrets(t, h, secrets)
}
