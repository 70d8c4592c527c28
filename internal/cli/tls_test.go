package cli_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/partnergate/partnergate/internal/admin"
	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/cli"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store/sqlstore"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// pemFiles writes a certificate signed by ca (self-signed when ca is nil)
// and its key, and returns the certificate, its key and the two paths.
func pemFiles(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, tmpl *x509.Certificate) (*x509.Certificate, *ecdsa.PrivateKey, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.Subject = pkix.Name{CommonName: name}
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	parent, signer := ca, caKey
	if ca == nil {
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kder, _ := x509.MarshalECPrivateKey(key)
	certPath, keyPath := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key, certPath, keyPath
}

// TestAdminTLSFlags runs the CLI against an admin API over mutual TLS:
// --admin-ca checks the server, --admin-cert and --admin-key (or their
// environment variables) make the operator the certificate's SAN names.
func TestAdminTLSFlags(t *testing.T) {
	dir := t.TempDir()
	ca, caKey, caPath, _ := pemFiles(t, dir, "ca", nil, nil, &x509.Certificate{IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign})
	_, _, srvCert, srvKey := pemFiles(t, dir, "server", ca, caKey, &x509.Certificate{
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
	san, _ := url.Parse("spiffe://cluster.local/ns/ops/sa/deployer")
	_, _, cliCert, cliKey := pemFiles(t, dir, "deployer", ca, caKey, &x509.Certificate{
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, URIs: []*url.URL{san}})

	st, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(dir, "pg.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	format, _ := apikey.NewFormat(apikey.DefaultPrefix)
	pepper := make([]byte, 32)
	rand.Read(pepper)
	hasher, _ := apikey.NewHasher(1, map[int][]byte{1: pepper})
	if err := st.CreateOperator(context.Background(), &partner.Operator{Name: "deployer", Role: partner.RoleViewer, CertSAN: san.String(),
		ExpiresAt: time.Now().Add(time.Hour)}, nil, partner.AuditEvent{Actor: "test", Action: "operator.create"}); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	auth := &admin.Authenticator{Store: st, Hasher: hasher}
	unary, stream := auth.Interceptors()
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool,
		ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12})), grpc.UnaryInterceptor(unary), grpc.StreamInterceptor(stream))
	adminv1.RegisterAdminServer(gs, &admin.Server{Store: st, Format: format, Hasher: hasher})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	t.Setenv(cli.EnvAdminAddr, lis.Addr().String())
	t.Setenv(cli.EnvAdminToken, "")

	who := object(t, mustRun(t, "whoami", "--admin-ca", caPath, "--admin-cert", cliCert, "--admin-key", cliKey, "-o", "json"))
	if who["name"] != "deployer" || who["auth_method"] != "client_certificate" {
		t.Fatalf("whoami over mutual TLS = %v", who)
	}
	t.Setenv(cli.EnvAdminCA, caPath)
	t.Setenv(cli.EnvAdminCert, cliCert)
	t.Setenv(cli.EnvAdminKey, cliKey)
	if who := object(t, mustRun(t, "whoami", "-o", "json")); who["name"] != "deployer" {
		t.Fatalf("whoami with the environment's certificate = %v", who)
	}
	t.Setenv(cli.EnvAdminCert, "")
	t.Setenv(cli.EnvAdminKey, "")
	code, _, stderr := run(t, "whoami")
	if code != cli.ExitError || !strings.Contains(stderr, cli.EnvAdminToken) {
		t.Fatalf("whoami with neither a token nor a certificate: exit %d, %q", code, stderr)
	}
	t.Setenv(cli.EnvAdminToken, "pgop_x")
	code, _, stderr = run(t, "whoami", "--admin-ca", filepath.Join(dir, "server-key.pem"))
	if code != cli.ExitError || !strings.Contains(stderr, "--admin-ca") {
		t.Fatalf("a CA file without certificates: exit %d, %q", code, stderr)
	}
}
