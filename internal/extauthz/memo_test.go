package extauthz

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/partnergate/partnergate/authz"
	"github.com/partnergate/partnergate/internal/partner"
)

// wantAllow is the allow response for one identity.
func wantAllow(partnerID, scopes, credentialID, tier string, remove ...string) *authv3.CheckResponse {
	set := func(k, v string) *corev3.HeaderValueOption {
		return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: v}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD}
	}
	return &authv3.CheckResponse{
		Status: statusOK(),
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
			Headers: []*corev3.HeaderValueOption{
				set("x-partner-id", partnerID), set("x-partner-scopes", scopes),
				set("x-partner-credential", credentialID), set("x-partner-tier", tier),
			},
			HeadersToRemove: remove,
		}},
		DynamicMetadata: &structpb.Struct{Fields: map[string]*structpb.Value{
			"partner_id":    structpb.NewStringValue(partnerID),
			"tier":          structpb.NewStringValue(tier),
			"credential_id": structpb.NewStringValue(credentialID),
		}},
	}
}

// The allow memo must never answer one request with the response of
// another: each step changes what the response must say, and the same key
// is checked again after each.
func TestAllowResponseFollowsEveryChange(t *testing.T) {
	f := newFixture(t, nil)
	key := f.keys["acme"]
	id := key.ID()
	bearer := bearerOf(key)
	apiKey := map[string]string{"x-api-key": key.Reveal()}
	spoofed := merge(bearer, map[string]string{"x-partner-admin": "true"})
	narrow := func() {
		f.index.mu.Lock()
		f.index.partners["acme"] = &partner.Partner{ID: "acme", Tier: "free", Scopes: partner.Scopes{"orders:read"}, State: partner.Active}
		f.index.mu.Unlock()
	}
	steps := []struct {
		name   string
		before func()
		hdrs   map[string]string
		want   *authv3.CheckResponse
	}{
		{"first-sight", nil, bearer, wantAllow("acme", "orders:read orders:write", id, "gold", "authorization")},
		{"repeat", nil, bearer, wantAllow("acme", "orders:read orders:write", id, "gold", "authorization")},
		{"same-key-other-header", nil, apiKey, wantAllow("acme", "orders:read orders:write", id, "gold", "x-api-key")},
		{"back-to-bearer", nil, bearer, wantAllow("acme", "orders:read orders:write", id, "gold", "authorization")},
		{"spoofed-header", nil, spoofed, wantAllow("acme", "orders:read orders:write", id, "gold", "authorization", "x-partner-admin")},
		{"spoofed-header-mixed-case", nil, merge(bearer, map[string]string{"X-Partner-Admin": "true"}), wantAllow("acme", "orders:read orders:write", id, "gold", "authorization", "x-partner-admin")},
		{"after-spoof", nil, bearer, wantAllow("acme", "orders:read orders:write", id, "gold", "authorization")},
		{"partner-narrowed-and-moved-tier", narrow, bearer, wantAllow("acme", "orders:read", id, "free", "authorization")},
		{"other-key-same-partner", nil, bearerOf(f.keys["acme-read"]), wantAllow("acme", "orders:read", f.keys["acme-read"].ID(), "free", "authorization")},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		resp, err := f.client.Check(context.Background(), request("GET", "/v1/orders", s.hdrs, map[string]string{ContextKeyRequiredScopes: "orders:read"}))
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		// headers_to_remove follows the request's header map: any order.
		if diff := cmp.Diff(s.want, resp, protocmp.Transform(), protocmp.SortRepeated(func(a, b string) bool { return a < b })); diff != "" {
			t.Errorf("%s: response (-want +got):\n%s", s.name, diff)
		}
	}
}

