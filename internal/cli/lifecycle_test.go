package cli_test

import (
	"context"
	"strings"
	"testing"
)

// TestPartnerLifecycle drives update, key update and delete through the
// command tree: each flag reaches the server (the stored rows show it), a
// command with nothing to change is a usage error, and delete without
// --revoke-all is refused while a key is live.
func TestPartnerLifecycle(t *testing.T) {
	_, _, st := server(t)
	ctx := context.Background()
	mustRun(t, "partner", "create", "acme", "--scopes", "orders:read orders:write", "--allow-cidrs", "203.0.113.0/24")
	issued := object(t, mustRun(t, "key", "issue", "--partner", "acme", "--scopes", "orders:read orders:write",
		"--allow-cidrs", "2001:db8::/32,198.51.100.0/24", "-o", "json"))
	id := issued["key"].(map[string]any)["id"].(string)
	if c, _ := st.GetCredential(ctx, id); c.AllowCIDRs.String() != "198.51.100.0/24,2001:db8::/32" {
		t.Fatalf("issued key's allow-list = %q", c.AllowCIDRs)
	}

	mustRun(t, "partner", "update", "acme", "--tier", "gold", "--scopes", "orders:read", "--allow-cidrs", "", "--reason", "narrowed")
	p, _ := st.GetPartner(ctx, "acme")
	if p.Tier != "gold" || p.Scopes.String() != "orders:read" || len(p.AllowCIDRs) != 0 {
		t.Fatalf("after partner update: %+v", p)
	}

	out := mustRun(t, "key", "update", id, "--name", "edge", "--scopes", "orders:read", "--allow-cidrs", "192.0.2.0/24")
	if !strings.Contains(out, "ALLOW FROM") {
		t.Errorf("key update text:\n%s", out)
	}
	if c, _ := st.GetCredential(ctx, id); c.Name != "edge" || c.Scopes.String() != "orders:read" || c.AllowCIDRs.String() != "192.0.2.0/24" {
		t.Fatalf("after key update: %+v", c)
	}
	if code, _, errs := run(t, "key", "update", id, "--scopes", "orders:read orders:write"); code == 0 || !strings.Contains(errs, "widen") {
		t.Errorf("widening key update: exit %d, stderr %q", code, errs)
	}
	for _, args := range [][]string{{"key", "update", id}, {"partner", "update", "acme"}} {
		if code, _, errs := run(t, args...); code != 2 || !strings.Contains(errs, "give --") {
			t.Errorf("%v: exit %d, stderr %q; want a usage error", args, code, errs)
		}
	}

	if code, _, errs := run(t, "partner", "delete", "acme"); code == 0 || !strings.Contains(errs, "--revoke-all") {
		t.Errorf("delete with a live key: exit %d, stderr %q", code, errs)
	}
	del := object(t, mustRun(t, "partner", "delete", "acme", "--revoke-all", "--reason", "offboarded", "-o", "json"))
	if del["partner"].(map[string]any)["state"] != "deleted" || len(del["revoked_key_ids"].([]any)) != 1 {
		t.Errorf("delete json: %v", del)
	}
	if code, _, errs := run(t, "partner", "create", "acme"); code == 0 || !strings.Contains(errs, "--reuse-deleted-id") {
		t.Errorf("create of a deleted id: exit %d, stderr %q", code, errs)
	}
	mustRun(t, "partner", "create", "acme", "--reuse-deleted-id")
}

// TestKeyListAcrossPartners: --expiring-within and --pepper-version reach
// FindKeys and list live keys of every partner.
func TestKeyListAcrossPartners(t *testing.T) {
	server(t)
	mustRun(t, "partner", "create", "acme", "--scopes", "orders:read")
	mustRun(t, "partner", "create", "globex", "--scopes", "orders:read")
	soon := object(t, mustRun(t, "key", "issue", "--partner", "acme", "--all-granted-scopes", "--expires-in", "72h", "-o", "json"))["key"].(map[string]any)["id"].(string)
	mustRun(t, "key", "issue", "--partner", "globex", "--all-granted-scopes", "--expires-in", "2160h")

	found := object(t, mustRun(t, "key", "list", "--expiring-within", "14d", "-o", "json"))["keys"].([]any)
	if len(found) != 1 || found[0].(map[string]any)["id"] != soon {
		t.Errorf("--expiring-within 14d = %v, want only %s", found, soon)
	}
	text := mustRun(t, "key", "list", "--pepper-version", "1")
	if lines := strings.Split(strings.TrimSpace(text), "\n"); len(lines) != 3 || !strings.Contains(lines[0], "PEPPER") {
		t.Errorf("--pepper-version 1:\n%s", text)
	}
	if code, _, _ := run(t, "key", "list", "--pepper-version", "1", "--partner", "acme"); code != 2 {
		t.Errorf("--pepper-version with --partner: exit %d, want a usage error", code)
	}
}
