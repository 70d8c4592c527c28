package k8s

// Test strategy: the alerts, recording rules and Grafana dashboard are
// files (chart/files), which the chart renders as they are and operators
// can load by hand. Every PromQL expression in them is parsed with
// Prometheus's own parser, every alert annotation with the template
// syntax Prometheus expands, and every metric they select is looked up in
// a scrape of a real partnergate server (the built binary, on loopback,
// with a SQLite store and a JWKS endpoint of the test's own) after real
// Checks: an API key allowed and denied, and a signed token denied. A
// metric renamed in the code, or misspelt in a rule, fails here. Label
// values the rules match on (reason, result) must be ones the code emits.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/golang-jwt/jwt/v5"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/partnergate/partnergate/authz"
	"github.com/partnergate/partnergate/internal/logtest"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

var (
	rulesFile     = filepath.Join(chartDir, "files", "prometheus-rules.yaml")
	dashboardFile = filepath.Join(chartDir, "files", "grafana-dashboard.json")
)

// loadRules decodes the rules file strictly as the Prometheus Operator's
// PrometheusRule spec (the rule-file format, field for field).
func loadRules(t *testing.T) monitoringv1.PrometheusRuleSpec {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSONStrict(b)
	if err != nil {
		t.Fatal(err)
	}
	var spec monitoringv1.PrometheusRuleSpec
	strictErrs, err := sigsjson.UnmarshalStrict(j, &spec, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil || len(strictErrs) > 0 {
		t.Fatalf("%s: %v %v", rulesFile, err, strictErrs)
	}
	if len(spec.Groups) == 0 {
		t.Fatalf("%s has no groups", rulesFile)
	}
	return spec
}

// query is one PromQL expression and where it came from.
type query struct{ where, expr string }

// grafanaVars are the values Grafana puts in for its built-in variables
// before a query reaches Prometheus.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// dashboardQueries returns every target expression of the dashboard, with
// Grafana's variables put in.
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	}
	type panel struct {
		ID      int      `json:"id"`
		Title   string   `json:"title"`
		Type    string   `json:"type"`
		Targets []target `json:"targets"`
		Panels  []panel  `json:"panels"`
	}
	var d struct {
		UID        string  `json:"uid"`
		Title      string  `json:"title"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name string `json:"name"`
				Type string `json:"type"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("%s needs a uid and a title", dashboardFile)
	}
	if !slices.ContainsFunc(d.Templating.List, func(v struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}) bool {
		return v.Name == "datasource" && v.Type == "datasource"
	}) {
		t.Errorf("%s has no datasource variable: panels name ${datasource}", dashboardFile)
	}
	var out []query
	ids := map[int]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d is used twice", p.ID)
			}
			ids[p.ID] = true
			if p.Type == "timeseries" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				out = append(out, query{fmt.Sprintf("panel %q %s", p.Title, tg.RefID), grafanaVars.Replace(tg.Expr)})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	if len(out) == 0 {
		t.Fatalf("%s has no queries", dashboardFile)
	}
	return out
}

// ruleQueries returns every rule expression, and the recorded names.
func ruleQueries(t *testing.T) (qs []query, recorded map[string]bool) {
	t.Helper()
	recorded = map[string]bool{}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			name := r.Alert
			if r.Record != "" {
				name = r.Record
				recorded[r.Record] = true
			}
			qs = append(qs, query{g.Name + "/" + name, r.Expr.String()})
		}
	}
	return qs, recorded
}

var promql = parser.NewParser(parser.Options{})

func TestMonitoringQueriesParse(t *testing.T) {
	rules, _ := ruleQueries(t)
	for _, q := range append(rules, dashboardQueries(t)...) {
		if _, err := promql.ParseExpr(q.expr); err != nil {
			t.Errorf("%s: %v\n%s", q.where, err, q.expr)
		}
	}
}

// TestMonitoringParserRefusesMistakes proves the parse can fail.
func TestMonitoringParserRefusesMistakes(t *testing.T) {
	for _, tc := range []struct{ name, expr string }{
		{"unclosed-paren", `sum(rate(partnergate_decisions_total[5m])`},
		{"bad-range", `rate(partnergate_decisions_total[5 m])`},
		{"grafana-variable-left-in", `rate(partnergate_decisions_total[$__rate_interval])`},
		{"unknown-function", `rates(partnergate_decisions_total[5m])`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := promql.ParseExpr(tc.expr); err == nil {
				t.Errorf("parsed %s", tc.expr)
			}
		})
	}
}

