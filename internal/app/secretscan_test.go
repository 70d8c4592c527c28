package app

// Test strategy: the leaked-key endpoint end to end, as GitHub would call
// it: a local key server shaped like GitHub's
// (/meta/public_keys/secret_scanning), a report signed with a test ECDSA
// P-256 key and POSTed over real HTTP to one replica, and Checks over real
// gRPC on that replica and on a second one sharing PostgreSQL. What is
// asserted is what operators are promised: the leaked key is refused at
// once where it was reported and, through the change feed, on the other
// replica; it is listed apart as compromised; the metric counts it; and
// the secret appears in neither the reply nor the logs.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/partnergate/partnergate/internal/config"
	"github.com/partnergate/partnergate/internal/store/sqlstore/pgtest"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// githubKeys serves key as GitHub serves its secret-scanning keys.
func githubKeys(t *testing.T, id string, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	doc := fmt.Sprintf(`{"public_keys":[{"key_identifier":%q,"key":%q,"is_current":true}]}`,
		id, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, doc)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/meta/public_keys/secret_scanning"
}

func TestLeakedKeyIsRefusedOnEveryReplica(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pepper := pepperFile(t)
	signer, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keysURL := githubKeys(t, "gh-test-1", signer)
	a := startReplica(t, db, pepper, true, func(c *config.Config) {
		c.MetricsListen = "127.0.0.1:0"
		c.SecretScanning.Listen = "127.0.0.1:0"
		c.SecretScanning.GitHub.PublicKeysURL = keysURL
	})
	b := startReplica(t, db, pepper, true, nil)
	if b.srv.SecretScanningAddr != nil {
		t.Error("the endpoint is on without secret_scanning.listen")
	}
	secrets, ids := issueKeys(t, a, "acme", 2)
	leaked, kept := secrets[0], secrets[1]
	for _, s := range secrets {
		b.waitCheck(t, "key reaches B", s, codes.OK)
	}

	body := []byte(fmt.Sprintf(`[{"token":%q,"type":"partnergate_api_key","url":"https://github.com/o/r/blob/1/.env","source":"content"}]`, leaked))
	sum := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, signer, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+a.srv.SecretScanningAddr.String()+"/secret-scanning/github", bytes.NewReader(body))
	req.Header.Set("Github-Public-Key-Identifier", "gh-test-1")
	req.Header.Set("Github-Public-Key-Signature", base64.StdEncoding.EncodeToString(sig))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	reply, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("report: %d %s", resp.StatusCode, reply)
	}
	tokenHash := sha256.Sum256([]byte(leaked))
	var fb []map[string]string
	if err := json.Unmarshal(reply, &fb); err != nil || len(fb) != 1 ||
		fb[0]["label"] != "true_positive" || fb[0]["token_hash"] != hex.EncodeToString(tokenHash[:]) {
		t.Errorf("reply %s, want one true_positive with the token's sha256", reply)
	}

	// Refused at once where reported (the reply waited for this cache),
	// and on B through the change feed; the other key still works.
	a.wantCheck(t, "leaked key on A", leaked, codes.Unauthenticated)
	b.waitCheck(t, "leaked key on B", leaked, codes.Unauthenticated)
	b.wantCheck(t, "other key on B", kept, codes.OK)

	ctx := adminCtx()
	list, err := b.admin.ListKeys(ctx, &adminv1.ListKeysRequest{PartnerId: "acme", Compromised: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetKeys()) != 1 || list.GetKeys()[0].GetId() != ids[0] || list.GetKeys()[0].GetCompromisedAt() == nil ||
		list.GetKeys()[0].GetState() != "revoked" {
		t.Errorf("key list --compromised = %v, want the leaked key alone, revoked", list.GetKeys())
	}
	audit, err := b.admin.ListAudit(ctx, &adminv1.ListAuditRequest{PartnerId: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, ev := range audit.GetEvents() {
		if ev.GetAction() == "key.revoke" && ev.GetKeyId() == ids[0] {
			found = ev.GetReason() == "leaked" && ev.GetDetail()["reporter"] == "github" &&
				ev.GetDetail()["url"] == "https://github.com/o/r/blob/1/.env" && ev.GetDetail()["source"] == "content"
		}
	}
	if !found {
		t.Errorf("no key.revoke event with reason leaked, reporter, url and source: %v", audit.GetEvents())
	}

	metrics, err := http.Get("http://" + a.srv.MetricsAddr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(metrics.Body)
	metrics.Body.Close()
	if !strings.Contains(string(page), `partnergate_keys_leaked_total{partner_id="acme",program="github"} 1`+"\n") {
		t.Error(`partnergate_keys_leaked_total{partner_id="acme",program="github"} is not 1`)
	}
	a.waitLog(t, "A warns naming key and partner", `"msg":"leaked key revoked"`, `"key_id":"`+ids[0]+`"`, `"partner_id":"acme"`)
	secret := leaked[len(leaked)-49:]
	for name, logs := range map[string]string{"A": a.logs.String(), "B": b.logs.String(), "reply": string(reply)} {
		if strings.Contains(logs, secret) {
			t.Errorf("the leaked secret appears in %s", name)
		}
	}
}
