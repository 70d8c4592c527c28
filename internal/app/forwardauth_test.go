package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/trace"

	"github.com/partnergate/partnergate/internal/config"
	"github.com/partnergate/partnergate/internal/extauthz"
	"github.com/partnergate/partnergate/internal/forwardauth"
	"github.com/partnergate/partnergate/internal/telemetry"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// answer is what a partner, or the proxy in front of the upstream, sees
// of a decision, whichever transport carried it.
type answer struct {
	Status    int
	Body      string
	Challenge string
	// Identity is the x-partner-* headers an allow sets, lower-case, and
	// Remove the request headers it removes.
	Identity map[string]string
	Remove   []string
}

// TestHTTPAnswersAsCheckDoes sends the same requests to the real server
// over gRPC Check, over HTTP as Envoy's http_service asks, and over HTTP
// as nginx asks GET /authorize, and requires the same answer from all
// three: status, JSON body, WWW-Authenticate, identity headers and
// removals (but for the one difference by design: GET /authorize answers
// a 400 as 403, since nginx turns anything else into a 500).
func TestHTTPAnswersAsCheckDoes(t *testing.T) {
	h := startReady(t, func(c *config.Config) { c.HTTP.Listen = "127.0.0.1:0" })
	ctx := adminCtx()
	if _, err := h.admin.CreatePartner(ctx, &adminv1.CreatePartnerRequest{Id: "acme", Tier: "gold", Scopes: []string{"orders:read", "reports:read"}}); err != nil {
		t.Fatal(err)
	}
	k, err := h.admin.IssueKey(ctx, &adminv1.IssueKeyRequest{PartnerId: "acme", Scopes: []string{"orders:read"}, Name: "http"})
	if err != nil {
		t.Fatal(err)
	}
	key := k.GetSecret()
	base := "http://" + h.srv.HTTPAddr.String()

	tests := []struct {
		name, method, path, scopes string
		headers                    map[string]string
	}{
		{"allow", "GET", "/v1/orders", "orders:read", map[string]string{"x-api-key": key}},
		{"allow-bearer-spoofed", "GET", "/v1/orders?page=2", "orders:read", map[string]string{"authorization": "Bearer " + key, "x-partner-id": "acme", "x-partner-role": "admin"}},
		{"missing", "GET", "/v1/orders", "orders:read", nil},
		{"missing-no-request-id", "GET", "/v1/orders", "orders:read", map[string]string{"x-request-id": ""}},
		{"malformed", "GET", "/v1/orders", "orders:read", map[string]string{"x-api-key": "pk_nope"}},
		{"insufficient-scope", "GET", "/v1/reports", "reports:read", map[string]string{"x-api-key": key}},
		{"tenant-header", "GET", "/v1/orders", "orders:read", map[string]string{"x-api-key": key, "x-partner-id": "globex"}},
		{"tenant-query", "GET", "/v1/orders?partner_id=globex", "orders:read", map[string]string{"x-api-key": key}},
		{"route-not-allowed", "GET", "/v1/orders", "", map[string]string{"x-api-key": key}},
		{"bad-path", "GET", "/v1/%2e%2e/admin", "orders:read", map[string]string{"x-api-key": key}},
		{"post", "POST", "/v1/orders", "orders:read", map[string]string{"x-api-key": key}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdrs := map[string]string{"x-request-id": "req-7"}
			for k, v := range tt.headers {
				hdrs[k] = v
				if v == "" {
					delete(hdrs, k)
				}
			}
			grpcAnswer := h.checkAnswer(t, tt.method, tt.path, tt.scopes, hdrs)

			envoy := http.Header{forwardauth.HeaderRequiredScopes: {tt.scopes}}
			for k, v := range hdrs {
				envoy.Set(k, v)
			}
			envoyAnswer := httpAnswer(t, tt.method, base+forwardauth.EnvoyPrefix+tt.path, envoy)
			if diff := cmp.Diff(grpcAnswer, envoyAnswer); diff != "" {
				t.Errorf("Envoy http_service answers differently from Check (-check +http):\n%s", diff)
			}

			nginx := envoy.Clone()
			nginx.Set("X-Original-Uri", tt.path)
			nginx.Set("X-Original-Method", tt.method)
			nginxAnswer := httpAnswer(t, "GET", base+forwardauth.AuthorizePath, nginx)
			want := grpcAnswer
			if want.Status == http.StatusBadRequest {
				want.Status = http.StatusForbidden
			}
			want.Remove = nil // the proxy's config removes them: see internal/proxies
			if diff := cmp.Diff(want, nginxAnswer); diff != "" {
				t.Errorf("GET /authorize answers differently from Check (-check +http):\n%s", diff)
			}
		})
	}
}

// checkAnswer asks Check, as Envoy does from the loopback proxy.
func (h *harness) checkAnswer(t *testing.T, method, path, scopes string, headers map[string]string) answer {
	t.Helper()
	resp, err := h.check.Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "127.0.0.1"},
		}}},
		Request:           &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Method: method, Path: path, Headers: headers}},
		ContextExtensions: map[string]string{extauthz.ContextKeyRequiredScopes: scopes},
	}})
	if err != nil {
		t.Fatal(err)
	}
	a := answer{Status: http.StatusOK}
	if ok := resp.GetOkResponse(); ok != nil {
		a.Identity = map[string]string{}
		for _, hv := range ok.GetHeaders() {
			a.Identity[hv.GetHeader().GetKey()] = hv.GetHeader().GetValue()
		}
		a.Remove = slices.Sorted(slices.Values(ok.GetHeadersToRemove()))
		return a
	}
	d := resp.GetDeniedResponse()
	a.Status, a.Body = int(d.GetStatus().GetCode()), d.GetBody()
	for _, hv := range d.GetHeaders() {
		if hv.GetHeader().GetKey() == "www-authenticate" {
			a.Challenge = hv.GetHeader().GetValue()
		}
	}
	return a
}

