package peercert

// Test strategy: certificates are real, made by a test CA, and encoded the
// way Envoy forwards them (every byte outside RFC 3986's unreserved set
// percent-encoded). Each rule of Parse is a table row; the Reader is
// checked to parse a certificate once, to answer from its cache with the
// same result, and to stay bounded. The fuzz target feeds arbitrary text.

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/partnergate/partnergate/internal/pkitest"
)

func TestParse(t *testing.T) {
	ca := pkitest.NewCA(t, "test CA")
	leaf := ca.Issue(t, pkitest.Names{Subject: "acme", URIs: []string{"spiffe://partners.example/acme"}, DNS: []string{"api.acme.example"}})
	sum := sha256.Sum256(leaf.DER)
	want := &Cert{
		Thumbprint:  base64.RawURLEncoding.EncodeToString(sum[:]),
		Fingerprint: hex.EncodeToString(sum[:]),
		URIs:        []string{"spiffe://partners.example/acme"},
		DNSNames:    []string{"api.acme.example"},
	}
	tests := []struct {
		name    string
		in      string
		want    *Cert
		wantErr bool
	}{
		{name: "envoy-encoded-pem", in: Encode(leaf.PEM), want: want},
		{name: "plus-left-literal", in: strings.ReplaceAll(Encode(leaf.PEM), "%2B", "+"), want: want},
		{name: "unencoded-pem", in: string(leaf.PEM), want: want},
		{name: "empty", in: "", wantErr: true},
		{name: "not-pem", in: Encode([]byte("hello")), wantErr: true},
		{name: "bad-escape", in: "%zz", wantErr: true},
		{name: "private-key-block", in: Encode(leaf.KeyPEM), wantErr: true},
		{name: "certificate-then-another-block", in: Encode(append(append([]byte{}, leaf.PEM...), ca.PEM...)), wantErr: true},
		{name: "garbage-der", in: Encode(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x03, 2, 1, 1}})), wantErr: true},
		{name: "too-long", in: strings.Repeat("A", MaxEncodedLen+1), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("Parse = %v, %v; want ErrMalformed", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEncodeMatchesEnvoy: Envoy escapes everything but unreserved
// characters, so the PEM's newlines, spaces, "+", "/" and "=" are escaped.
func TestEncodeMatchesEnvoy(t *testing.T) {
	got := Encode([]byte("-----BEGIN CERTIFICATE-----\nab+/=\n"))
	want := "-----BEGIN%20CERTIFICATE-----%0Aab%2B%2F%3D%0A"
	if got != want {
		t.Errorf("Encode = %q, want %q", got, want)
	}
}

func TestReaderParsesOncePerCertificate(t *testing.T) {
	ca := pkitest.NewCA(t, "test CA")
	a := Encode(ca.Issue(t, pkitest.Names{Subject: "a", DNS: []string{"a.example"}}).PEM)
	b := Encode(ca.Issue(t, pkitest.Names{Subject: "b", DNS: []string{"b.example"}}).PEM)
	r := NewReader(Options{})
	ca1, err := r.Read(a)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := r.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	if ca1.Thumbprint == cb.Thumbprint {
		t.Fatal("two certificates, one thumbprint")
	}
	// The same text again is the same *Cert: it was not parsed again.
	if again, _ := r.Read(string([]byte(a))); again != ca1 {
		t.Error("a repeated certificate was parsed again")
	}
	if c, err := r.Read(""); c != nil || err != nil {
		t.Errorf("Read(\"\") = %v, %v; want nil, nil", c, err)
	}
	_, err1 := r.Read("%zz")
	_, err2 := r.Read("%zz")
	if !errors.Is(err1, ErrMalformed) || !errors.Is(err2, ErrMalformed) {
		t.Errorf("broken certificate: %v then %v, want ErrMalformed twice", err1, err2)
	}
}

func TestReaderBoundedAndConcurrent(t *testing.T) {
	ca := pkitest.NewCA(t, "test CA")
	var certs []string
	var want []string
	for i := range 40 {
		l := ca.Issue(t, pkitest.Names{Subject: fmt.Sprint(i)})
		certs = append(certs, Encode(l.PEM))
		sum := sha256.Sum256(l.DER)
		want = append(want, base64.RawURLEncoding.EncodeToString(sum[:]))
	}
	r := NewReader(Options{CacheSize: 8})
	if r.table.Cap() > 14 {
		t.Fatalf("cache holds %d, want a bound near 8", r.table.Cap())
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				k := (i + g) % len(certs)
				c, err := r.Read(certs[k])
				if err != nil || c.Thumbprint != want[k] {
					t.Errorf("Read(cert %d) = %v, %v; want thumbprint %s", k, c, err, want[k])
					return
				}
			}
		})
	}
	wg.Wait()
}

// FuzzParse: the forwarded certificate comes from the client's TLS
// handshake (or, without TLS validation in front, from anyone); reading it
// must never panic, must return a certificate or ErrMalformed, and a
// certificate's thumbprint and fingerprint must be the same digest.
func FuzzParse(f *testing.F) {
	f.Add("")                                                                            // no certificate
	f.Add("%zz")                                                                         // broken escape
	f.Add("-----BEGIN%20CERTIFICATE-----%0AMAMCAQE%3D%0A-----END%20CERTIFICATE-----%0A") // PEM of garbage DER
	f.Add("-----BEGIN CERTIFICATE-----\nMAMCAQE+\n-----END CERTIFICATE-----\n")          // unescaped, with '+'
	ca := pkitest.NewCA(f, "fuzz CA")
	f.Add(Encode(ca.Issue(f, pkitest.Names{Subject: "seed", URIs: []string{"spiffe://x/y"}, DNS: []string{"x.example"}}).PEM)) // a real one
	r := NewReader(Options{CacheSize: 64})
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse error %v does not wrap ErrMalformed", err)
			}
			return
		}
		raw, _ := base64.RawURLEncoding.DecodeString(c.Thumbprint)
		if hex.EncodeToString(raw) != c.Fingerprint {
			t.Fatalf("thumbprint %s and fingerprint %s differ", c.Thumbprint, c.Fingerprint)
		}
		if rc, err := r.Read(s); err != nil || rc.Thumbprint != c.Thumbprint {
			t.Fatalf("Reader disagrees with Parse: %v, %v", rc, err)
		}
	})
}
