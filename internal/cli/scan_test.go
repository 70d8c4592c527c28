// Test strategy: scan runs over real files against a real admin server
// on loopback with a real SQLite store. Findings print key ids, never
// secrets. --revoke must not trust the scan's checksum: a planted
// look-alike of a live partner's key id, with another secret and a right
// checksum, is sent to the server, judged by its digest, and left alone,
// while the real leaked key next to it is revoked and marked compromised;
// a second run only records a sighting; more keys than one call takes go
// in several calls.
package cli_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/admin"
	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/cli"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
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

// lookAlike returns a token with key's prefix and public id, a fresh
// random secret and a right checksum: what anyone who knows a key id can
// plant. It fails the test unless the format accepts it.
func lookAlike(t *testing.T, f apikey.Format, key string) string {
	t.Helper()
	other, err := f.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	idEnd := len(f.Prefix()) + apikey.IDLen
	body := key[:idEnd+1] + other.Reveal()[idEnd+1:len(other.Reveal())-apikey.ChecksumLen]
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var sum [apikey.ChecksumLen]byte
	n := crc32.ChecksumIEEE([]byte(body))
	for i := apikey.ChecksumLen - 1; i >= 0; i-- {
		sum[i] = alphabet[n%62]
		n /= 62
	}
	tok := body + string(sum[:])
	if k, err := f.Parse(tok); err != nil || tok == key || k.ID() != key[len(f.Prefix()):idEnd] {
		t.Fatalf("look-alike %v, %v: not a checksum-valid token of the same id", k, err)
	}
	return tok
}

func TestScanRevokeVerifiesTheKey(t *testing.T) {
	format, _, st := server(t)
	mustRun(t, "partner", "create", "acme", "--scopes", "orders:read")
	issue := func() (secret, id string) {
		m := object(t, mustRun(t, "key", "issue", "--partner", "acme", "--all-granted-scopes", "-o", "json"))
		return m["secret"].(string), m["key"].(map[string]any)["id"].(string)
	}
	leaked, leakedID := issue()
	victim, victimID := issue()
	planted := lookAlike(t, format, victim)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "planted.env"), []byte("TOKEN="+planted+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "leaked.yml"), []byte("key: "+leaked+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	secrets := []string{leaked, victim, planted}
	noSecret := func(t *testing.T, s string) {
		t.Helper()
		for _, sec := range secrets {
			if strings.Contains(s, sec[len(sec)-apikey.SecretLen-apikey.ChecksumLen:]) {
				t.Fatalf("a secret was printed or recorded:\n%s", s)
			}
		}
	}
	credential := func(t *testing.T, id string) *partner.Credential {
		t.Helper()
		c, err := st.GetCredential(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	events := func(t *testing.T, action string) int {
		t.Helper()
		evs, err := st.ListAudit(context.Background(), store.AuditFilter{PartnerID: "acme", Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ev := range evs {
			if ev.Action == action && ev.CredentialID == leakedID && ev.Reason == "leaked" &&
				ev.Detail["reporter"] == admin.ScanReporter {
				n++
			}
		}
		return n
	}

	// Each row is one more run of scan --revoke over the same tree.
	tests := []struct {
		name string
		// want is the JSON output's revoked map; lines, if set, are the
		// text output's lines instead.
		want      map[string]string
		lines     []string
		revokes   int // key.revoke events for the leaked key, in all
		sightings int // key.leak_sighting events for it, in all
	}{
		{
			name:    "planted-look-alike-spared-real-key-revoked",
			want:    map[string]string{leakedID: "revoked", victimID: "not_a_key"},
			revokes: 1,
		},
		{
			name:    "replay-records-a-sighting-only",
			lines:   []string{"planted.env:1 key " + victimID + " not a key", "leaked.yml:1 key " + leakedID + " already revoked"},
			revokes: 1, sightings: 1,
		},
		{
			name:    "replay-as-json",
			want:    map[string]string{leakedID: "already_revoked", victimID: "not_a_key"},
			revokes: 1, sightings: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			revokedAt := credential(t, leakedID).RevokedAt
			args := []string{"scan", "--revoke", "-o", "json", dir}
			if tc.lines != nil {
				args = []string{"scan", "--revoke", dir}
			}
			code, out, errs := runStdin(t, "", args...)
			if code != 1 {
				t.Fatalf("exit %d (stderr %q), want 1", code, errs)
			}
			noSecret(t, out+errs)
			if tc.lines == nil {
				got := map[string]string{}
				for id, v := range object(t, out)["revoked"].(map[string]any) {
					got[id] = v.(string)
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Fatalf("revoked = %v, want %v", got, tc.want)
				}
			}
			for _, l := range tc.lines {
				if l = filepath.Join(dir, l); !strings.Contains(strings.Join(strings.Fields(out), " "), l) {
					t.Errorf("text output lacks %q:\n%s", l, out)
				}
			}
			if c := credential(t, victimID); c.Revoked() || c.Compromised() {
				t.Fatalf("the victim's key was revoked=%v compromised=%v by a look-alike", c.Revoked(), c.Compromised())
			}
			c := credential(t, leakedID)
			if !c.Revoked() || !c.Compromised() {
				t.Fatalf("the leaked key is revoked=%v compromised=%v, want both", c.Revoked(), c.Compromised())
			}
			if !revokedAt.IsZero() && !c.RevokedAt.Equal(revokedAt) {
				t.Fatalf("a replay moved revoked_at from %v to %v", revokedAt, c.RevokedAt)
			}
			if n := events(t, "key.revoke"); n != tc.revokes {
				t.Fatalf("%d key.revoke events by %s, want %d", n, admin.ScanReporter, tc.revokes)
			}
			if n := events(t, "key.leak_sighting"); n != tc.sightings {
				t.Fatalf("%d key.leak_sighting events by %s, want %d", n, admin.ScanReporter, tc.sightings)
			}
			noSecret(t, mustRun(t, "audit", "list", "--partner", "acme", "-o", "json"))
		})
	}
}

func TestScanRevokeSendsManyKeysInBatches(t *testing.T) {
	format, _, _ := server(t)
	var b strings.Builder
	for range admin.MaxLeakedTokens + 1 {
		k, err := format.Generate(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(k.Reveal() + "\n")
	}
	code, out, errs := runStdin(t, b.String(), "scan", "--revoke", "-o", "json")
	if code != 1 {
		t.Fatalf("exit %d (stderr %q), want 1", code, errs)
	}
	rev := object(t, out)["revoked"].(map[string]any)
	if len(rev) != admin.MaxLeakedTokens+1 {
		t.Fatalf("%d key ids reported, want %d", len(rev), admin.MaxLeakedTokens+1)
	}
	for id, v := range rev {
		if v != "not_a_key" {
			t.Fatalf("unknown key %s = %v, want not_a_key", id, v)
		}
	}
}
