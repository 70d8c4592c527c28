// Test strategy: every test drives Check over real gRPC on loopback with
// go-control-plane's own client, against a hand-written in-memory Index, so
// the wire contract (status codes, headers, removals, metadata, bodies) is
// what Envoy would see. Each deny case asserts the precise internal reason
// (through the authz.Auditor) as well as the public reason and HTTP status, and
// that every 401 looks the same from outside. Cases that must not touch the
// index (bad checksum, garbage) assert the index was not asked.
package extauthz

import (
	"context"
	"encoding/json"
	"hash/crc32"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/partnergate/partnergate/authz"
	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/policy"
)

// fakeIndex is an in-memory Index that counts key look-ups.
type fakeIndex struct {
	ready    atomic.Bool
	mu       sync.Mutex
	keys     map[string]partner.KeyRecord
	partners map[string]*partner.Partner
	lookups  atomic.Int64
}

func (f *fakeIndex) Ready() bool { return f.ready.Load() }

func (f *fakeIndex) Key(_ context.Context, id string) (partner.KeyRecord, bool) {
	f.lookups.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.keys[id]
	return r, ok
}

func (f *fakeIndex) Partner(id string) (*partner.Partner, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.partners[id]
	return p, ok
}

// recorder is an authz.Auditor that keeps the last decision.
type recorder struct {
	mu   sync.Mutex
	last authz.Decision
}

func (r *recorder) Decision(_ context.Context, d authz.Decision) {
	r.mu.Lock()
	r.last = d
	r.mu.Unlock()
}

func (r *recorder) get() authz.Decision {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

type fixture struct {
	index  *fakeIndex
	audit  *recorder
	client authv3.AuthorizationClient
	format apikey.Format
	hasher *apikey.Hasher
	// keys by name: "acme" (orders:read orders:write), "acme-read"
	// (orders:read), "expired", "revoked", "globex", "suspended"
	keys map[string]apikey.Key
}

func newFixture(t testing.TB, pol *policy.Policy) *fixture {
	t.Helper()
	format, err := apikey.NewFormat("pg_test_")
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := apikey.NewHasher(1, map[int][]byte{1: []byte(strings.Repeat("p", 32))})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{
		index: &fakeIndex{
			keys: map[string]partner.KeyRecord{},
			partners: map[string]*partner.Partner{
				"acme":   {ID: "acme", Tier: "gold", Scopes: partner.Scopes{"orders:read", "orders:write"}, State: partner.Active},
				"globex": {ID: "globex", Tier: "free", Scopes: partner.Scopes{"orders:read"}, State: partner.Active},
				"umbra":  {ID: "umbra", Tier: "free", Scopes: partner.Scopes{"orders:read"}, State: partner.Suspended},
			},
		},
		audit:  &recorder{},
		format: format,
		hasher: hasher,
		keys:   map[string]apikey.Key{},
	}
	f.index.ready.Store(true)
	add := func(name, partnerID, scopes string, mutate func(*partner.KeyRecord)) {
		k, err := format.Generate(nil)
		if err != nil {
			t.Fatal(err)
		}
		digest, v := hasher.Digest(k)
		rec := partner.KeyRecord{ID: k.ID(), PartnerID: partnerID, Scopes: scopes, Digest: digest, PepperVersion: v}
		if mutate != nil {
			mutate(&rec)
		}
		f.index.keys[k.ID()] = rec
		f.keys[name] = k
	}
	add("acme", "acme", "orders:read orders:write", nil)
	add("acme-read", "acme", "orders:read", nil)
	add("expired", "acme", "orders:read", func(r *partner.KeyRecord) { r.ExpiresAt = testNow.Add(-time.Second).UnixNano() })
	add("valid-until-later", "acme", "orders:read", func(r *partner.KeyRecord) { r.ExpiresAt = testNow.Add(time.Hour).UnixNano() })
	add("revoked", "acme", "orders:read", func(r *partner.KeyRecord) { r.Revoked = true })
	add("globex", "globex", "orders:read", nil)
	add("suspended", "umbra", "orders:read", nil)
	add("orphan", "nobody", "orders:read", nil)

	srv, err := newAuthz(authz.Options{
		Index:   f.index,
		Keys:    format,
		Hasher:  hasher,
		Policy:  pol,
		Auditor: f.audit,
		Now:     func() time.Time { return testNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.client = serve(t, srv)
	return f
}

// newAuthz returns a Check server over a decider made with opts.
func newAuthz(opts authz.Options) (*Server, error) {
	dec, err := authz.New(opts)
	if err != nil {
		return nil, err
	}
	return New(Options{Decider: dec})
}

// serve starts srv on a loopback port and returns a client for it.
func serve(t testing.TB, srv *Server) authv3.AuthorizationClient {
	t.Helper()
	return serveFunc(t, srv.respond)
}

// request builds a CheckRequest like Envoy's for an orders route.
func request(method, path string, hdrs map[string]string, ext map[string]string) *authv3.CheckRequest {
	h := map[string]string{
		":authority": "api.example.com", ":method": method, ":path": path, ":scheme": "https",
		"user-agent": "partner-sdk/1.2", "accept": "application/json", "x-request-id": "req-123",
		"x-forwarded-proto": "https",
	}
	for k, v := range hdrs {
		h[k] = v
	}
	if ext == nil {
		ext = map[string]string{"required_scopes": "orders:read"}
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "203.0.113.7", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 41234}},
		}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: "req-123", Method: method, Path: path, Host: "api.example.com", Scheme: "https", Protocol: "HTTP/2", Headers: h,
		}},
		ContextExtensions: ext,
	}}
}

