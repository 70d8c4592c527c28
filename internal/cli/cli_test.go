// Test strategy: the CLI is how operators issue and kill partner
// credentials, so it is tested end to end: each test runs the real command
// tree through Execute against a real admin server on a loopback listener,
// over a real SQLite store. They check the contract scripts depend on —
// exactly one JSON object on stdout with --output json, the secret printed
// once with a warning, exit status 0 on success and non-zero with exactly
// one "partnergate: …" line on stderr otherwise (never a usage dump) — and
// that the admin token is read only from the environment.
package cli_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/partnergate/partnergate/internal/admin"
	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/cli"
	"github.com/partnergate/partnergate/internal/store/sqlstore"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// server starts an admin API on loopback and points the CLI's environment
// at it. Tests that use it must not run in parallel: they set the process
// environment.
func server(t *testing.T) (apikey.Format, *apikey.Hasher, *sqlstore.Store) {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "partnergate.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	format, err := apikey.NewFormat(apikey.DefaultPrefix)
	if err != nil {
		t.Fatal(err)
	}
	pepper := make([]byte, 32)
	rand.Read(pepper)
	hasher, err := apikey.NewHasher(1, map[int][]byte{1: pepper})
	if err != nil {
		t.Fatal(err)
	}
	srv := &admin.Server{Store: st, Format: format, Hasher: hasher, Issuers: []string{cliIssuer}}
	if err := srv.Validate(); err != nil {
		t.Fatal(err)
	}
	token := admin.NewToken()
	auth := &admin.Authenticator{Store: st, Hasher: hasher, Bootstrap: admin.HashToken(token)}
	unary, stream := auth.Interceptors()
	gs := grpc.NewServer(grpc.UnaryInterceptor(unary), grpc.StreamInterceptor(stream))
	adminv1.RegisterAdminServer(gs, srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)

	t.Setenv(cli.EnvAdminAddr, lis.Addr().String())
	t.Setenv(cli.EnvAdminToken, token)
	t.Setenv(cli.EnvActor, "ops-bot")
	return format, hasher, st
}

// run executes the CLI with args and returns its exit status and output.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	root := cli.New(nil, &out, &errb)
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code = cli.Execute(ctx, root)
	return code, out.String(), errb.String()
}

// mustRun runs args and fails the test unless they succeed.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := run(t, args...)
	if code != 0 || errs != "" {
		t.Fatalf("%v: exit %d, stderr %q", args, code, errs)
	}
	return out
}

// object parses out as exactly one JSON object.
func object(t *testing.T, out string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("stdout is not a JSON object: %v\n%s", err, out)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON value:\n%s", out)
	}
	return m
}

