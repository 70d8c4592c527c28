// Test strategy: scripts read partnergate's exit status, so each outcome of
// check is run through Execute against a real Check server (the authz
// handler over a real cache and SQLite store, real gRPC on loopback):
// allowed, denied, a usage error, a refused connection and a server that
// answers UNAVAILABLE must each get their own status, and the error line
// must name the Check API and the address dialled — never the admin API.
// Admin errors are checked the same way against a real PostgreSQL cut off
// by a proxy: an admin API that answers over a dead store says the store
// is unavailable, not that the admin API cannot be reached.
package cli_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"

	"github.com/partnergate/partnergate/authz"
	"github.com/partnergate/partnergate/internal/admin"
	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/cache"
	"github.com/partnergate/partnergate/internal/cli"
	"github.com/partnergate/partnergate/internal/extauthz"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/peercert"
	"github.com/partnergate/partnergate/internal/pkitest"
	"github.com/partnergate/partnergate/internal/store/sqlstore"
	"github.com/partnergate/partnergate/internal/store/sqlstore/pgtest"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// checkServer serves Check over st on loopback and returns its address.
// With load unset the cache is never loaded, so every Check is answered
// UNAVAILABLE, as a replica that is not ready answers.
func checkServer(t *testing.T, st *sqlstore.Store, format apikey.Format, hasher *apikey.Hasher, load bool) string {
	t.Helper()
	idx, err := cache.New(st, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	if load {
		if err := idx.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	checker, err := authz.New(authz.Options{Index: idx, Keys: format, Hasher: hasher})
	if err != nil {
		t.Fatal(err)
	}
	check, err := extauthz.New(extauthz.Options{Decider: checker})
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	authv3.RegisterAuthorizationServer(gs, check)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return lis.Addr().String()
}

func TestCheckExitStatus(t *testing.T) {
	format, hasher, st := server(t)
	mustRun(t, "partner", "create", "acme", "--scopes", "orders:read orders:write")
	secret, _ := object(t, mustRun(t, "key", "issue", "--partner", "acme", "--scopes", "orders:read", "-o", "json"))["secret"].(string)
	if secret == "" {
		t.Fatal("key issue printed no secret")
	}
	t.Setenv(cli.EnvCredential, secret)
	ready := checkServer(t, st, format, hasher, true)
	cold := checkServer(t, st, format, hasher, false)
	// The admin API is elsewhere: no check error may blame it.
	t.Setenv(cli.EnvAdminAddr, "127.0.0.1:2")

	cases := []struct {
		name     string
		args     []string
		want     int
		stdout   string   // a line stdout must contain; empty: nothing
		stderr   []string // what the one stderr line must contain
		notInErr []string
	}{
		{"allowed", []string{"--addr", ready, "--required-scopes", "orders:read"}, cli.ExitOK, "ALLOWED", nil, nil},
		{"denied", []string{"--addr", ready, "--required-scopes", "orders:write"}, cli.ExitDenied, "DENIED 403",
			[]string{"the request was denied"}, nil},
		{"usage-error", []string{"--addr", ready, "--header", "no-colon"}, cli.ExitUsage, "",
			[]string{"--header"}, nil},
		{"connection-refused", []string{"--addr", "127.0.0.1:1"}, cli.ExitUnavailable, "",
			[]string{"unavailable: cannot reach the Check API at 127.0.0.1:1"}, []string{"admin"}},
		{"server-answers-unavailable", []string{"--addr", cold}, cli.ExitUnavailable, "",
			[]string{"unavailable: partnergate: not ready"}, []string{"admin", "cannot reach"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, append([]string{"check"}, tc.args...)...)
			if code != tc.want {
				t.Errorf("exit status %d, want %d (stderr %q)", code, tc.want, errs)
			}
			if tc.stdout == "" && out != "" || !strings.Contains(out, tc.stdout) {
				t.Errorf("stdout %q, want %q", out, tc.stdout)
			}
			if len(tc.stderr) == 0 {
				if errs != "" {
					t.Errorf("stderr %q, want nothing", errs)
				}
				return
			}
			if strings.Count(errs, "\n") != 1 {
				t.Errorf("stderr is not one line: %q", errs)
			}
			for _, w := range tc.stderr {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr %q does not say %q", errs, w)
				}
			}
			for _, w := range tc.notInErr {
				if strings.Contains(errs, w) {
					t.Errorf("stderr %q mentions %q", errs, w)
				}
			}
		})
	}
}

