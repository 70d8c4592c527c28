package forwardauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/partnergate/partnergate/authz"
	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/partner"
)

// benchIndex is a one-partner, one-key authz.Index: the cache is
// measured by its own benchmarks, and here only the transport's cost on
// top of the decision is of interest.
type benchIndex struct {
	key partner.KeyRecord
	p   *partner.Partner
}

func (i *benchIndex) Ready() bool { return true }
func (i *benchIndex) Key(_ context.Context, id string) (partner.KeyRecord, bool) {
	return i.key, id == i.key.ID
}
func (i *benchIndex) Partner(id string) (*partner.Partner, bool) { return i.p, id == i.p.ID }
func (i *benchIndex) Client(string, string) (string, bool)       { return "", false }
func (i *benchIndex) TokenRevoked(string, string) bool           { return false }

// BenchmarkForwardAuth measures GET /authorize as nginx asks it, and Envoy's
// http_service, in process (no sockets), against the decision alone
// (decide) in the same run: the difference is what the HTTP transport
// adds to a decision. The request is nginx's: 10 headers besides the
// forwarded ones.
func BenchmarkForwardAuth(b *testing.B) {
	format, err := apikey.NewFormat("pg_test_")
	if err != nil {
		b.Fatal(err)
	}
	hasher, err := apikey.NewHasher(1, map[int][]byte{1: []byte(strings.Repeat("p", 32))})
	if err != nil {
		b.Fatal(err)
	}
	k, err := format.Generate(nil)
	if err != nil {
		b.Fatal(err)
	}
	digest, v := hasher.Digest(k)
	idx := &benchIndex{
		key: partner.KeyRecord{ID: k.ID(), PartnerID: "acme", Scopes: "orders:read", Digest: digest, PepperVersion: v},
		p:   &partner.Partner{ID: "acme", Tier: "gold", Scopes: partner.Scopes{"orders:read"}, State: partner.Active},
	}
	dec, err := authz.New(authz.Options{Index: idx, Keys: format, Hasher: hasher})
	if err != nil {
		b.Fatal(err)
	}
	trusted, _ := ParseTrusted("k", []string{"192.0.2.0/24"})
	h, err := New(Options{Decider: dec, Trusted: trusted})
	if err != nil {
		b.Fatal(err)
	}
	header := func(cred string) http.Header {
		return http.Header{
			"Host": {"partnergate"}, "X-Original-Uri": {"/v1/orders?limit=10"}, "X-Original-Method": {"GET"},
			"X-Forwarded-For": {"198.51.100.7"}, "X-Forwarded-Host": {"api.example.com"}, "X-Forwarded-Proto": {"https"},
			"X-Request-Id": {"0123456789abcdef0123456789abcdef"}, "X-Partnergate-Required-Scopes": {"orders:read"},
			"X-Api-Key": {cred}, "User-Agent": {"partner-sdk/1.2"}, "Accept": {"application/json"},
			"Accept-Encoding": {"gzip"}, "Traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
		}
	}
	for _, c := range []struct {
		name   string
		cred   string
		status int
	}{
		{"allow", k.Reveal(), 200},
		{"deny-unknown", mustKey(b, format).Reveal(), 401},
	} {
		hdr := header(c.cred)
		b.Run(c.name+"/decide", func(b *testing.B) {
			req := authz.Request{Method: "GET", Path: "/v1/orders?limit=10", Headers: authz.MultiHeaders(hdr), SourceAddr: "198.51.100.7", RequiredScopes: "orders:read"}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					d, err := dec.Decide(ctx, req)
					if err != nil || d.Allowed() != (c.status == 200) {
						b.Fatalf("decided %v, %v", d.Reason, err)
					}
				}
			})
		})
		for _, target := range []string{AuthorizePath, EnvoyPrefix + "/v1/orders?limit=10"} {
			name := "authorize"
			if target != AuthorizePath {
				name = "envoy"
			}
			b.Run(c.name+"/"+name, func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					r := httptest.NewRequest("GET", target, nil)
					r.Header = hdr
					for pb.Next() {
						w := discard{h: http.Header{}}
						h.ServeHTTP(&w, r)
						if w.status != c.status {
							b.Fatalf("status %d", w.status)
						}
					}
				})
			})
		}
	}
}

func mustKey(b *testing.B, f apikey.Format) apikey.Key {
	k, err := f.Generate(nil)
	if err != nil {
		b.Fatal(err)
	}
	return k
}

// discard is a ResponseWriter that keeps only the status, as a server's
// would cost little beside the handler.
type discard struct {
	h      http.Header
	status int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(s int)           { d.status = s }