// httpAnswer asks the HTTP server.
func httpAnswer(t *testing.T, method, url string, h http.Header) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{Status: resp.StatusCode, Body: string(body), Challenge: resp.Header.Get("Www-Authenticate")}
	if resp.StatusCode == http.StatusOK {
		a.Body = ""
		a.Identity = map[string]string{}
		for k, vs := range resp.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-partner-") && vs[0] != "" {
				a.Identity[strings.ToLower(k)] = vs[0]
			}
		}
		if rm := resp.Header.Get(forwardauth.HeaderEnvoyRemove); rm != "" {
			a.Remove = strings.Split(rm, ",")
		}
	}
	return a
}

// TestHTTPServerIsReadyWithCheckAndDrains checks the HTTP server's
// readiness path: 503 until the cache is loaded, 200 then, 503 again
// once shutdown starts (while requests are still served, for
// shutdown_delay), and the port closed once the server has stopped.
func TestHTTPServerIsReadyWithCheckAndDrains(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.ShutdownDelay = 500 * time.Millisecond
	h := launch(t, cfg, 10*time.Second)
	ready := "http://" + h.srv.HTTPAddr.String() + forwardauth.ReadyPath
	if code := get(t, ready); code != http.StatusOK {
		t.Fatalf("/readyz once ready: %d", code)
	}
	done := make(chan error, 1)
	go func() { done <- h.stop() }()
	deadline := time.Now().Add(5 * time.Second)
	for get(t, ready) != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("/readyz still 200 after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(ready); err == nil {
		t.Error("the HTTP port still answers after the server stopped")
	}
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		var nerr interface{ Timeout() bool }
		if errors.As(err, &nerr) {
			t.Fatal(err)
		}
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestHTTPListenOffByDefault checks that no HTTP server is started
// without http.listen.
func TestHTTPListenOffByDefault(t *testing.T) {
	h := start(t)
	if h.srv.HTTPAddr != nil {
		t.Errorf("an HTTP server listens on %s without http.listen", h.srv.HTTPAddr)
	}
}

// TestStartRefusesMalformedTrustedProxies checks that Start, which does
// not validate, still refuses a trusted_proxies entry it cannot parse,
// naming it, rather than trusting something else.
func TestStartRefusesMalformedTrustedProxies(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.HTTP.TrustedProxies = []string{"10.0.0.0/33"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := Start(ctx, &cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err == nil {
		cancel()
		_ = srv.Wait()
		t.Fatal("Start accepted a malformed trusted_proxies entry")
	}
	if !strings.Contains(err.Error(), "http.trusted_proxies[0]") {
		t.Errorf("error %q does not name the entry", err)
	}
}

// TestHTTPDecisionsObservedAsChecks checks that a decision over HTTP is
// observed as a Check is: counted in the same metrics, audited once, and
// traced as a partnergate.Check span continuing the trace of the request
// the proxy authorizes (its traceparent), with the decision's attributes.
func TestHTTPDecisionsObservedAsChecks(t *testing.T) {
	exp := withTracing(t)
	h := startReady(t, func(c *config.Config) { c.HTTP.Listen = "127.0.0.1:0"; c.AuditAllowSample = 1 })
	issued := issueKey(t, h)
	url := "http://" + h.srv.HTTPAddr.String() + forwardauth.AuthorizePath
	traceID, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	parent, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ask := func(key string) int {
		hdr := http.Header{"X-Original-Uri": {"/v1/orders"}, "X-Original-Method": {"GET"}, "X-Api-Key": {key},
			forwardauth.HeaderRequiredScopes: {"orders:read"}, "X-Request-Id": {"http-req-1"},
			"Traceparent": {"00-" + traceID.String() + "-" + parent.String() + "-01"}}
		return httpAnswer(t, "GET", url, hdr).Status
	}
	if got := ask(issued.GetSecret()); got != http.StatusOK {
		t.Fatalf("allow: %d", got)
	}
	if got := ask("garbage"); got != http.StatusUnauthorized {
		t.Fatalf("deny: %d", got)
	}

	spans := spansNamed(t, exp, telemetry.CheckSpanName, 2)
	for _, s := range spans {
		if s.SpanContext.TraceID() != traceID || s.Parent.SpanID() != parent {
			t.Errorf("span %s is in trace %s under %s, want the request's trace %s under %s", s.Name, s.SpanContext.TraceID(), s.Parent.SpanID(), traceID, parent)
		}
	}
	if a := attrs(spans[0]); a[telemetry.AttrDecision] != "allow" || a[telemetry.AttrCredentialID] != issued.GetKey().GetId() || a[telemetry.AttrRequestID] != "http-req-1" {
		t.Errorf("allow span attributes %v", a)
	}

	page := scrape(t, h)
	for series, want := range map[string]float64{
		`partnergate_check_duration_seconds_count{result="allow"}`:                 1,
		`partnergate_check_duration_seconds_count{result="deny"}`:                  1,
		`partnergate_decisions_total{reason="allowed",result="allow"}`:             1,
		`partnergate_decisions_total{reason="malformed_credential",result="deny"}`: 1,
	} {
		if got := sample(t, page, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	// Audited once each, by the decision, with the forwarded request.
	// Audit lines are written in the background: wait for both.
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(h.logs.String(), `"path":"/v1/orders"`) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	logs := h.logs.String()
	if n := strings.Count(logs, `"path":"/v1/orders"`); n != 2 {
		t.Errorf("%d audit lines for /v1/orders, want 2 (one per decision)", n)
	}
	if strings.Contains(logs, issued.GetSecret()) {
		t.Error("the logs hold the secret")
	}
}