// Colliding credentials share a slot and take it from each other; each
// must still get its own response.
func TestAllowMemoCollisions(t *testing.T) {
	m := newAllowMemo(0)
	for round := range 3 {
		for i := range 3 * defaultAllowResponses { // three times the memo's room
			d := &authz.Decision{PartnerID: "p", Scopes: "s", CredentialID: fmt.Sprintf("cred%06d", i), Tier: "free", CredentialHeader: headerAuthorization}
			r := m.get(d).resp
			got := r.message.GetDynamicMetadata().GetFields()[MetadataCredentialID].GetStringValue()
			if got != d.CredentialID {
				t.Fatalf("round %d: response for %s names %s", round, d.CredentialID, got)
			}
			if sent := decodeWire(t, r); !proto.Equal(sent, r.message) {
				t.Fatalf("round %d: the encoding sent for %s is not its response: %v", round, d.CredentialID, sent)
			}
		}
	}
}

// A repeated allow is served from the memo: the same immutable message
// and encoding, not rebuilt ones.
func TestAllowMemoServesRepeats(t *testing.T) {
	f := newFixture(t, nil)
	srv, err := newAuthz(authz.Options{Index: f.index, Keys: f.format, Hasher: f.hasher, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	req := request("GET", "/v1/orders", bearerOf(f.keys["acme"]), map[string]string{ContextKeyRequiredScopes: "orders:read"})
	first, err := srv.respond(context.Background(), req)
	if err != nil || first.message.GetOkResponse() == nil || !first.allowed {
		t.Fatalf("respond = %+v, %v", first, err)
	}
	again, err := srv.respond(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if again.message != first.message || again.wire != first.wire {
		t.Error("a repeated allow rebuilt its response")
	}
	if first.wire == nil {
		t.Fatal("the memo's response has no encoding")
	}
	if sent := decodeWire(t, first); !proto.Equal(sent, first.message) {
		t.Errorf("the encoding is not the response:\n sent %v\n want %v", sent, first.message)
	}
}

// A partner's own limits travel in the memo's encoding too.
func TestAllowMemoEncodesLimits(t *testing.T) {
	m := newAllowMemo(0)
	d := &authz.Decision{PartnerID: "acme", Scopes: "orders:read", CredentialID: "cred1", Tier: "gold", CredentialHeader: headerAPIKey,
		Limits: partner.Limits{PerSecond: 5, PerDay: 10000}}
	r := m.get(d).resp
	sent := decodeWire(t, r)
	if !proto.Equal(sent, r.message) {
		t.Fatalf("the encoding is not the response:\n sent %v\n want %v", sent, r.message)
	}
	if got := sent.GetDynamicMetadata().GetFields()[MetadataLimitDay].GetStructValue().GetFields()[overrideRequestsPerUnit].GetNumberValue(); got != 10000 {
		t.Errorf("sent daily limit = %v, want 10000", got)
	}
}

// decodeWire decodes the encoding r carries.
func decodeWire(t *testing.T, r response) *authv3.CheckResponse {
	t.Helper()
	if r.wire == nil {
		t.Fatal("response without an encoding")
	}
	var sent authv3.CheckResponse
	if err := proto.Unmarshal(r.wire.Bytes(), &sent); err != nil {
		t.Fatal(err)
	}
	return &sent
}

// An API key's id is a substring of the secret the caller sent; the memo
// outlives the request and must not keep that memory alive.
func TestAllowMemoKeepsNoCallerMemory(t *testing.T) {
	m := newAllowMemo(0)
	sent := "pg_test_AbCdEfGhIjKl_" + strings.Repeat("s", 43) + "XXXXXX"
	id := sent[len("pg_test_") : len("pg_test_")+12]
	d := &authz.Decision{PartnerID: "acme", Scopes: "orders:read", CredentialID: id, Tier: "gold", CredentialHeader: headerAuthorization}
	resp := m.get(d).resp.message
	within := func(s string) bool {
		p, lo := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(sent)))
		return p >= lo && p < lo+uintptr(len(sent))
	}
	for _, h := range resp.GetOkResponse().GetHeaders() {
		if within(h.GetHeader().GetValue()) {
			t.Errorf("header %s points into the caller's key", h.GetHeader().GetKey())
		}
	}
	for k, v := range resp.GetDynamicMetadata().GetFields() {
		if within(v.GetStringValue()) {
			t.Errorf("metadata %s points into the caller's key", k)
		}
	}
	e, ok := m.table.Find(id, nil)
	if !ok {
		t.Fatal("the response is not in the memo")
	}
	if within(e.credentialID) {
		t.Error("the memo entry's credential id points into the caller's key")
	}
}

// An entry holds its credential id and its response's encoding itself,
// one allocation of the size its comment gives, for a response as large
// as a realistic identity makes: a Check on a cold entry then reads one
// block of memory.
func TestAllowEntryIsOneBlock(t *testing.T) {
	if size := unsafe.Sizeof(allowEntry{}); size != 768 {
		t.Errorf("an allow entry is %d bytes; entryRoom's comment says 768", size)
	}
	m := newAllowMemo(0)
	d := &authz.Decision{PartnerID: "acme-logistics-eu", Scopes: "orders:read orders:write shipments:read", CredentialID: "AbCdEfGhIjKl",
		Tier: "enterprise", CredentialHeader: headerAuthorization, Limits: partner.Limits{PerSecond: 500, PerMinute: 20000, PerDay: 5_000_000}}
	e := m.get(d)
	lo, hi := uintptr(unsafe.Pointer(e)), uintptr(unsafe.Pointer(e))+unsafe.Sizeof(*e)
	inside := func(p unsafe.Pointer, n int) bool {
		return uintptr(p) >= lo && uintptr(p)+uintptr(n) <= hi
	}
	if !inside(unsafe.Pointer(unsafe.StringData(e.credentialID)), len(e.credentialID)) {
		t.Error("the credential id is not in the entry")
	}
	if b := e.resp.wire.Bytes(); !inside(unsafe.Pointer(unsafe.SliceData(b)), len(b)) {
		t.Errorf("the %d-byte encoding is not in the entry's %d bytes of room", len(b), entryRoom)
	}
	if sent := decodeWire(t, e.resp); !proto.Equal(sent, e.resp.message) {
		t.Errorf("the encoding is not the response:\n sent %v\n want %v", sent, e.resp.message)
	}
}

// An entry answers only the key record version it was built for: a key
// rewritten in the store (a new version, even with the same identity)
// gets a response of its own, never one derived from the older record.
func TestAllowMemoFollowsRecordVersion(t *testing.T) {
	m := newAllowMemo(0)
	d := &authz.Decision{Reason: authz.ReasonAllowed, PartnerID: "acme", Scopes: "orders:read", CredentialID: "AbCdEfGhIjKl", Tier: "gold",
		CredentialHeader: "authorization", CredentialVersion: 1}
	first := m.get(d)
	if again := m.get(d); again != first {
		t.Fatal("the same version did not reuse its entry")
	}
	d.CredentialVersion = 2
	rewritten := m.get(d)
	if rewritten == first || rewritten.version != 2 {
		t.Fatalf("version 2 was answered by the entry of version %d", rewritten.version)
	}
	if again := m.get(d); again != rewritten {
		t.Error("version 2 did not reuse its own entry")
	}
	d.CredentialHeader = "x-api-key"
	if other := m.get(d); other == rewritten || other.header != "x-api-key" {
		t.Error("another credential header was answered by the authorization entry")
	}
}

// Options.AllowResponses sizes the memo: sized for them, twice as many
// slots as credentials in use, all but about 1 % keep their response,
// where the default room could hold at most 16,384 of them.
func TestAllowMemoSizedByOptions(t *testing.T) {
	const inUse = 2 * defaultAllowResponses
	srv, err := New(Options{Decider: panicking{}, AllowResponses: 2 * inUse})
	if err != nil {
		t.Fatal(err)
	}
	decision := func(i int) *authz.Decision {
		return &authz.Decision{PartnerID: "p", Scopes: "s", CredentialID: fmt.Sprintf("cred%06d", i), Tier: "free", CredentialHeader: headerAuthorization}
	}
	for i := range inUse {
		srv.allowed.get(decision(i))
	}
	kept := 0
	for i := range inUse {
		d := decision(i)
		id := identityOf(d)
		if srv.allowed.find(d, &id) != nil {
			kept++
		}
	}
	if kept < inUse*97/100 {
		t.Errorf("%d of %d responses kept, want at least 97 %% (a set of 7 that draws more of them evicts)", kept, inUse)
	}
}