func TestEndToEnd(t *testing.T) {
	format, hasher, st := server(t)

	out := mustRun(t, "partner", "create", "acme", "--tier", "gold", "--scopes", "orders:read orders:write")
	if !regexp.MustCompile(`(?m)^ID\s+acme$`).MatchString(out) || !regexp.MustCompile(`(?m)^SCOPES\s+orders:read orders:write$`).MatchString(out) {
		t.Fatalf("partner create text:\n%s", out)
	}

	// Flags after positionals, and global flags anywhere.
	p := object(t, mustRun(t, "partner", "get", "acme", "--output", "json"))
	if p["partner"].(map[string]any)["tier"] != "gold" {
		t.Fatalf("partner get json: %v", p)
	}

	issued := object(t, mustRun(t, "key", "issue", "--partner", "acme", "--scopes", "orders:read", "--expires-in", "2160h", "--name", "billing-prod", "-o", "json"))
	secret, _ := issued["secret"].(string)
	key, err := format.Parse(secret)
	if err != nil {
		t.Fatalf("issued secret does not parse: %v (%v)", err, issued)
	}
	c, err := st.GetCredential(context.Background(), key.ID())
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := hasher.Verify(key, c.Digest, c.PepperVersion); !ok || err != nil {
		t.Fatalf("stored digest does not verify the printed secret: %v %v", ok, err)
	}
	k := issued["key"].(map[string]any)
	if k["id"] != key.ID() || k["name"] != "billing-prod" || k["state"] != "active" {
		t.Fatalf("issued key: %v", k)
	}

	// key list never shows a secret.
	list := mustRun(t, "key", "list", "--partner", "acme", "--output", "json")
	keys := object(t, list)["keys"].([]any)
	if len(keys) != 1 || strings.Contains(list, secret[len(format.Prefix())+13:]) {
		t.Fatalf("key list json:\n%s", list)
	}
	text := mustRun(t, "key", "list", "--partner", "acme")
	if lines := strings.Split(strings.TrimSpace(text), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "ID ") || !strings.HasPrefix(lines[1], key.ID()+" ") {
		t.Fatalf("key list text:\n%s", text)
	}

	rot := mustRun(t, "key", "rotate", key.ID(), "--overlap", "1h", "--reason", "quarterly")
	if !strings.Contains(rot, cli.SecretWarning) || !regexp.MustCompile(`(?m)^SECRET\s+pg_live_\S+$`).MatchString(rot) {
		t.Fatalf("key rotate text lacks the secret or its warning:\n%s", rot)
	}

	mustRun(t, "key", "revoke", key.ID(), "--reason", "done")
	mustRun(t, "partner", "suspend", "acme", "--reason", "incident 42")
	mustRun(t, "partner", "resume", "acme")

	audit := object(t, mustRun(t, "audit", "list", "--partner", "acme", "--output", "json"))
	var actions []string
	for _, ev := range audit["events"].([]any) {
		m := ev.(map[string]any)
		actions = append(actions, m["action"].(string))
		// The verified identity, with the self-declared name as a note.
		if m["actor"] != "bootstrap" || m["auth_method"] != "bootstrap" || m["note"] != "ops-bot" {
			t.Errorf("actor = %q (%v), note = %v", m["actor"], m["auth_method"], m["note"])
		}
	}
	want := "partner.create key.issue key.rotate key.revoke partner.suspend partner.resume"
	if got := strings.Join(actions, " "); got != want {
		t.Fatalf("audit actions = %q, want %q", got, want)
	}
	limited := object(t, mustRun(t, "audit", "list", "--limit", "2", "-o", "json"))
	if n := len(limited["events"].([]any)); n != 2 {
		t.Fatalf("audit --limit 2 returned %d events", n)
	}

	parts := mustRun(t, "partner", "list")
	if !regexp.MustCompile(`(?m)^acme\s+gold\s+-\s+active\s+orders:read orders:write\s+\S+$`).MatchString(parts) {
		t.Fatalf("partner list text:\n%s", parts)
	}
}

func TestJSONListsAreObjects(t *testing.T) {
	server(t)
	tests := []struct {
		name  string
		args  []string
		field string
	}{
		{"partner-list-empty", []string{"partner", "list", "-o", "json"}, "partners"},
		{"audit-list-empty", []string{"audit", "list", "-o", "json"}, "events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := object(t, mustRun(t, tt.args...))
			if l, ok := m[tt.field].([]any); !ok || len(l) != 0 {
				t.Fatalf("%s = %#v, want an empty list", tt.field, m[tt.field])
			}
		})
	}
}

