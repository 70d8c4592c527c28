package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/store"
)

// jsonLines parses out as JSON objects, one per line.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	for line := range strings.Lines(out) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q is not one JSON object: %v", line, err)
		}
		objs = append(objs, m)
	}
	return objs
}

func TestKeyListUnusedFor(t *testing.T) {
	format, _, st := server(t)
	mustRun(t, "partner", "create", "acme", "--scopes", "orders:read")
	mustRun(t, "partner", "create", "globex", "--scopes", "orders:read")
	ids := map[string]string{}
	for _, name := range []string{"used-lately", "used-long-ago", "never-used"} {
		partnerID := "acme"
		if name == "used-long-ago" {
			partnerID = "globex"
		}
		issued := object(t, mustRun(t, "key", "issue", "--partner", partnerID, "--all-granted-scopes", "--name", name, "-o", "json"))
		k, err := format.Parse(issued["secret"].(string))
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = k.ID()
	}
	now := time.Now()
	err := st.TouchCredentials(context.Background(), []store.Touch{
		{ID: ids["used-lately"], At: now.Add(-time.Hour), From: "203.0.113.9"},
		{ID: ids["used-long-ago"], At: now.Add(-120 * 24 * time.Hour), From: "198.51.100.4"},
	})
	if err != nil {
		t.Fatal(err)
	}

	// The stale-keys view spans partners; a never-used key counts from its
	// creation, just now, so 90 days finds only the old one.
	got := jsonLines(t, mustRun(t, "key", "list", "--unused-for", "90d", "--output", "jsonl"))
	if len(got) != 1 || got[0]["id"] != ids["used-long-ago"] || got[0]["partner_id"] != "globex" || got[0]["last_used_from"] != "198.51.100.4" {
		t.Fatalf("key list --unused-for 90d = %v, want only %s of globex, last used from 198.51.100.4", got, ids["used-long-ago"])
	}
	text := mustRun(t, "key", "list", "--unused-for", "1ns")
	for _, want := range []string{"PARTNER", "LAST USED", "FROM", ids["used-long-ago"], ids["used-lately"], "never", "203.0.113.9"} {
		if !strings.Contains(text, want) {
			t.Errorf("key list --unused-for 1ns text lacks %q:\n%s", want, text)
		}
	}
	perPartner := mustRun(t, "key", "list", "--partner", "acme")
	if !strings.Contains(perPartner, "203.0.113.9") || !strings.Contains(perPartner, "FROM") {
		t.Errorf("key list --partner acme does not show where keys were last used:\n%s", perPartner)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"zero-days", []string{"key", "list", "--unused-for", "0d"}, "--unused-for"},
		{"not-a-duration", []string{"key", "list", "--unused-for", "soon"}, "--unused-for"},
		{"negative", []string{"key", "list", "--unused-for", "-5h"}, "--unused-for"},
		{"with-partner", []string{"key", "list", "--unused-for", "90d", "--partner", "acme"}, "--partner"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, tc.args...)
			if code == 0 || out != "" || !strings.Contains(errs, tc.want) || strings.Count(errs, "\n") != 1 {
				t.Errorf("%v: exit %d, stdout %q, stderr %q; want failure naming %s", tc.args, code, out, errs, tc.want)
			}
		})
	}
}

func TestAuditListJSONLines(t *testing.T) {
	server(t)
	mustRun(t, "partner", "create", "acme", "--scopes", "orders:read")
	const keys = 3
	for range keys {
		mustRun(t, "key", "issue", "--partner", "acme", "--all-granted-scopes")
	}
	mustRun(t, "partner", "suspend", "acme", "--reason", "audit export test")

	evs := jsonLines(t, mustRun(t, "audit", "list", "--output", "jsonl"))
	if want := 1 + keys + 1; len(evs) != want {
		t.Fatalf("audit list --output jsonl printed %d events, want %d", len(evs), want)
	}
	var last float64
	for i, ev := range evs {
		id, _ := ev["id"].(string) // protojson writes int64 as a string
		var n float64
		if err := json.Unmarshal([]byte(id), &n); err != nil || n <= last {
			t.Fatalf("event %d id %v not increasing", i, ev["id"])
		}
		last = n
		if ev["action"] == "" || ev["at"] == nil {
			t.Errorf("event %d lacks action or time: %v", i, ev)
		}
	}
	if evs[0]["action"] != "partner.create" || evs[len(evs)-1]["action"] != "partner.suspend" {
		t.Errorf("first/last actions = %v/%v", evs[0]["action"], evs[len(evs)-1]["action"])
	}
	// With --limit, jsonl prints one page.
	if got := jsonLines(t, mustRun(t, "audit", "list", "-o", "jsonl", "--limit", "2")); len(got) != 2 {
		t.Errorf("--limit 2 printed %d events", len(got))
	}
}
