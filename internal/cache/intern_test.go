package cache

import (
	"fmt"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"

	"github.com/partnergate/partnergate/internal/partner"
)

func TestInternerSharesStringsAndStaysBounded(t *testing.T) {
	var partners atomic.Pointer[map[string]*partner.Partner]
	known := &partner.Partner{ID: "acme"}
	partners.Store(&map[string]*partner.Partner{"acme": known})
	in := newInterner(&partners)

	rec := partner.KeyRecord{ID: keyID(1), PartnerID: "acme", Scopes: "orders:read orders:write", Digest: make([]byte, 32), Version: 1}
	b := encode(nil, &rec)
	first, err := decode(rec.ID, b, in)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rec, first); diff != "" {
		t.Fatalf("decode with interner (-want +got):\n%s", diff)
	}
	second, err := decode(rec.ID, encode(nil, &rec), in)
	if err != nil {
		t.Fatal(err)
	}
	if unsafe.StringData(first.PartnerID) != unsafe.StringData(known.ID) {
		t.Error("partner id of a known partner is a fresh copy, not the partner map's")
	}
	if unsafe.StringData(first.Scopes) != unsafe.StringData(second.Scopes) {
		t.Error("the same scope list decoded twice is two strings")
	}

	// A partner the map does not hold (yet) still decodes correctly.
	orphan := rec
	orphan.PartnerID = "globex"
	got, err := decode(orphan.ID, encode(nil, &orphan), in)
	if err != nil || got.PartnerID != "globex" {
		t.Errorf("unknown partner decoded as %q, %v", got.PartnerID, err)
	}

	// Distinct scope lists beyond the bound are served, not stored.
	for i := range maxInternedScopes + 100 {
		want := fmt.Sprintf("scope:%d", i)
		if got := in.scopeList([]byte(want)); got != want {
			t.Fatalf("scopeList(%q) = %q", want, got)
		}
	}
	if n := len(*in.scopes.Load()); n != maxInternedScopes {
		t.Errorf("interned %d scope lists, want the bound %d", n, maxInternedScopes)
	}
}
