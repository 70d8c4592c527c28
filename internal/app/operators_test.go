package app

// Test strategy for the operator plane end to end: app.Start with real
// listeners. The bootstrap token is refused when weak, is not used up by a
// start that fails, and can be turned off; a plaintext admin listener off
// loopback refuses to start naming the setting; the admin API serves TLS
// with certificates generated here, and a client certificate verified
// against the test CA over a real handshake acts as the operator its SAN
// names; an IdP access token signed by a test key, served from a real
// JWKS endpoint, acts with the role its roles claim maps to. Revocation on
// two replicas sharing PostgreSQL is in replicas_test.go.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/partnergate/partnergate/internal/config"
	"github.com/partnergate/partnergate/internal/logtest"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

func bearer(token string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
}

func TestWeakBootstrapTokenRefused(t *testing.T) {
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"one-letter", "a", false},
		{"short-lowercase", strings.Repeat("x", 27), false}, // 27 × log2(26) ≈ 127 bits
		{"lowercase-enough", "abcdefghijklmnopqrstuvwxyzab", true},
		{"generated-shape", testAdminToken, true},
	}
	for _, tt := range tests {
		t.Run(tt.name+"-env", func(t *testing.T) {
			cfg := testConfig(t.TempDir())
			cfg.AdminToken = tt.token
			err := cfg.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate = %v, want ok %v", err, tt.ok)
			}
			if err != nil && (!strings.Contains(err.Error(), "PARTNERGATE_ADMIN_TOKEN") || !strings.Contains(err.Error(), "128")) {
				t.Errorf("error %q does not name the variable and the rule", err)
			}
		})
		t.Run(tt.name+"-file", func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "admin-token")
			if err := os.WriteFile(path, []byte(tt.token+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := testConfig(dir)
			cfg.AdminToken, cfg.AdminTokenFile = "", path
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			srv, err := Start(ctx, &cfg, slogDiscard(), &logtest.Buffer{})
			if (err == nil) != tt.ok {
				t.Fatalf("Start = %v, want ok %v", err, tt.ok)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "admin_token_file") || !strings.Contains(err.Error(), "128") {
					t.Errorf("error %q does not name the setting and the rule", err)
				}
				return
			}
			cancel()
			_ = srv.Wait()
		})
	}
}

func TestPlaintextAdminOffLoopbackRefused(t *testing.T) {
	tests := []struct {
		name      string
		listen    string
		plaintext bool
		ok        bool
	}{
		{"loopback-v4", "127.0.0.1:9002", false, true},
		{"loopback-v6", "[::1]:9002", false, true},
		{"localhost", "localhost:9002", false, true},
		{"all-interfaces", ":9002", false, false},
		{"pod-ip", "10.1.2.3:9002", false, false},
		{"pod-ip-mesh-says-mtls", "10.1.2.3:9002", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t.TempDir())
			cfg.AdminListen, cfg.AdminPlaintext = tt.listen, tt.plaintext
			err := cfg.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate = %v, want ok %v", err, tt.ok)
			}
			if err != nil && (!strings.Contains(err.Error(), "admin_tls.cert_file") || !strings.Contains(err.Error(), "admin_plaintext")) {
				t.Errorf("error %q does not name the settings", err)
			}
		})
	}
}

func TestFailedFirstStartKeepsTheGeneratedToken(t *testing.T) {
	dir := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Listen, cfg.MetricsListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.AdminListen = busy.Addr().String() // the port is taken: Start fails
	cfg.Store = "sqlite://" + filepath.Join(dir, "pg.db")
	var out logtest.Buffer
	if _, err := Start(context.Background(), &cfg, slogDiscard(), &out); err == nil || !strings.Contains(err.Error(), "admin_listen") {
		t.Fatalf("Start on a taken port = %v, want an admin_listen error", err)
	}
	if strings.Contains(out.String(), "pgadm_") {
		t.Fatalf("a failed start printed a token: %q", out.String())
	}
	busy.Close()
	cfg.AdminListen = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := Start(ctx, &cfg, slogDiscard(), &out)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = srv.Wait() }()
	i := strings.Index(out.String(), "pgadm_")
	if i < 0 {
		t.Fatalf("the start after a failed one printed no token: %q", out.String())
	}
	token := strings.Fields(out.String()[i:])[0]
	c := adminv1.NewAdminClient(dial(t, srv.AdminAddr.String()))
	who, err := c.WhoAmI(bearer(token), &adminv1.WhoAmIRequest{})
	if err != nil || who.GetName() != "bootstrap" || who.GetRole() != "admin" {
		t.Fatalf("WhoAmI with the printed token = %v, %v", who, err)
	}
}