func TestErrors(t *testing.T) {
	server(t)
	mustRun(t, "partner", "create", "acme", "--scopes", "orders:read")
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		wantErr  string // a regexp the one stderr line must match
	}{
		{"scopes-beyond-grants", nil, []string{"key", "issue", "--partner", "acme", "--scopes", "orders:read admin"},
			cli.ExitError, `^partnergate: invalid argument: scopes: not within partner "acme"'s grants: admin$`},
		{"bad-partner-id", nil, []string{"partner", "create", "Not_Valid"},
			cli.ExitError, `^partnergate: invalid argument: id: `},
		{"unknown-partner", nil, []string{"partner", "get", "nobody", "-o", "json"},
			cli.ExitError, `^partnergate: not found: partner "nobody" not found$`},
		{"duplicate-partner", nil, []string{"partner", "create", "acme"},
			cli.ExitError, `^partnergate: already exists: partner "acme" already exists$`},
		{"negative-expiry", nil, []string{"key", "issue", "--partner", "acme", "--expires-in", "-1h", "--all-granted-scopes"},
			cli.ExitError, `^partnergate: invalid argument: expires_in: `},
		{"wrong-token", map[string]string{cli.EnvAdminToken: "pgadm_wrong"}, []string{"partner", "list"},
			cli.ExitError, `^partnergate: unauthenticated: missing or invalid admin token \(check PARTNERGATE_ADMIN_TOKEN\)$`},
		{"no-token", map[string]string{cli.EnvAdminToken: ""}, []string{"partner", "list"},
			cli.ExitError, `^partnergate: PARTNERGATE_ADMIN_TOKEN is not set`},
		{"server-down", map[string]string{cli.EnvAdminAddr: "127.0.0.1:1"}, []string{"partner", "list"},
			cli.ExitError, `^partnergate: unavailable: cannot reach the admin API at 127\.0\.0\.1:1: `},
		{"missing-argument", nil, []string{"partner", "get"},
			cli.ExitUsage, `^partnergate: partnergate partner get: missing ID \(see 'partnergate partner get --help'\)$`},
		{"extra-argument", nil, []string{"key", "revoke", "a", "b"},
			cli.ExitUsage, `^partnergate: partnergate key revoke: unexpected argument "b"`},
		{"empty-scopes-refused", nil, []string{"key", "issue", "--partner", "acme", "--scopes", ""},
			cli.ExitUsage, `^partnergate: partnergate key issue: --scopes is required \(or --all-granted-scopes`},
		{"zero-expiry-refused", nil, []string{"key", "issue", "--partner", "acme", "--scopes", "orders:read", "--expires-in", "0s"},
			cli.ExitError, `^partnergate: invalid argument: expires_in: must be positive`},
		{"missing-partner-flag", nil, []string{"key", "issue"},
			cli.ExitUsage, `^partnergate: partnergate key issue: --partner is required`},
		{"unknown-flag", nil, []string{"key", "list", "--partner", "acme", "--token", "x"},
			cli.ExitUsage, `^partnergate: unknown flag: --token`},
		{"bad-output", nil, []string{"partner", "list", "--output", "yaml"},
			cli.ExitUsage, `^partnergate: --output must be text, json or jsonl, not "yaml"`},
		{"unknown-command", nil, []string{"partner", "archive", "acme"},
			cli.ExitUsage, `^partnergate: unknown command "archive" for "partnergate partner"`},
		{"bad-duration", nil, []string{"key", "rotate", "AAAAAAAAAAAA", "--overlap", "soon"},
			cli.ExitUsage, `^partnergate: invalid argument "soon" for "--overlap" flag`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			runFails(t, tt.wantCode, tt.wantErr, tt.args...)
		})
	}
}

// runFails runs the CLI with args and fails t unless it exits with
// wantCode, prints nothing on stdout and exactly one line on stderr,
// matching the regular expression wantErr.
func runFails(t *testing.T, wantCode int, wantErr string, args ...string) {
	t.Helper()
	code, out, errs := run(t, args...)
	if code != wantCode {
		t.Errorf("exit status = %d, want %d (stderr %q)", code, wantCode, errs)
	}
	if out != "" {
		t.Errorf("stdout = %q, want nothing", out)
	}
	if strings.Count(errs, "\n") != 1 || !strings.HasSuffix(errs, "\n") {
		t.Fatalf("stderr is not exactly one line: %q", errs)
	}
	if !regexp.MustCompile(wantErr).MatchString(strings.TrimSuffix(errs, "\n")) {
		t.Fatalf("stderr = %q, want one line matching %q", errs, wantErr)
	}
}

func TestTokenIsNeverAFlag(t *testing.T) {
	root := cli.New(nil, &bytes.Buffer{}, &bytes.Buffer{})
	for _, c := range allCommands(root) {
		for _, name := range []string{"token", "admin-token"} {
			if c.Flags().Lookup(name) != nil || c.PersistentFlags().Lookup(name) != nil {
				t.Errorf("%s has a --%s flag", c.CommandPath(), name)
			}
		}
	}
}

func TestAdminAddrPrecedence(t *testing.T) {
	server(t)
	// The flag wins over the environment: pointing it at a closed port
	// must fail even though the environment names the live server.
	code, _, errs := run(t, "partner", "list", "--admin-addr", "127.0.0.1:1")
	if code == 0 || !strings.Contains(errs, "127.0.0.1:1") {
		t.Fatalf("exit %d, stderr %q: --admin-addr did not override %s", code, errs, cli.EnvAdminAddr)
	}
	mustRun(t, "partner", "list")
}

func allCommands(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, sub := range c.Commands() {
		out = append(out, allCommands(sub)...)
	}
	return out
}
