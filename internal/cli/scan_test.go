package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/cli"
	"github.com/partnergate/partnergate/internal/partner"
)

// runStdin is run with stdin.
func runStdin(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	root := cli.New(nil, &out, &errb)
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code = cli.Execute(ctx, root)
	return code, out.String(), errb.String()
}

func TestScan(t *testing.T) {
	server(t)
	mustRun(t, "partner", "create", "acme", "--scopes", "orders:read")
	var secrets, ids []string
	for range 2 {
		m := object(t, mustRun(t, "key", "issue", "--partner", "acme", "--all-granted-scopes", "-o", "json"))
		secrets = append(secrets, m["secret"].(string))
		ids = append(ids, m["key"].(map[string]any)["id"].(string))
	}
	dir := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bad := secrets[1][:len(secrets[1])-1] + "x" // wrong checksum (or length-right alphabet-right)
	if bad == secrets[1] {
		bad = secrets[1][:len(secrets[1])-1] + "y"
	}
	write("a/config.yml", "x: 1\nkey: "+secrets[0]+"\n")
	write("b.env", "K="+bad+"\nL="+secrets[1][:len(secrets[1])-1]+"\n\n"+secrets[1]+"\n")
	write(".git/objects/aa/bb", secrets[0])
	clean := t.TempDir()

	tests := []struct {
		name     string
		stdin    string
		args     []string
		code     int
		contains []string
	}{
		{"finds-planted-keys-not-near-misses", "", []string{"scan", dir}, 1, []string{
			filepath.Join(dir, "a/config.yml") + ":2", "key " + ids[0],
			filepath.Join(dir, "b.env") + ":4", "key " + ids[1]}},
		{"clean-tree-exits-0", "", []string{"scan", clean}, 0, nil},
		{"stdin-by-default", "token " + secrets[0], []string{"scan"}, 1, []string{"-:1", "key " + ids[0]}},
		{"other-prefix-finds-nothing", "", []string{"scan", "--key-prefix", "pg_test_", dir}, 0, nil},
		{"json-is-one-object", "", []string{"scan", "-o", "json", dir}, 1, []string{`"key_id": "` + ids[0] + `"`, `"line": 4`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runStdin(t, tc.stdin, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d (stderr %q), want %d", code, errs, tc.code)
			}
			for _, c := range tc.contains {
				if !strings.Contains(out, c) {
					t.Errorf("stdout lacks %q:\n%s", c, out)
				}
			}
			if tc.code == 1 && strings.Count(strings.TrimSpace(errs), "\n") != 0 {
				t.Errorf("stderr is not one line: %q", errs)
			}
			if strings.Contains(out, ".git") {
				t.Errorf("a .git object was scanned:\n%s", out)
			}
			if strings.Contains(strings.Join(tc.args, " "), "json") {
				object(t, out)
			}
			for _, s := range secrets {
				secret := s[len(s)-apikey.SecretLen-apikey.ChecksumLen:]
				if strings.Contains(out+errs, secret) {
					t.Error("scan printed a secret")
				}
			}
		})
	}

	t.Run("revoke-through-the-admin-api", func(t *testing.T) {
		code, out, _ := runStdin(t, "", "scan", "--revoke", "-o", "json", dir)
		m := object(t, out)
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		rev, _ := m["revoked"].(map[string]any)
		if rev[ids[0]] != "revoked" || rev[ids[1]] != "revoked" {
			t.Errorf("revoked = %v, want both revoked", m["revoked"])
		}
		for _, id := range ids {
			k := object(t, mustRun(t, "key", "list", "--partner", "acme", "-o", "json"))
			for _, raw := range k["keys"].([]any) {
				if kk := raw.(map[string]any); kk["id"] == id && kk["state"] != "revoked" {
					t.Errorf("key %s is %v after scan --revoke", id, kk["state"])
				}
			}
		}
		audit := mustRun(t, "audit", "list", "--partner", "acme", "-o", "json")
		if strings.Count(audit, `"reason": "leaked"`) != 2 {
			t.Errorf("audit trail lacks two revocations with reason leaked:\n%s", audit)
		}
		_, out, _ = runStdin(t, "", "scan", "--revoke", "-o", "json", dir)
		if rev, _ := object(t, out)["revoked"].(map[string]any); rev[ids[0]] != "already_revoked" {
			t.Errorf("second run: revoked = %v, want already_revoked", rev)
		}
	})
}

func TestKeyListCompromised(t *testing.T) {
	_, _, st := server(t)
	mustRun(t, "partner", "create", "acme", "--scopes", "orders:read")
	var ids []string
	for range 2 {
		m := object(t, mustRun(t, "key", "issue", "--partner", "acme", "--all-granted-scopes", "-o", "json"))
		ids = append(ids, m["key"].(map[string]any)["id"].(string))
	}
	// What the secret-scanning endpoint does to a reported key.
	ctx := context.Background()
	c, err := st.GetCredential(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	c.RevokedAt, c.CompromisedAt = time.Now(), time.Now()
	if err := st.UpdateCredential(ctx, c, partner.AuditEvent{Actor: "github-secret-scanning", Action: "key.revoke", PartnerID: "acme", CredentialID: c.ID, Reason: "leaked"}); err != nil {
		t.Fatal(err)
	}
	m := object(t, mustRun(t, "key", "list", "--partner", "acme", "--compromised", "-o", "json"))
	keys, _ := m["keys"].([]any)
	if len(keys) != 1 || keys[0].(map[string]any)["id"] != ids[0] || keys[0].(map[string]any)["compromised_at"] == nil {
		t.Errorf("key list --compromised = %v, want the compromised key alone", m["keys"])
	}
	if out := mustRun(t, "key", "list", "--partner", "acme"); !strings.Contains(out, "revoked (compromised)") || !strings.Contains(out, ids[1]) {
		t.Errorf("key list does not show the compromised key apart, or lost the other:\n%s", out)
	}
	runFails(t, cli.ExitUsage, "--compromised", "key", "list", "--compromised", "--unused-for", "90d")
}