// prometheusTemplate is how Prometheus prepares an alert annotation for
// expansion: these variables are defined, and these functions exist.
const prometheusTemplateDefs = `{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}`

var prometheusTemplateFuncs = template.FuncMap{}

func init() {
	for _, f := range []string{"humanize", "humanize1024", "humanizeDuration", "humanizePercentage", "humanizeTimestamp", "query", "first", "label", "value", "strvalue", "title", "toUpper", "toLower", "safeHtml", "match", "reReplaceAll", "args", "externalURL", "pathPrefix", "tableLink", "graphLink", "sortByLabel", "stripPort", "stripDomain", "toTime", "toDuration", "parseDuration", "urlQueryEscape", "now"} {
		prometheusTemplateFuncs[f] = func(...any) any { return nil }
	}
}

func TestAlertRules(t *testing.T) {
	spec := loadRules(t)
	alerts := map[string]bool{}
	for _, g := range spec.Groups {
		for _, r := range g.Rules {
			if (r.Alert == "") == (r.Record == "") {
				t.Errorf("%s: a rule is an alert or a record, exactly one", g.Name)
				continue
			}
			if r.Record != "" {
				if !regexp.MustCompile(`^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$`).MatchString(r.Record) {
					t.Errorf("record %s: name it level:metric:operations", r.Record)
				}
				continue
			}
			if alerts[r.Alert] {
				t.Errorf("alert %s is defined twice", r.Alert)
			}
			alerts[r.Alert] = true
			if r.For != nil {
				if _, err := model.ParseDuration(string(*r.For)); err != nil {
					t.Errorf("alert %s: for: %v", r.Alert, err)
				}
			}
			if sev := r.Labels["severity"]; sev != "warning" && sev != "critical" {
				t.Errorf("alert %s: severity %q, want warning or critical", r.Alert, sev)
			}
			if r.Annotations["summary"] == "" {
				t.Errorf("alert %s has no summary", r.Alert)
			}
			for k, v := range r.Annotations {
				if _, err := template.New(k).Funcs(prometheusTemplateFuncs).Parse(prometheusTemplateDefs + v); err != nil {
					t.Errorf("alert %s annotation %s: %v", r.Alert, k, err)
				}
			}
		}
	}
	// The issue's list, less what partnergate does not have yet (a
	// leaked-key feature).
	for _, want := range []string{"PartnergateDenyRateSpike", "PartnergatePartnerDenySpike", "PartnergateFeedStale", "PartnergateNotReady", "PartnergateJWKSRefreshFailing", "PartnergateCheckSlow", "PartnergateAdminGuessing"} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}
}

// TestDashboardPerPartnerPanels: the dashboard shows per-partner traffic
// and denials from the per-partner counter, busiest first and bounded in
// what it draws (topk), and no longer says per-partner is unavailable.
func TestDashboardPerPartnerPanels(t *testing.T) {
	var found []string
	for _, q := range dashboardQueries(t) {
		if !strings.Contains(q.expr, "partnergate_partner_decisions_total") {
			continue
		}
		found = append(found, q.where)
		e, err := promql.ParseExpr(q.expr)
		if err != nil {
			t.Fatalf("%s: %v", q.where, err)
		}
		if agg, ok := e.(*parser.AggregateExpr); !ok || agg.Op != parser.TOPK {
			t.Errorf("%s: %s is not a topk", q.where, q.expr)
		}
	}
	for _, want := range []string{`panel "Per-partner traffic" A`, `panel "Per-partner denials" A`} {
		if !slices.Contains(found, want) {
			t.Errorf("no %s on partnergate_partner_decisions_total; have %v", want, found)
		}
	}
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "labels no series by partner") {
		t.Errorf("%s still says no series is labelled by partner", dashboardFile)
	}
}

// selectors returns every vector selector of expr.
func selectors(t *testing.T, q query) []*parser.VectorSelector {
	t.Helper()
	e, err := promql.ParseExpr(q.expr)
	if err != nil {
		t.Fatalf("%s: %v", q.where, err)
	}
	var out []*parser.VectorSelector
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			out = append(out, vs)
		}
		return nil
	})
	return out
}