func bearerOf(k apikey.Key) map[string]string {
	return map[string]string{"authorization": "Bearer " + k.Reveal()}
}

func TestCheckAllowSetsIdentityAndStripsSpoofs(t *testing.T) {
	f := newFixture(t, nil)
	key := f.keys["acme"]
	hdrs := bearerOf(key)
	hdrs["x-partner-id"] = "acme" // agrees: harmless, overwritten
	hdrs["x-partner-scopes"] = "admin"
	hdrs["x-partner-admin"] = "true"
	hdrs["x-partner-tier"] = "platinum"
	resp, err := f.client.Check(context.Background(), request("GET", "/v1/orders?limit=10", hdrs, nil))
	if err != nil {
		t.Fatal(err)
	}
	overwrite := corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
	want := &authv3.CheckResponse{
		Status: statusOK(),
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
			Headers: []*corev3.HeaderValueOption{
				{Header: &corev3.HeaderValue{Key: "x-partner-id", Value: "acme"}, AppendAction: overwrite},
				{Header: &corev3.HeaderValue{Key: "x-partner-scopes", Value: "orders:read orders:write"}, AppendAction: overwrite},
				{Header: &corev3.HeaderValue{Key: "x-partner-credential", Value: key.ID()}, AppendAction: overwrite},
				{Header: &corev3.HeaderValue{Key: "x-partner-tier", Value: "gold"}, AppendAction: overwrite},
			},
			HeadersToRemove: []string{"authorization", "x-partner-admin"},
		}},
		DynamicMetadata: &structpb.Struct{Fields: map[string]*structpb.Value{
			"partner_id":    structpb.NewStringValue("acme"),
			"tier":          structpb.NewStringValue("gold"),
			"credential_id": structpb.NewStringValue(key.ID()),
		}},
	}
	if diff := cmp.Diff(want, resp, protocmp.Transform(),
		protocmp.SortRepeated(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("Check response mismatch (-want +got):\n%s", diff)
	}
	if d := f.audit.get(); d.Reason != authz.ReasonAllowed || d.PartnerID != "acme" || d.CredentialID != key.ID() || d.ClientAddr != "203.0.113.7" {
		t.Errorf("audited decision = %+v", d)
	}
}

func TestCheckAllowWithAPIKeyHeaderRemovesIt(t *testing.T) {
	f := newFixture(t, nil)
	resp, err := f.client.Check(context.Background(), request("GET", "/v1/orders", map[string]string{"x-api-key": f.keys["acme-read"].Reveal()}, nil))
	if err != nil {
		t.Fatal(err)
	}
	ok := resp.GetOkResponse()
	if ok == nil {
		t.Fatalf("denied: %v", resp.GetDeniedResponse())
	}
	if diff := cmp.Diff([]string{"x-api-key"}, ok.GetHeadersToRemove()); diff != "" {
		t.Errorf("headers_to_remove (-want +got):\n%s", diff)
	}
	for _, h := range ok.GetHeaders() {
		for _, removed := range ok.GetHeadersToRemove() {
			if h.GetHeader().GetKey() == removed {
				t.Errorf("header %q is both set and removed; Envoy removes after setting", removed)
			}
		}
		if strings.Contains(h.GetHeader().GetValue(), f.keys["acme-read"].Reveal()) {
			t.Errorf("header %q carries the secret", h.GetHeader().GetKey())
		}
	}
}