func TestCheckHelpDocumentsExitStatus(t *testing.T) {
	code, out, _ := run(t, "check", "--help")
	if code != cli.ExitOK {
		t.Fatalf("check --help: exit %d", code)
	}
	for _, w := range []string{"Exit status", "0  allowed", "1  denied", "2  usage error", "3  no decision"} {
		if !strings.Contains(out, w) {
			t.Errorf("check --help does not say %q", w)
		}
	}
}

// TestAdminErrorNamesTheStore cuts the admin API's PostgreSQL off: the API
// still answers, and the error says the store is unavailable rather than
// that the admin API cannot be reached.
func TestAdminErrorNamesTheStore(t *testing.T) {
	db := pgtest.NewDatabase(t)
	proxy := pgtest.NewProxy(t, db, false)
	st, err := sqlstore.Open(context.Background(), proxy.URL(db)+"&connect_timeout=2", sqlstore.Options{StartUnavailable: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	format, err := apikey.NewFormat(apikey.DefaultPrefix)
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := apikey.NewHasher(1, map[int][]byte{1: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	serveAdmin(t, &admin.Server{Store: st, Format: format, Hasher: hasher})

	mustRun(t, "partner", "create", "acme")
	proxy.Down()
	runFails(t, cli.ExitError, `^partnergate: unavailable: the store is unavailable$`, "partner", "get", "acme")
	// An admin API that is not there is still named as such.
	runFails(t, cli.ExitError, `^partnergate: unavailable: cannot reach the admin API at 127\.0\.0\.1:1: `,
		"partner", "get", "acme", "--admin-addr", "127.0.0.1:1")
}

// serveAdmin serves srv on loopback behind a fresh admin token and points
// the CLI's environment at it.
func serveAdmin(t *testing.T, srv *admin.Server) {
	t.Helper()
	if err := srv.Validate(); err != nil {
		t.Fatal(err)
	}
	token := admin.NewToken()
	unary, stream := admin.AuthInterceptors(admin.HashToken(token))
	gs := grpc.NewServer(grpc.UnaryInterceptor(unary), grpc.StreamInterceptor(stream))
	adminv1.RegisterAdminServer(gs, srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	t.Setenv(cli.EnvAdminAddr, lis.Addr().String())
	t.Setenv(cli.EnvAdminToken, token)
}

// TestAdminErrorNamesADamagedStore overwrites the end of a SQLite file
// holding keys with garbage, as a bad disk or restore does: key list says
// the store's database is damaged, not "internal error".
func TestAdminErrorNamesADamagedStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "partnergate.db")
	st, err := sqlstore.Open(ctx, "sqlite://"+path, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreatePartner(ctx, &partner.Partner{ID: "acme", Tier: "standard", State: partner.Active}, partner.AuditEvent{Action: "partner.create"}); err != nil {
		t.Fatal(err)
	}
	for i := range 400 {
		c := &partner.Credential{ID: fmt.Sprintf("key%09d", i), PartnerID: "acme", Name: "a name long enough to fill pages",
			Digest: make([]byte, 32), PepperVersion: 1, ExpiresAt: time.Now().Add(time.Hour)}
		if err := st.CreateCredential(ctx, c, partner.AuditEvent{Action: "key.issue"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(b) - len(b)/3; i < len(b); i++ {
		b[i] = byte(i*7 + 3)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err = sqlstore.Open(ctx, "sqlite://"+path, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	format, _ := apikey.NewFormat(apikey.DefaultPrefix)
	hasher, _ := apikey.NewHasher(1, map[int][]byte{1: make([]byte, 32)})
	serveAdmin(t, &admin.Server{Store: st, Format: format, Hasher: hasher})

	runFails(t, cli.ExitError, `^partnergate: data loss: the store's database is damaged \(see the server log\); restore it from a backup$`,
		"key", "list", "--partner", "acme")
}

// TestCheckSourceAddress: --source-address reaches the Check as Envoy's
// attributes.source.address, so a key's allow-list can be tried from the
// command line.
func TestCheckSourceAddress(t *testing.T) {
	format, hasher, st := server(t)
	mustRun(t, "partner", "create", "acme", "--scopes", "orders:read")
	secret, _ := object(t, mustRun(t, "key", "issue", "--partner", "acme", "--scopes", "orders:read", "--allow-cidrs", "203.0.113.0/24", "-o", "json"))["secret"].(string)
	t.Setenv(cli.EnvCredential, secret)
	addr := checkServer(t, st, format, hasher, true)
	cases := []struct {
		name   string
		args   []string
		want   int
		stdout string
	}{
		{"inside", []string{"--source-address", "203.0.113.9"}, cli.ExitOK, "ALLOWED"},
		{"outside", []string{"--source-address", "198.51.100.1"}, cli.ExitDenied, "source_not_allowed"},
		{"none", nil, cli.ExitDenied, "source_not_allowed"},
		{"not-an-address", []string{"--source-address", "example.com"}, cli.ExitUsage, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"check", "--addr", addr, "--required-scopes", "orders:read"}, tc.args...)
			code, out, errs := run(t, args...)
			if code != tc.want || !strings.Contains(out, tc.stdout) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d and %q", code, out, errs, tc.want, tc.stdout)
			}
		})
	}
}

// recordingCheck answers every Check with OK and keeps the request.
type recordingCheck struct {
	authv3.UnimplementedAuthorizationServer
	got chan *authv3.CheckRequest
}

func (r recordingCheck) Check(_ context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	r.got <- req
	return &authv3.CheckResponse{Status: &status.Status{}, HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}}}, nil
}

// TestCheckPlaysEnvoysTLSSide: --peer-certificate and --source-principal
// reach the server as Envoy fills source.certificate (URL-encoded PEM of
// the leaf alone) and source.principal; a file without a certificate is
// a usage error naming the flag.
func TestCheckPlaysEnvoysTLSSide(t *testing.T) {
	ca := pkitest.NewCA(t, "partners CA")
	leaf := ca.Issue(t, pkitest.Names{Subject: "acme", URIs: []string{"spiffe://partners.example/acme"}})
	dir := t.TempDir()
	chain := filepath.Join(dir, "chain.pem") // key, leaf, then CA: the leaf is sent
	if err := os.WriteFile(chain, append(append(append([]byte{}, leaf.KeyPEM...), leaf.PEM...), ca.PEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	noCert := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(noCert, leaf.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	rec := recordingCheck{got: make(chan *authv3.CheckRequest, 1)}
	gs := grpc.NewServer()
	authv3.RegisterAuthorizationServer(gs, rec)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)

	code, _, errs := run(t, "check", "--addr", lis.Addr().String(), "--peer-certificate", chain,
		"--source-principal", "spiffe://partners.example/acme", "--scheme", "https", "--host", "api.example.com")
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	req := <-rec.got
	src := req.GetAttributes().GetSource()
	if src.GetPrincipal() != "spiffe://partners.example/acme" {
		t.Errorf("source.principal = %q", src.GetPrincipal())
	}
	if want := peercert.Encode(leaf.PEM); src.GetCertificate() != want {
		t.Errorf("source.certificate = %q, want the leaf URL-encoded as Envoy does: %q", src.GetCertificate(), want)
	}
	if h := req.GetAttributes().GetRequest().GetHttp(); h.GetScheme() != "https" || h.GetHost() != "api.example.com" {
		t.Errorf("scheme, host = %q, %q", h.GetScheme(), h.GetHost())
	}

	t.Setenv(cli.EnvCredential, "eyJhbGciOiJFUzI1NiJ9.e30.c2ln")
	code, _, errs = run(t, "check", "--addr", lis.Addr().String(), "--dpop-proof", "eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.c2ln")
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	h := (<-rec.got).GetAttributes().GetRequest().GetHttp().GetHeaders()
	if h["dpop"] != "eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.c2ln" || h["authorization"] != "DPoP eyJhbGciOiJFUzI1NiJ9.e30.c2ln" {
		t.Errorf("headers = %v, want the proof in dpop and the token as Authorization: DPoP", h)
	}

	code, _, errs = run(t, "check", "--addr", lis.Addr().String(), "--peer-certificate", noCert)
	if code != cli.ExitUsage || !strings.Contains(errs, "--peer-certificate") {
		t.Errorf("a file without a certificate: exit %d, %q; want a usage error naming --peer-certificate", code, errs)
	}
}
