// Test strategy: each shipped proxy config is run by the real proxy —
// Debian's nginx with its built-in auth_request module, Debian's Caddy —
// from the file as shipped (only its addresses rewritten to loopback
// ports), in front of a real partnergate (internal/app's wiring, a real
// SQLite store, keys issued and revoked through the admin API) and an
// upstream that echoes the headers it received. Through each proxy the
// tests show what the issue asks: an allow that hands the upstream
// exactly one of each identity header, partnergate's, with the caller's
// spoofed ones and the credential gone; 401 with WWW-Authenticate; 403 for
// a missing scope and for another tenant, by header and by query; a key
// revoked through the admin API refused on the next request; a caller's
// route-scope header not taken for the proxy's; and, with a partnergate
// that does not trust the proxy's address, the forwarded headers ignored.
// A proxy binary that cannot be found fails the test: `make test`
// installs both.
package proxies

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/partnergate/partnergate/internal/app"
	"github.com/partnergate/partnergate/internal/config"
	"github.com/partnergate/partnergate/internal/logtest"
	"github.com/partnergate/partnergate/internal/telemetry"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

const adminToken = "pgadm_proxies-test-0123456789abcdef"

// partnergate is a running server and an admin client for it.
type partnergate struct {
	srv   *app.Server
	admin adminv1.AdminClient
	logs  *logtest.Buffer
}

// startPartnergate starts partnergate with its HTTP server on a loopback
// port, trusting trusted (nil: the default, loopback), and waits until it
// is ready.
func startPartnergate(t testing.TB, trusted []string) *partnergate {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.AdminListen = "127.0.0.1:0"
	cfg.MetricsListen = ""
	cfg.HTTP.Listen = "127.0.0.1:0"
	if trusted != nil {
		cfg.HTTP.TrustedProxies = trusted
	}
	cfg.Store = "sqlite://" + filepath.Join(dir, "partnergate.db")
	cfg.AdminToken = adminToken
	cfg.ShutdownGrace = 5 * time.Second
	cfg.ShutdownDelay = 0
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &logtest.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := app.Start(ctx, &cfg, telemetry.NewLogger(logs, "json", slog.LevelDebug), io.Discard)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := srv.Wait(); err != nil {
			t.Errorf("partnergate stopped with %v", err)
		}
		if t.Failed() {
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			t.Logf("partnergate's last log lines:\n%s", strings.Join(lines[max(0, len(lines)-15):], "\n"))
		}
	})
	select {
	case <-srv.Ready():
	case <-time.After(15 * time.Second):
		t.Fatal("partnergate not ready within 15s")
	}
	if srv.HTTPAddr == nil {
		t.Fatal("partnergate serves no HTTP address with http.listen set")
	}
	conn, err := grpc.NewClient(srv.AdminAddr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &partnergate{srv: srv, admin: adminv1.NewAdminClient(conn), logs: logs}
}

func adminCtx() context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+adminToken)
}

// issue creates partner acme (tier gold) and a key for it with orders:read.
func (pg *partnergate) issue(t testing.TB) (secret, keyID string) {
	t.Helper()
	ctx := adminCtx()
	if _, err := pg.admin.CreatePartner(ctx, &adminv1.CreatePartnerRequest{Id: "acme", Tier: "gold",
		Scopes: []string{"orders:read", "orders:write", "reports:read"}}); err != nil {
		t.Fatal(err)
	}
	k, err := pg.admin.IssueKey(ctx, &adminv1.IssueKeyRequest{PartnerId: "acme", Scopes: []string{"orders:read"}, Name: "proxies"})
	if err != nil {
		t.Fatal(err)
	}
	return k.GetSecret(), k.GetKey().GetId()
}

// upstream is the API behind the proxy: it answers every request with
// the headers it received, as JSON, and counts the requests.
type upstream struct {
	*httptest.Server
	mu    sync.Mutex
	calls int
}

func startUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.calls++
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(r.Header)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) callCount() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls
}