func statusOK() *rpcstatus.Status { return &rpcstatus.Status{Code: int32(codes.OK)} }

func TestCheckDenials(t *testing.T) {
	pol, err := policy.Parse([]byte(`
routes:
  - methods: [GET]
    path: /v1/reports/**
    scopes: [reports:read]
  - path: /v1/ping
    any_partner: true
`))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, pol)
	acme := f.keys["acme"]
	tampered := []byte(acme.Reveal())
	tampered[len("pg_test_")+apikey.IDLen+5] ^= 1 // flips a secret char; checksum now wrong
	wrongSecret := secretSwapped(t, f, acme)
	noExt := map[string]string{}

	tests := []struct {
		name        string
		req         *authv3.CheckRequest
		reason      authz.Reason
		wantLookups int64 // -1: don't care
	}{
		{"missing-credential", request("GET", "/v1/orders", nil, nil), authz.ReasonMissingCredential, 0},
		{"both-headers", request("GET", "/v1/orders", map[string]string{"authorization": "Bearer " + acme.Reveal(), "x-api-key": acme.Reveal()}, nil), authz.ReasonMalformedCredential, 0},
		{"repeated-authorization", request("GET", "/v1/orders", map[string]string{"authorization": "Bearer " + acme.Reveal() + ",Bearer " + acme.Reveal()}, nil), authz.ReasonMalformedCredential, 0},
		{"basic-scheme", request("GET", "/v1/orders", map[string]string{"authorization": "Basic " + acme.Reveal()}, nil), authz.ReasonMalformedCredential, 0},
		{"garbage", request("GET", "/v1/orders", map[string]string{"x-api-key": "hunter2"}, nil), authz.ReasonMalformedCredential, 0},
		{"wrong-checksum-no-lookup", request("GET", "/v1/orders", map[string]string{"x-api-key": string(tampered)}, nil), authz.ReasonMalformedCredential, 0},
		{"unknown-key", request("GET", "/v1/orders", bearerOf(mustGenerate(t, f.format)), nil), authz.ReasonUnknownCredential, 1},
		{"wrong-secret", request("GET", "/v1/orders", map[string]string{"x-api-key": wrongSecret}, nil), authz.ReasonWrongSecret, 1},
		{"revoked", request("GET", "/v1/orders", bearerOf(f.keys["revoked"]), nil), authz.ReasonRevokedCredential, 1},
		{"expired", request("GET", "/v1/orders", bearerOf(f.keys["expired"]), nil), authz.ReasonExpiredCredential, 1},
		{"partner-gone", request("GET", "/v1/orders", bearerOf(f.keys["orphan"]), nil), authz.ReasonUnknownPartner, 1},
		{"partner-suspended", request("GET", "/v1/orders", bearerOf(f.keys["suspended"]), nil), authz.ReasonPartnerSuspended, 1},
		{"insufficient-scope", request("POST", "/v1/orders", bearerOf(f.keys["acme-read"]), map[string]string{"required_scopes": "orders:write"}), authz.ReasonInsufficientScope, 1},
		{"all-scopes-required", request("POST", "/v1/orders", bearerOf(acme), map[string]string{"required_scopes": "orders:read orders:write orders:admin"}), authz.ReasonInsufficientScope, 1},
		{"scope-not-granted-to-partner", request("GET", "/v1/orders", bearerOf(f.keys["globex"]), map[string]string{"required_scopes": "orders:write"}), authz.ReasonInsufficientScope, 1},
		{"tenant-header-other-partner", request("GET", "/v1/orders", merge(bearerOf(acme), map[string]string{"x-partner-id": "globex"}), nil), authz.ReasonTenantMismatch, 1},
		{"tenant-query-other-partner", request("GET", "/v1/orders?partnerId=globex", bearerOf(acme), nil), authz.ReasonTenantMismatch, 1},
		{"tenant-query-snake-case", request("GET", "/v1/orders?limit=5&partner_id=globex", bearerOf(acme), nil), authz.ReasonTenantMismatch, 1},
		{"tenant-query-second-value", request("GET", "/v1/orders?partner_id=acme&partner_id=globex", bearerOf(acme), nil), authz.ReasonTenantMismatch, 1},
		{"route-without-scopes-denied", request("GET", "/v1/unknown", bearerOf(acme), noExt), authz.ReasonRouteNotAllowed, 1},
		{"policy-scope-missing", request("GET", "/v1/reports/2026", bearerOf(acme), noExt), authz.ReasonInsufficientScope, 1},
		{"policy-non-canonical-path", request("GET", "/v1/reports%2f2026", bearerOf(acme), noExt), authz.ReasonRouteNotAllowed, 1},
		{"broken-route-config", request("GET", "/v1/orders", bearerOf(acme), map[string]string{"required_scopes": `orders:read"`}), authz.ReasonRouteNotAllowed, 1},
	}
	var first401 *authv3.DeniedHttpResponse
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.index.lookups.Load()
			resp, err := f.client.Check(context.Background(), tt.req)
			if err != nil {
				t.Fatalf("Check returned a fault, want an in-band denial: %v", err)
			}
			denied := resp.GetDeniedResponse()
			if denied == nil || resp.GetOkResponse() != nil {
				t.Fatalf("allowed; want %s", tt.reason)
			}
			if got := f.audit.get().Reason; got != tt.reason {
				t.Errorf("reason = %s, want %s", got, tt.reason)
			}
			if got, want := codes.Code(resp.GetStatus().GetCode()), code(tt.reason); got != want {
				t.Errorf("status = %v, want %v", got, want)
			}
			var body struct{ Error, RequestID string }
			if err := json.Unmarshal([]byte(denied.GetBody()), &body); err != nil {
				t.Fatalf("body %q is not JSON: %v", denied.GetBody(), err)
			}
			if body.Error != tt.reason.Public() || !strings.Contains(denied.GetBody(), `"request_id":"req-123"`) {
				t.Errorf("body = %s, want error %q and the request id", denied.GetBody(), tt.reason.Public())
			}
			if tt.wantLookups >= 0 {
				if got := f.index.lookups.Load() - before; got != tt.wantLookups {
					t.Errorf("index look-ups = %d, want %d", got, tt.wantLookups)
				}
			}
			hdr := headerMap(denied.GetHeaders())
			switch code(tt.reason) {
			case codes.Unauthenticated:
				if denied.GetStatus().GetCode() != 401 || !strings.HasPrefix(hdr["www-authenticate"], "Bearer ") {
					t.Errorf("401 with WWW-Authenticate wanted, got %d %v", denied.GetStatus().GetCode(), hdr)
				}
				// Every presented-but-bad credential looks the same.
				if tt.reason != authz.ReasonMissingCredential {
					if first401 == nil {
						first401 = denied
					} else if diff := cmp.Diff(first401, denied, protocmp.Transform()); diff != "" {
						t.Errorf("401 responses differ by reason, leaking why:\n%s", diff)
					}
				}
			case codes.PermissionDenied:
				if denied.GetStatus().GetCode() != 403 {
					t.Errorf("HTTP status = %d, want 403", denied.GetStatus().GetCode())
				}
			}
			for _, h := range denied.GetHeaders() {
				if strings.Contains(h.GetHeader().GetValue(), "pg_test_") {
					t.Errorf("deny header %s echoes a credential", h.GetHeader().GetKey())
				}
			}
			if strings.Contains(denied.GetBody(), "pg_test_") {
				t.Error("deny body echoes a credential")
			}
		})
	}
}

