package authz

import (
	"context"
	"slices"
	"testing"
	"time"
)

// usageLog records the uses Check reports.
type usageLog []string

func (u *usageLog) Used(id, _ string, at time.Time) {
	*u = append(*u, id+"@"+at.Sub(testNow).String())
}

// Allowed API-key Checks report their use, a key's repeated uses within
// UsageResolution once; a response built for one request alone reports
// every use, as do denials none.
func TestUsageReportedOncePerResolution(t *testing.T) {
	f := newFixture(t, nil)
	now := testNow
	var used usageLog
	srv, err := New(Options{Index: f.index, Keys: f.format, Hasher: f.hasher, Usage: &used,
		UsageResolution: time.Second, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	acme, read := f.keys["acme"], f.keys["acme-read"]
	ext := map[string]string{ContextKeyRequiredScopes: "orders:read"}
	steps := []struct {
		at   time.Duration
		hdrs map[string]string
		ext  map[string]string
	}{
		{0, bearerOf(acme), ext},
		{500 * time.Millisecond, bearerOf(acme), ext}, // within the second: not reported
		{500 * time.Millisecond, bearerOf(read), ext}, // another key
		{999 * time.Millisecond, bearerOf(acme), ext}, // still within
		{time.Second, bearerOf(acme), ext},            // a second on: reported
		{1100 * time.Millisecond, bearerOf(acme), map[string]string{ContextKeyRequiredScopes: "admin"}},  // denied
		{1200 * time.Millisecond, merge(bearerOf(acme), map[string]string{"x-partner-admin": "1"}), ext}, // built for this request
		{1300 * time.Millisecond, bearerOf(acme), ext},                                                   // the memo's again, within the second
		{2 * time.Second, bearerOf(f.keys["expired"]), ext},                                              // denied
	}
	for _, s := range steps {
		now = testNow.Add(s.at)
		if _, err := srv.Respond(context.Background(), request("GET", "/v1/orders", s.hdrs, s.ext)); err != nil {
			t.Fatal(err)
		}
	}
	want := usageLog{acme.ID() + "@0s", read.ID() + "@500ms", acme.ID() + "@1s", acme.ID() + "@1.2s"}
	if !slices.Equal(used, want) {
		t.Errorf("reported %q, want %q", used, want)
	}

	// Without a resolution, every allowed use is reported.
	var all usageLog
	every, err := New(Options{Index: f.index, Keys: f.format, Hasher: f.hasher, Usage: &all, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := every.Respond(context.Background(), request("GET", "/v1/orders", bearerOf(acme), ext)); err != nil {
			t.Fatal(err)
		}
	}
	if len(all) != 3 {
		t.Errorf("reported %q, want three uses", all)
	}
}