func TestBootstrapDisabled(t *testing.T) {
	dir := t.TempDir()
	h := startReady(t, func(c *config.Config) { c.Store = "sqlite://" + filepath.Join(dir, "pg.db") })
	resp, err := h.admin.CreateOperator(adminCtx(), &adminv1.CreateOperatorRequest{Name: "alice", Role: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	h = startReady(t, func(c *config.Config) {
		c.Store = "sqlite://" + filepath.Join(dir, "pg.db")
		c.AdminBootstrap = "disabled"
	})
	if _, err := h.admin.WhoAmI(adminCtx(), &adminv1.WhoAmIRequest{}); grpcCode(err) != codes.Unauthenticated {
		t.Fatalf("bootstrap token with admin_bootstrap disabled = %v, want Unauthenticated", err)
	}
	who, err := h.admin.WhoAmI(bearer(resp.GetSecret()), &adminv1.WhoAmIRequest{})
	if err != nil || who.GetName() != "alice" {
		t.Fatalf("named admin = %v, %v", who, err)
	}
	cfg := testConfig(t.TempDir())
	cfg.AdminBootstrap, cfg.AdminTokenFile = "disabled", filepath.Join(dir, "pg.db")
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "admin_token_file") {
		t.Errorf("a token file with the bootstrap disabled = %v, want an admin_token_file error", err)
	}
}

// testPKI is a CA, a server certificate for 127.0.0.1, and client
// certificates, written as PEM files.
type testPKI struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caFile string
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "partnergate test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &testPKI{dir: t.TempDir(), ca: ca, caKey: key}
	p.caFile = p.write(t, "ca.pem", "CERTIFICATE", der)
	return p
}