func TestCheckPolicyAllows(t *testing.T) {
	pol, err := policy.Parse([]byte(`
routes:
  - methods: [GET]
    path: /v1/orders/**
    scopes: [orders:read]
  - path: /v1/ping
    any_partner: true
`))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, pol)
	tests := []struct {
		name, method, path string
		key                string
	}{
		{"rule-with-scope", "GET", "/v1/orders/42", "acme-read"},
		{"double-slash-and-case", "GET", "//V1/Orders//42/", "acme-read"},
		{"any-partner-rule", "POST", "/v1/ping", "globex"},
		{"expiry-in-future", "GET", "/v1/orders", "valid-until-later"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := f.client.Check(context.Background(), request(tt.method, tt.path, bearerOf(f.keys[tt.key]), map[string]string{}))
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetOkResponse() == nil {
				t.Fatalf("denied (%s): %s", f.audit.get().Reason, resp.GetDeniedResponse().GetBody())
			}
		})
	}
}

func TestCheckDefaultAuthenticatedOpensUnmatchedRoutes(t *testing.T) {
	f := newFixture(t, policy.Empty(policy.Authenticated))
	resp, err := f.client.Check(context.Background(), request("GET", "/anything", bearerOf(f.keys["globex"]), map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetOkResponse() == nil {
		t.Fatalf("denied: %s", f.audit.get().Reason)
	}
}

func TestCheckRawHeaderMap(t *testing.T) {
	f := newFixture(t, nil)
	raw := func(pairs ...string) *corev3.HeaderMap {
		m := &corev3.HeaderMap{}
		for i := 0; i < len(pairs); i += 2 {
			m.Headers = append(m.Headers, &corev3.HeaderValue{Key: pairs[i], RawValue: []byte(pairs[i+1])})
		}
		return m
	}
	bearer := "Bearer " + f.keys["acme"].Reveal()
	tests := []struct {
		name    string
		headers *corev3.HeaderMap
		allowed bool
	}{
		{"single", raw("authorization", bearer, "x-partner-debug", "1"), true},
		{"repeated-authorization", raw("authorization", bearer, "authorization", bearer), false},
		{"spoofed-tenant-twice", raw("authorization", bearer, "x-partner-id", "acme", "x-partner-id", "globex"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request("GET", "/v1/orders", nil, nil)
			req.Attributes.Request.Http.Headers = nil
			req.Attributes.Request.Http.HeaderMap = tt.headers
			resp, err := f.client.Check(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.GetOkResponse() != nil; got != tt.allowed {
				t.Fatalf("allowed = %v, want %v (%s)", got, tt.allowed, f.audit.get().Reason)
			}
			if tt.allowed {
				if diff := cmp.Diff([]string{"authorization", "x-partner-debug"}, resp.GetOkResponse().GetHeadersToRemove(),
					cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
					t.Errorf("headers_to_remove (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestCheckFaultsFailClosed(t *testing.T) {
	t.Run("cold-index", func(t *testing.T) {
		f := newFixture(t, nil)
		f.index.ready.Store(false)
		_, err := f.client.Check(context.Background(), request("GET", "/v1/orders", bearerOf(f.keys["acme"]), nil))
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("err = %v, want Unavailable", err)
		}
	})
	t.Run("cancelled-context", func(t *testing.T) {
		f := newFixture(t, nil)
		srv, _ := newAuthz(authz.Options{Index: f.index, Keys: f.format, Hasher: f.hasher, Now: func() time.Time { return testNow }})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		resp, err := srv.Check(ctx, request("GET", "/v1/orders", bearerOf(f.keys["acme"]), nil))
		if err == nil || resp != nil {
			t.Fatalf("Check on a cancelled context = %v, %v; want an error", resp, err)
		}
	})
	t.Run("pepper-missing", func(t *testing.T) {
		f := newFixture(t, nil)
		other, _ := apikey.NewHasher(2, map[int][]byte{2: []byte(strings.Repeat("q", 32))})
		srv, _ := newAuthz(authz.Options{Index: f.index, Keys: f.format, Hasher: other, Now: func() time.Time { return testNow }})
		resp, err := srv.Check(context.Background(), request("GET", "/v1/orders", bearerOf(f.keys["acme"]), nil))
		if status.Code(err) != codes.Internal || resp != nil {
			t.Fatalf("Check with a missing pepper = %v, %v; want Internal", resp, err)
		}
	})
}

func TestNewRequiresDependencies(t *testing.T) {
	_, err := newAuthz(authz.Options{})
	for _, want := range []string{"Index", "Keys", "Hasher"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("newAuthz(authz.Options{}) = %v; want it to name %s", err, want)
		}
	}
}

func mustGenerate(t testing.TB, f apikey.Format) apikey.Key {
	k, err := f.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// secretSwapped returns a well-formed key with k's id but another secret.
func secretSwapped(t testing.TB, f *fixture, k apikey.Key) string {
	other := mustGenerate(t, f.format).Reveal()
	prefix := len("pg_test_")
	body := k.Reveal()[:prefix+apikey.IDLen] + other[prefix+apikey.IDLen:len(other)-apikey.ChecksumLen]
	return withChecksum(t, f.format, body)
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func headerMap(hs []*corev3.HeaderValueOption) map[string]string {
	m := map[string]string{}
	for _, h := range hs {
		m[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	return m
}

// withChecksum appends the format's checksum to body, computed here
// independently of the apikey package: CRC32 (IEEE) in 6 base62 digits.
func withChecksum(t testing.TB, f apikey.Format, body string) string {
	t.Helper()
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	sum := crc32.ChecksumIEEE([]byte(body))
	var out [apikey.ChecksumLen]byte
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = alphabet[sum%62]
		sum /= 62
	}
	key := body + string(out[:])
	if _, err := f.Parse(key); err != nil {
		t.Fatalf("test key does not parse: %v", err)
	}
	return key
}
