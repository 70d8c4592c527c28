// Test strategy: ReportLeakedKeys revokes a partner's key on the word of
// whoever sends it, so what it must refuse matters as much as what it
// does. Over real gRPC on loopback against a real SQLite store and a real
// cache, a token that is a live key's full value is revoked, marked
// compromised and audited as the verified operator; a replay only adds a
// sighting; and a look-alike that carries a real key's public id with
// another secret and a right checksum — anyone can write one — is a false
// positive that changes nothing. Bad requests (none, too many, an
// over-long token, a bad url) are refused naming the field, before any
// write. No token reaches a log line or a reply.
package admin_test

import (
	"context"
	"crypto/rand"
	"hash/crc32"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"

	"github.com/partnergate/partnergate/internal/admin"
	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/logtest"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/secretscan"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// lookAlike returns a token with key's prefix and public id, a fresh
// random secret and a right checksum: what anyone who knows a key id can
// plant. It fails the test unless the format accepts it.
func lookAlike(t testing.TB, f apikey.Format, key string) string {
	t.Helper()
	other, err := f.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	idEnd := len(f.Prefix()) + apikey.IDLen
	secret := other.Reveal()[idEnd+1 : len(other.Reveal())-apikey.ChecksumLen]
	body := key[:idEnd+1] + secret
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

func TestReportLeakedKeys(t *testing.T) {
	log := &logtest.Buffer{}
	e := newEnv(t, func(s *admin.Server) { s.Logger = slog.New(slog.NewTextHandler(log, nil)) })
	e.createPartner(t, "acme", "orders:read")
	issued := e.issue(t, &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true})
	leaked, leakedID := issued.GetSecret(), issued.GetKey().GetId()
	victim := e.issue(t, &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true})
	planted := lookAlike(t, e.format, victim.GetSecret())
	unknown, err := e.format.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tok := e.operator(t, "sec-issuer", partner.RoleIssuer)
	secrets := []string{leaked, planted, victim.GetSecret(), unknown.Reveal()}

	tests := []struct {
		name  string
		token string
		want  *adminv1.LeakedKeyResult
		// revoked and compromised say what the store must hold after.
		keyID                string
		revoked, compromised bool
		action               string // the audit event added, if any
	}{
		{
			name: "planted-look-alike-of-a-live-key", token: planted,
			want:  &adminv1.LeakedKeyResult{KeyId: victim.GetKey().GetId(), Label: secretscan.FalsePositive},
			keyID: victim.GetKey().GetId(),
		},
		{
			name: "not-a-key", token: "pgtest_not-a-key",
			want: &adminv1.LeakedKeyResult{Label: secretscan.FalsePositive},
		},
		{
			name: "unknown-key", token: unknown.Reveal(),
			want: &adminv1.LeakedKeyResult{KeyId: unknown.ID(), Label: secretscan.FalsePositive},
		},
		{
			name: "leaked-live-key", token: leaked,
			want:  &adminv1.LeakedKeyResult{KeyId: leakedID, Label: secretscan.TruePositive, Revoked: true},
			keyID: leakedID, revoked: true, compromised: true, action: secretscan.ActionRevoke,
		},
		{
			name: "replay-records-a-sighting", token: leaked,
			want:  &adminv1.LeakedKeyResult{KeyId: leakedID, Label: secretscan.TruePositive, AlreadyRevoked: true},
			keyID: leakedID, revoked: true, compromised: true, action: secretscan.ActionSighting,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := audit(t, e, "")
			var was *partner.Credential
			if tt.keyID != "" {
				var err error
				if was, err = e.store.GetCredential(context.Background(), tt.keyID); err != nil {
					t.Fatal(err)
				}
			}
			e.clock.Advance(1)
			resp, err := e.client.ReportLeakedKeys(as(t, tok), &adminv1.ReportLeakedKeysRequest{
				Tokens: []string{tt.token}, Url: "https://git.example.com/acme/app/blob/main/.env",
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.GetResults(); len(got) != 1 || prototext.Format(got[0]) != prototext.Format(tt.want) {
				t.Fatalf("results = %v, want [%v]", got, tt.want)
			}
			for _, s := range secrets {
				if strings.Contains(prototext.Format(resp), s[len(s)-apikey.SecretLen-apikey.ChecksumLen:]) {
					t.Fatal("the reply carries a secret")
				}
			}
			after := audit(t, e, "")
			if tt.action == "" {
				if len(after) != len(before) {
					t.Fatalf("a false positive added %d audit events", len(after)-len(before))
				}
			} else {
				if len(after) != len(before)+1 {
					t.Fatalf("%d audit events added, want 1", len(after)-len(before))
				}
				ev := after[len(after)-1]
				if ev.Action != tt.action || ev.CredentialID != tt.keyID || ev.Actor != "sec-issuer" || ev.AuthMethod != "operator_token" ||
					ev.Reason != secretscan.ReasonLeaked || ev.Detail["reporter"] != admin.ScanReporter ||
					ev.Detail["url"] != "https://git.example.com/acme/app/blob/main/.env" {
					t.Fatalf("audit event = %+v", ev)
				}
			}
			if tt.keyID == "" {
				return
			}
			c, err := e.store.GetCredential(context.Background(), tt.keyID)
			if err != nil {
				t.Fatal(err)
			}
			if c.Revoked() != tt.revoked || c.Compromised() != tt.compromised {
				t.Fatalf("key %s revoked=%v compromised=%v, want %v and %v", tt.keyID, c.Revoked(), c.Compromised(), tt.revoked, tt.compromised)
			}
			if was.Revoked() && !c.RevokedAt.Equal(was.RevokedAt) {
				t.Fatalf("a replay moved revoked_at from %v to %v", was.RevokedAt, c.RevokedAt)
			}
			if tt.revoked {
				if rec, ok := e.cache.Key(context.Background(), tt.keyID); ok && !rec.Revoked {
					t.Fatal("the revoked key is live in this replica's cache after the reply")
				}
			}
		})
	}
	t.Run("no-secret-in-logs", func(t *testing.T) {
		if !strings.Contains(log.String(), leakedID) {
			t.Fatalf("the log does not name the revoked key id %s:\n%s", leakedID, log.String())
		}
		for _, s := range secrets {
			if strings.Contains(log.String(), s[len(s)-apikey.SecretLen-apikey.ChecksumLen:]) {
				t.Fatalf("the log carries a secret:\n%s", log.String())
			}
		}
	})
}

func TestReportLeakedKeysRefusesBadRequests(t *testing.T) {
	e := newEnv(t)
	e.createPartner(t, "acme", "orders:read")
	issued := e.issue(t, &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true})
	leaked := issued.GetSecret()
	many := make([]string, admin.MaxLeakedTokens+1)
	for i := range many {
		many[i] = leaked
	}
	tests := []struct {
		name  string
		req   *adminv1.ReportLeakedKeysRequest
		field string
	}{
		{"no-tokens", &adminv1.ReportLeakedKeysRequest{}, "tokens"},
		{"over-the-cap", &adminv1.ReportLeakedKeysRequest{Tokens: many}, "tokens"},
		{"empty-token", &adminv1.ReportLeakedKeysRequest{Tokens: []string{leaked, ""}}, "tokens[1]"},
		{"over-long-token", &adminv1.ReportLeakedKeysRequest{Tokens: []string{leaked, strings.Repeat("a", apikey.MaxLen+1)}}, "tokens[1]"},
		{"url-with-a-newline", &adminv1.ReportLeakedKeysRequest{Tokens: []string{leaked}, Url: "https://x.example/\nforged"}, "url"},
		{"url-too-long", &adminv1.ReportLeakedKeysRequest{Tokens: []string{leaked}, Url: "https://x.example/" + strings.Repeat("a", 2048)}, "url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(audit(t, e, ""))
			_, err := e.client.ReportLeakedKeys(e.ctx(t), tt.req)
			st := wantField(t, err, tt.field)
			if strings.Contains(st.Message(), leaked) {
				t.Fatal("the refusal carries the token")
			}
			if n := len(audit(t, e, "")); n != before {
				t.Fatalf("a refused request added %d audit events", n-before)
			}
			c, err := e.store.GetCredential(context.Background(), issued.GetKey().GetId())
			if err != nil || c.Revoked() || c.Compromised() {
				t.Fatalf("key = %+v, %v: a refused request changed it", c, err)
			}
		})
	}
}