// proxy starts a real proxy from its shipped config in front of
// partnergate's HTTP address and the upstream, and returns its base URL.
type proxy struct {
	name string
	// stripsAllPartnerHeaders: the proxy removes every caller X-Partner-*
	// header, not only the four it sets (nginx cannot strip by prefix).
	stripsAllPartnerHeaders bool
	start                   func(t *testing.T, pg, up string) string
}

var proxies = []proxy{
	{name: "nginx", start: startNginx},
	{name: "caddy", stripsAllPartnerHeaders: true, start: startCaddy},
}

func TestThroughRealProxies(t *testing.T) {
	for _, p := range proxies {
		t.Run(p.name, func(t *testing.T) { testProxy(t, p) })
	}
}

func testProxy(t *testing.T, p proxy) {
	pg := startPartnergate(t, nil)
	up := startUpstream(t)
	front := p.start(t, pg.srv.HTTPAddr.String(), up.Listener.Addr().String())
	secret, keyID := pg.issue(t)

	spoofed := http.Header{
		"X-Partner-Id":         {"acme"}, // agrees with the key: not a tenant mismatch, but not kept either
		"X-Partner-Scopes":     {"admin:all", "orders:write"},
		"X-Partner-Credential": {"pk_forged"},
		"X-Partner-Tier":       {"platinum"},
	}
	if p.stripsAllPartnerHeaders {
		spoofed["X-Partner-Role"] = []string{"admin"}
	}
	for _, cred := range []struct{ name, header, value string }{
		{"x-api-key", "X-Api-Key", secret},
		{"bearer", "Authorization", "Bearer " + secret},
	} {
		t.Run("allow-"+cred.name, func(t *testing.T) {
			h := spoofed.Clone()
			h.Set(cred.header, cred.value)
			resp, body := do(t, "GET", front+"/v1/orders?page=2", h)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, body %s", resp.StatusCode, body)
			}
			var got http.Header
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("upstream's echo %s: %v", body, err)
			}
			want := map[string]string{"X-Partner-Id": "acme", "X-Partner-Scopes": "orders:read", "X-Partner-Credential": keyID, "X-Partner-Tier": "gold"}
			for name, v := range want {
				if vs := got[name]; !slices.Equal(vs, []string{v}) {
					t.Errorf("upstream got %s = %q, want exactly [%q]", name, vs, v)
				}
			}
			for name, vs := range got {
				lower := strings.ToLower(name)
				if strings.HasPrefix(lower, "x-partner-") && want[name] == "" {
					t.Errorf("upstream got the caller's %s: %q", name, vs)
				}
				if lower == "authorization" || lower == "x-api-key" || lower == "x-partnergate-required-scopes" {
					t.Errorf("upstream got %s", name)
				}
				for _, v := range vs {
					if strings.Contains(v, secret) {
						t.Errorf("upstream got the secret in %s", name)
					}
				}
			}
		})
	}

	denials := []struct {
		name, path string
		header     http.Header
		status     int
		public     string
		challenge  string // WWW-Authenticate; "" for none
	}{
		{name: "missing-credential", path: "/v1/orders", status: 401, public: "invalid_credentials",
			challenge: `Bearer realm="partnergate"`},
		{name: "wrong-secret", path: "/v1/orders", header: http.Header{"X-Api-Key": {secret[:len(secret)-8] + "AAAAAAAA"}},
			status: 401, public: "invalid_credentials", challenge: `Bearer realm="partnergate", error="invalid_token"`},
		{name: "insufficient-scope", path: "/v1/reports/daily", header: http.Header{"X-Api-Key": {secret}},
			status: 403, public: "insufficient_scope", challenge: `Bearer realm="partnergate", error="insufficient_scope", scope="reports:read"`},
		{name: "tenant-by-header", path: "/v1/orders", header: http.Header{"X-Api-Key": {secret}, "X-Partner-Id": {"globex"}},
			status: 403, public: "tenant_mismatch"},
		{name: "tenant-by-query", path: "/v1/orders?partnerId=globex", header: http.Header{"X-Api-Key": {secret}},
			status: 403, public: "tenant_mismatch"},
		// A caller cannot declare a route's scopes: the proxy replaces the
		// header, and a route the policy file does not open stays closed.
		{name: "caller-route-scopes-ignored", path: "/v1/admin", header: http.Header{"X-Api-Key": {secret}, "X-Partnergate-Required-Scopes": {"orders:read"}},
			status: 403, public: "route_not_allowed"},
		// The caller's X-Original-URI is the proxy's to set: it cannot turn
		// a request for /v1/reports into one for /v1/orders.
		{name: "caller-original-uri-ignored", path: "/v1/reports", header: http.Header{"X-Api-Key": {secret}, "X-Original-Uri": {"/v1/orders"}, "X-Forwarded-Uri": {"/v1/orders"}},
			status: 403, public: "insufficient_scope", challenge: `Bearer realm="partnergate", error="insufficient_scope", scope="reports:read"`},
	}
	for _, tt := range denials {
		t.Run(tt.name, func(t *testing.T) {
			before := up.callCount()
			resp, body := do(t, "GET", front+tt.path, tt.header)
			checkDenial(t, resp, body, tt.status, tt.public, tt.challenge)
			if up.callCount() != before {
				t.Error("a denied request reached the upstream")
			}
		})
	}

	t.Run("secret-in-the-wrong-place-never-logged", func(t *testing.T) {
		// A key in the query string reaches partnergate inside the
		// forwarded URI; the audit log records the denial and its path,
		// never the key.
		resp, body := do(t, "GET", front+"/v1/admin?api_key="+secret, http.Header{"X-Api-Key": {secret}})
		checkDenial(t, resp, body, 403, "route_not_allowed", "")
		if !waitLog(pg.logs, `"path":"/v1/admin?`) {
			t.Fatal("the denial is not in the audit log")
		}
		if strings.Contains(pg.logs.String(), secretPart(secret)) {
			t.Error("partnergate's logs hold the key sent in the query string")
		}
	})

	t.Run("revoked-refused-on-next-request", func(t *testing.T) {
		h := http.Header{"X-Api-Key": {secret}}
		if resp, body := do(t, "GET", front+"/v1/orders", h); resp.StatusCode != http.StatusOK {
			t.Fatalf("before revoking: status %d, body %s", resp.StatusCode, body)
		}
		if _, err := pg.admin.RevokeKey(adminCtx(), &adminv1.RevokeKeyRequest{KeyId: keyID, Reason: "proxies test"}); err != nil {
			t.Fatal(err)
		}
		resp, body := do(t, "GET", front+"/v1/orders", h)
		checkDenial(t, resp, body, 401, "invalid_credentials", `Bearer realm="partnergate", error="invalid_token"`)
	})

	t.Run("untrusted-proxy-forwarded-headers-ignored", func(t *testing.T) {
		// A partnergate that trusts only a network this proxy is not in:
		// what the proxy forwards is ignored, and the request is judged as
		// partnergate sees it, GET /authorize, which no route opens, even
		// with the route's scopes in the proxy's header.
		distrust := startPartnergate(t, []string{"192.0.2.0/24"})
		secret, _ := distrust.issue(t)
		front := p.start(t, distrust.srv.HTTPAddr.String(), up.Listener.Addr().String())
		before := up.callCount()
		resp, body := do(t, "GET", front+"/v1/orders", http.Header{"X-Api-Key": {secret}})
		checkDenial(t, resp, body, 403, "route_not_allowed", "")
		if up.callCount() != before {
			t.Error("the request reached the upstream")
		}
		if !waitLog(distrust.logs, `"path":"/authorize"`) {
			t.Error("the audit log does not show the request judged as GET /authorize")
		}
	})
}