func (p *testPKI) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// issue returns a certificate and key signed by the CA (or by another,
// self-signed, when rogue), as a tls.Certificate and as PEM files.
func (p *testPKI) issue(t *testing.T, name string, server, rogue bool, uris ...string) (tls.Certificate, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	for _, u := range uris {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	parent, signer := p.ca, p.caKey
	if rogue {
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := p.write(t, name+".pem", "CERTIFICATE", der), p.write(t, name+"-key.pem", "EC PRIVATE KEY", kder)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return pair, certFile, keyFile
}

func TestAdminMutualTLS(t *testing.T) {
	pki := newPKI(t)
	_, certFile, keyFile := pki.issue(t, "server", true, false)
	h := startReady(t, func(c *config.Config) {
		c.AdminListen = "0.0.0.0:0" // off loopback: allowed because TLS is on
		c.AdminTLS = config.TLS{CertFile: certFile, KeyFile: keyFile, ClientCAFile: pki.caFile}
	})
	pool := x509.NewCertPool()
	pool.AddCert(pki.ca)
	addr := "127.0.0.1:" + strings.TrimPrefix(h.srv.AdminAddr.String()[strings.LastIndex(h.srv.AdminAddr.String(), ":"):], ":")
	client := func(certs ...tls.Certificate) adminv1.AdminClient {
		tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		if len(certs) > 0 {
			// Send the certificate even when the server's acceptable CAs
			// do not list its issuer, as an attacker's client would.
			tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &certs[0], nil }
		}
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return adminv1.NewAdminClient(conn)
	}
	// A token over TLS without a client certificate still works.
	const san = "spiffe://cluster.local/ns/ops/sa/deployer"
	if _, err := client().CreateOperator(adminCtx(), &adminv1.CreateOperatorRequest{Name: "deployer", Role: "issuer", CertSan: san}); err != nil {
		t.Fatal(err)
	}
	good, _, _ := pki.issue(t, "deployer", false, false, san)
	who, err := client(good).WhoAmI(context.Background(), &adminv1.WhoAmIRequest{})
	if err != nil || who.GetName() != "deployer" || who.GetAuthMethod() != "client_certificate" || who.GetCredentialId() != san {
		t.Fatalf("WhoAmI with the deployer certificate = %v, %v", who, err)
	}
	if _, err := client(good).CreatePartner(context.Background(), &adminv1.CreatePartnerRequest{Id: "acme"}); grpcCode(err) != codes.PermissionDenied {
		t.Fatalf("issuer certificate creating a partner = %v, want PermissionDenied", err)
	}

	unmapped, _, _ := pki.issue(t, "stranger", false, false, "spiffe://cluster.local/ns/ops/sa/stranger")
	if _, err := client(unmapped).WhoAmI(context.Background(), &adminv1.WhoAmIRequest{}); grpcCode(err) != codes.Unauthenticated {
		t.Fatalf("a certificate no operator has = %v, want Unauthenticated", err)
	}
	rogue, _, _ := pki.issue(t, "rogue", false, true, san)
	if _, err := client(rogue).WhoAmI(context.Background(), &adminv1.WhoAmIRequest{}); err == nil || grpcCode(err) == codes.OK {
		t.Fatal("a certificate from another CA with the deployer's SAN was accepted")
	}
	if _, err := h.admin.WhoAmI(adminCtx(), &adminv1.WhoAmIRequest{}); err == nil {
		t.Fatal("a plaintext client reached the TLS admin listener")
	}
	if _, err := client().RevokeOperator(adminCtx(), &adminv1.RevokeOperatorRequest{Name: "deployer"}); err != nil {
		t.Fatal(err)
	}
	if _, err := client(good).WhoAmI(context.Background(), &adminv1.WhoAmIRequest{}); grpcCode(err) != codes.Unauthenticated {
		t.Fatalf("the revoked operator's certificate = %v, want Unauthenticated", err)
	}
	if !strings.Contains(h.logs.String(), `"credential_id":"spiffe://cluster.local/ns/ops/sa/stranger"`) {
		t.Error("the failed certificate authentication is not logged with its SAN")
	}
}

func TestAdminOIDCOperators(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := jwkset.NewJWKFromKey(key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "op1", ALG: jwkset.AlgES256, USE: jwkset.UseSig}})
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(jwks) }))
	defer idp.Close()
	issuer := idp.URL + "/realms/staff"
	const aud = "partnergate-admin"
	h := startReady(t, func(c *config.Config) {
		c.AdminOIDC = config.AdminOIDC{
			Issuer: issuer, JWKSURL: idp.URL + "/jwks", Audiences: []string{aud},
			OperatorClaim: "sub", RolesClaim: "roles",
			Roles: map[string]string{"pg-admins": "admin", "pg-support": "viewer"},
		}
	})
	mint := func(sub string, roles []string, signer *ecdsa.PrivateKey, audience string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
			"iss": issuer, "aud": audience, "sub": sub, "roles": roles,
			"iat": time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix(),
		})
		tok.Header["kid"] = "op1"
		s, err := tok.SignedString(signer)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name string
		tok  string
		want codes.Code
		role string
	}{
		{"admin-group", mint("alice@example.com", []string{"staff", "pg-admins"}, key, aud), codes.OK, "admin"},
		{"viewer-group", mint("bob@example.com", []string{"pg-support"}, key, aud), codes.OK, "viewer"},
		{"no-mapped-role", mint("carol@example.com", []string{"staff"}, key, aud), codes.Unauthenticated, ""},
		{"wrong-audience", mint("alice@example.com", []string{"pg-admins"}, key, "someone-else"), codes.Unauthenticated, ""},
		{"wrong-key", mint("alice@example.com", []string{"pg-admins"}, other, aud), codes.Unauthenticated, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deadline := time.Now().Add(replicaDeadline)
			for {
				who, err := h.admin.WhoAmI(bearer(tt.tok), &adminv1.WhoAmIRequest{})
				if grpcCode(err) == codes.Unavailable && time.Now().Before(deadline) {
					continue // the IdP's keys are still loading
				}
				if grpcCode(err) != tt.want {
					t.Fatalf("WhoAmI = %v, %v; want %v", who, err, tt.want)
				}
				if tt.want == codes.OK && (who.GetRole() != tt.role || who.GetAuthMethod() != "oidc") {
					t.Fatalf("WhoAmI = %v, want role %s by oidc", who, tt.role)
				}
				return
			}
		})
	}
	t.Run("email-and-groups", func(t *testing.T) {
		h := startReady(t, func(c *config.Config) {
			c.AdminOIDC = config.AdminOIDC{
				Issuer: issuer, JWKSURL: idp.URL + "/jwks", Audiences: []string{aud},
				OperatorClaim: "email", RolesClaim: "groups",
				Roles: map[string]string{"/staff/pg-admins": "admin"},
			}
		})
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
			"iss": issuer, "aud": aud, "sub": "f81d4fae", "email": "dana@example.com",
			"groups": []string{"/staff", "/staff/pg-admins"},
			"iat":    time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix(),
		})
		tok.Header["kid"] = "op1"
		signed, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(replicaDeadline)
		for {
			who, err := h.admin.WhoAmI(bearer(signed), &adminv1.WhoAmIRequest{})
			if grpcCode(err) == codes.Unavailable && time.Now().Before(deadline) {
				continue
			}
			if err != nil || who.GetName() != "dana@example.com" || who.GetRole() != "admin" {
				t.Fatalf("WhoAmI by email and groups = %v, %v", who, err)
			}
			return
		}
	})
	viewer := mint("bob@example.com", []string{"pg-support"}, key, aud)
	if _, err := h.admin.CreatePartner(bearer(viewer), &adminv1.CreatePartnerRequest{Id: "acme"}); grpcCode(err) != codes.PermissionDenied {
		t.Fatalf("IdP viewer creating a partner = %v, want PermissionDenied", err)
	}
	admin := mint("alice@example.com", []string{"pg-admins"}, key, aud)
	if _, err := h.admin.CreatePartner(bearer(admin), &adminv1.CreatePartnerRequest{Id: "acme"}); err != nil {
		t.Fatal(err)
	}
	evs, err := h.admin.ListAudit(bearer(admin), &adminv1.ListAuditRequest{Actor: "alice@example.com"})
	if err != nil || len(evs.GetEvents()) != 1 || evs.GetEvents()[0].GetAuthMethod() != "oidc" {
		t.Fatalf("audit of the IdP admin = %v, %v", evs.GetEvents(), err)
	}
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestOperatorTokenIsNotABootstrapToken(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.AdminToken = "pgop_" + strings.Repeat("A", 62)
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "operator token") {
		t.Fatalf("Validate with an operator token as the bootstrap token = %v", err)
	}
	cfg.AdminBootstrap = "disabled"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("with the bootstrap disabled the variable is the CLI's alone: %v", err)
	}
}

func TestAdminOIDCConfigNamesItsKeys(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.AdminOIDC = config.AdminOIDC{
		Issuer: "https://login.example.com", JWKSURL: "https://login.example.com/certs",
		OperatorClaim: "name", RolesClaim: "teams", Roles: map[string]string{"ops": "root"},
	}
	err := cfg.Validate()
	for _, key := range []string{"admin_oidc.audiences", "admin_oidc.operator_claim", "admin_oidc.roles_claim", "admin_oidc.roles"} {
		if err == nil || !strings.Contains(err.Error(), key+":") {
			t.Errorf("Validate = %v, want an error naming %s", err, key)
		}
	}
	if err != nil && strings.Contains(err.Error(), "client_claim") {
		t.Errorf("Validate names a key the admin_oidc section does not have: %v", err)
	}
}

func TestKeyPrefixIsNotAnAdminTokenPrefix(t *testing.T) {
	for _, prefix := range []string{"pgop_", "pgadm_"} {
		cfg := testConfig(t.TempDir())
		cfg.KeyPrefix = prefix
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "key_prefix:") {
			t.Errorf("key_prefix %q: Validate = %v, want a key_prefix error", prefix, err)
		}
	}
}
