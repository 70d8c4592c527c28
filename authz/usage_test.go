package authz

import (
	"context"
	"slices"
	"testing"
	"time"
)

// usageLog records the uses Decide reports.
type usageLog []string

func (u *usageLog) Used(id, from string, at time.Time) {
	*u = append(*u, id+"@"+at.Sub(testNow).String()+"<-"+from)
}

// Every allowed API-key decision reports its use, with the source
// address; denials report none (the recorder keeps its own resolution).
func TestUsageReportedForEveryAllowedKey(t *testing.T) {
	f := newFixture(t, nil, nil)
	now := testNow
	var used usageLog
	srv, err := New(Options{Index: f.index, Keys: f.format, Hasher: f.hasher, Usage: &used, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	acme, read := f.keys["acme"], f.keys["acme-read"]
	steps := []struct {
		at     time.Duration
		cred   string
		scopes string
	}{
		{0, acme.Reveal(), "orders:read"},
		{500 * time.Millisecond, acme.Reveal(), "orders:read"},
		{500 * time.Millisecond, read.Reveal(), "orders:read"},
		{time.Second, acme.Reveal(), "admin"},                        // denied
		{2 * time.Second, f.keys["expired"].Reveal(), "orders:read"}, // denied
	}
	for _, s := range steps {
		now = testNow.Add(s.at)
		req := Request{Method: "GET", Path: "/v1/orders", SourceAddr: "192.0.2.7", RequiredScopes: s.scopes,
			Headers: MapHeaders{"x-api-key": s.cred}}
		if _, err := srv.Decide(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	want := usageLog{acme.ID() + "@0s<-192.0.2.7", acme.ID() + "@500ms<-192.0.2.7", read.ID() + "@500ms<-192.0.2.7"}
	if !slices.Equal(used, want) {
		t.Errorf("reported %q, want %q", used, want)
	}
}