// waitLog reports whether logs come to hold s within 5 seconds: the
// audit log is written in the background.
func waitLog(logs *logtest.Buffer, s string) bool {
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), s) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// secretPart is the part of a key that only its holder knows: the text
// after the public key id.
func secretPart(secret string) string { return secret[len(secret)-24:] }

// checkDenial asserts a denial's status, challenge and JSON body.
func checkDenial(t *testing.T, resp *http.Response, body []byte, status int, public, challenge string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if got := resp.Header.Values("Www-Authenticate"); challenge == "" && len(got) > 0 || challenge != "" && !slices.Equal(got, []string{challenge}) {
		t.Errorf("WWW-Authenticate = %q, want %q", got, challenge)
	}
	var b struct {
		Error     string `json:"error"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("body %q is not the JSON error: %v", body, err)
	}
	if b.Error != public || b.RequestID == "" {
		t.Errorf("body %s, want error %q with a request id", body, public)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
}

func do(t *testing.T, method, url string, h http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if req.Header.Get("X-Request-Id") == "" {
		req.Header.Set("X-Request-Id", "caller-chosen-id")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// binary finds a proxy's binary, or fails the test: make test installs
// them (skipped only under -short, which runs no external service).
func binary(t testing.TB, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: the proxy tests run %s", name)
	}
	for _, p := range []string{name, "/usr/sbin/" + name, "/usr/bin/" + name} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatalf("%s not found: run `make test`, which installs nginx and Caddy (apt-get install -y nginx caddy)", name)
	return ""
}

// freePort returns a loopback address no one listens on, for a proxy to
// bind.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// rewrite replaces each old string of the shipped config with its new
// one; every old string must occur, so that a config edited away from
// what the test rewrites fails here instead of testing something else.
func rewrite(t testing.TB, path string, pairs ...string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("%s no longer contains %q, which the test rewrites", path, pairs[i])
		}
		s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
	}
	return s
}

// run starts cmd, stops it when the test ends, and waits until addr
// accepts connections.
func run(t testing.TB, cmd *exec.Cmd, addr string, out *logtest.Buffer) {
	t.Helper()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("%s exited: %s", cmd.Path, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening on %s within 15s: %s", cmd.Path, addr, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startNginx runs nginx with nginx/partnergate.conf inside an http block
// whose pid, log and temp paths are all in a temp dir.
func startNginx(t *testing.T, pg, up string) string {
	listen := freePort(t)
	site := rewrite(t, "nginx/partnergate.conf",
		"server 127.0.0.1:9003;", "server "+pg+";",
		"server 127.0.0.1:8000;", "server "+up+";",
		"listen 8080;", "listen "+listen+";")
	runNginx(t, site, "", listen)
	return "http://" + listen
}

// runNginx runs nginx with site, and extra, in its http block, and waits
// until it listens on listen; it returns the process (group) id.
func runNginx(t testing.TB, site, extra, listen string) int {
	bin := binary(t, "nginx")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "partnergate.conf"), []byte(site), 0o600); err != nil {
		t.Fatal(err)
	}
	main := strings.NewReplacer("DIR", dir, "EXTRA", extra).Replace(`daemon off;
master_process on;
worker_processes 1;
pid DIR/nginx.pid;
error_log DIR/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path DIR/client_body;
    proxy_temp_path DIR/proxy;
    fastcgi_temp_path DIR/fastcgi;
    uwsgi_temp_path DIR/uwsgi;
    scgi_temp_path DIR/scgi;
    include DIR/partnergate.conf;
    EXTRA
}
`)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	var out logtest.Buffer
	cmd := exec.Command(bin, "-p", dir, "-c", conf)
	run(t, cmd, listen, &out)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx error.log:\n%s", b)
		}
	})
	return cmd.Process.Pid
}

// startCaddy runs caddy with caddy/Caddyfile, after global options that
// keep it off its admin port and off automatic HTTPS, with its data and
// config in a temp dir.
func startCaddy(t *testing.T, pg, up string) string {
	bin := binary(t, "caddy")
	dir := t.TempDir()
	listen := freePort(t)
	site := rewrite(t, "caddy/Caddyfile",
		"127.0.0.1:9003", pg,
		"127.0.0.1:8000", up,
		":8080 {", "http://"+listen+" {")
	conf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(conf, []byte("{\n\tadmin off\n\tauto_https off\n}\n\n"+site), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", conf, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	var out logtest.Buffer
	run(t, cmd, listen, &out)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("caddy output:\n%s", out.String())
		}
	})
	return "http://" + listen
}