// TestMonitoringLabelValuesExist: a reason or result a rule matches on is
// one the code emits (regular expressions are read as alternatives).
func TestMonitoringLabelValuesExist(t *testing.T) {
	known := map[string][]string{"result": {"allow", "deny"}}
	for _, r := range authz.Reasons() {
		known["reason"] = append(known["reason"], string(r))
	}
	rules, _ := ruleQueries(t)
	for _, q := range append(rules, dashboardQueries(t)...) {
		for _, vs := range selectors(t, q) {
			for _, m := range vs.LabelMatchers {
				values, ok := known[m.Name]
				if !ok {
					continue
				}
				var alts []string
				switch m.Type {
				case labels.MatchEqual, labels.MatchNotEqual:
					alts = []string{m.Value}
				case labels.MatchRegexp, labels.MatchNotRegexp:
					alts = strings.Split(m.Value, "|")
				}
				for _, a := range alts {
					if !slices.Contains(values, a) {
						t.Errorf("%s: %s=%q is not a value partnergate emits (%v)", q.where, m.Name, a, values)
					}
				}
			}
		}
	}
}

// TestMonitoringMetricsExist: every metric the rules and the dashboard
// select is on a running server's metrics page after real traffic, or is
// a recording rule's output.
func TestMonitoringMetricsExist(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds and runs partnergate")
	}
	rules, recorded := ruleQueries(t)
	dash := dashboardQueries(t)
	scraped := scrapeLiveServer(t)
	for _, q := range append(rules, dash...) {
		for _, vs := range selectors(t, q) {
			if vs.Name == "" {
				t.Errorf("%s: a selector without a metric name", q.where)
				continue
			}
			if !scraped[vs.Name] && !recorded[vs.Name] {
				t.Errorf("%s: metric %s is on no partnergate metrics page and no rule records it", q.where, vs.Name)
			}
		}
	}
}

// TestChartRendersTheMonitoringFiles: the PrometheusRule and the
// dashboard ConfigMap the chart renders hold the files as they are, and
// the ServiceMonitor scrapes the partnergate Service's metrics port.
func TestChartRendersTheMonitoringFiles(t *testing.T) {
	m := renderChart(t, filepath.Join(chartDir, "ci", "monitoring-values.yaml"))
	var rule *monitoringv1.PrometheusRule
	var sm *monitoringv1.ServiceMonitor
	for _, obj := range m.all {
		switch o := obj.(type) {
		case *monitoringv1.PrometheusRule:
			rule = o
		case *monitoringv1.ServiceMonitor:
			sm = o
		}
	}
	if rule == nil || sm == nil {
		t.Fatal("no PrometheusRule or ServiceMonitor rendered")
	}
	want, _ := json.Marshal(loadRules(t))
	got, _ := json.Marshal(rule.Spec)
	if !bytes.Equal(want, got) {
		t.Errorf("the PrometheusRule's spec is not %s:\n%s\n%s", rulesFile, got, want)
	}
	dash, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	cm := m.configMaps[chartRelease+"-dashboard"]
	if cm == nil || strings.TrimSpace(cm.Data["partnergate.json"]) != strings.TrimSpace(string(dash)) {
		t.Errorf("the dashboard ConfigMap does not hold %s", dashboardFile)
	}
	svc := m.services[chartRelease]
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Labels[k] != v {
			t.Errorf("the ServiceMonitor selects %s=%s, which Service %s lacks", k, v, svc.Name)
		}
	}
	if len(sm.Spec.Endpoints) != 1 || !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool {
		return p.Name == sm.Spec.Endpoints[0].Port && p.Port == 9090
	}) {
		t.Errorf("the ServiceMonitor's endpoints %+v are not the Service's metrics port", sm.Spec.Endpoints)
	}
}

// freePorts returns n loopback ports free at the time of the call.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var out []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

// scrapeLiveServer builds and starts partnergate on loopback with a token
// issuer, sends it Checks an edge would (an allowed key, a garbage key, a
// signed token of an unregistered client), and returns the metric names
// on its metrics page (histograms as name_bucket, name_sum, name_count).
func scrapeLiveServer(t *testing.T) map[string]bool {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "partnergate")
	build := exec.Command("go", "build", "-o", bin, "./cmd/partnergate")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// A token issuer: a JWKS endpoint on loopback with one RSA key.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}})
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(jwks)
	}))
	t.Cleanup(idp.Close)

	ports := freePorts(t, 3)
	check, admin, metrics := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1]), fmt.Sprintf("127.0.0.1:%d", ports[2])
	cfg := fmt.Sprintf(`listen: %q
admin_listen: %q
metrics_listen: %q
store: sqlite://%s
log_format: json
jwt:
  issuers:
    - issuer: %s
      jwks_url: %s/jwks
      audiences: [partnergate]
      algorithms: [RS256]
`, check, admin, metrics, filepath.Join(dir, "partnergate.db"), idp.URL, idp.URL)
	cfgPath := filepath.Join(dir, "partnergate.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	const adminToken = "pgadm_monitoring-test-0123456789abcdef"
	srv := exec.Command(bin, "serve", "--config", cfgPath)
	srv.Env = append(os.Environ(), "PARTNERGATE_ADMIN_TOKEN="+adminToken)
	logs := &logtest.Buffer{}
	srv.Stdout, srv.Stderr = logs, logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	t.Cleanup(func() {
		srv.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			srv.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})

	dial := func(addr string) *grpc.ClientConn {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	checkConn := dial(check)
	health := healthpb.NewHealthClient(checkConn)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("partnergate exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("partnergate not ready within 60s (%v)", err)
		}
		time.Sleep(100 * time.Millisecond) // poll interval, not a wait for a condition
	}

	actx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+adminToken)
	ad := adminv1.NewAdminClient(dial(admin))
	if _, err := ad.CreatePartner(actx, &adminv1.CreatePartnerRequest{Id: "acme", Tier: "gold", Scopes: []string{"orders:read"}}); err != nil {
		t.Fatal(err)
	}
	issued, err := ad.IssueKey(actx, &adminv1.IssueKeyRequest{PartnerId: "acme", Scopes: []string{"orders:read"}})
	if err != nil {
		t.Fatal(err)
	}
	// One wrong admin token, so the failed-authentication counter is on
	// the page.
	wrong := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer pgadm_not-the-token-0123456789abcdef")
	if _, err := ad.ListPartners(wrong, &adminv1.ListPartnersRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("ListPartners with a wrong token: %v, want Unauthenticated", err)
	}
	token, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": idp.URL, "aud": "partnergate", "sub": "nobody", "client_id": "nobody",
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(), "jti": "j1",
	}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	ac := authv3.NewAuthorizationClient(checkConn)
	for _, c := range []struct {
		name    string
		headers map[string]string
		want    codes.Code
	}{
		{"allowed-key", map[string]string{"x-api-key": issued.GetSecret()}, codes.OK},
		{"garbage-key", map[string]string{"x-api-key": "garbage"}, codes.Unauthenticated},
		{"token-of-unregistered-client", map[string]string{"authorization": "Bearer " + token}, codes.Unauthenticated},
	} {
		resp, err := ac.Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
				SocketAddress: &corev3.SocketAddress{Address: "198.51.100.9"},
			}}},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Id: "req-" + c.name, Method: "GET", Path: "/v1/orders", Headers: c.headers,
			}},
			ContextExtensions: map[string]string{"required_scopes": "orders:read"},
		}})
		if err != nil {
			t.Fatalf("%s: Check: %v", c.name, err)
		}
		if got := codes.Code(resp.GetStatus().GetCode()); got != c.want {
			t.Fatalf("%s: Check = %v, want %v", c.name, got, c.want)
		}
	}

	// The key leaks last, reported as partnergate scan --revoke does, so
	// the leaked-key counter has a series.
	if _, err := ad.ReportLeakedKeys(actx, &adminv1.ReportLeakedKeysRequest{Tokens: []string{issued.GetSecret()}, Url: "https://example.com/leak"}); err != nil {
		t.Fatalf("ReportLeakedKeys: %v", err)
	}

	resp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(page))
	if err != nil {
		t.Fatalf("metrics page: %v", err)
	}
	names := map[string]bool{}
	for name, f := range families {
		names[name] = true
		if f.GetType().String() == "HISTOGRAM" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[name+s] = true
			}
		}
	}
	return names
}
