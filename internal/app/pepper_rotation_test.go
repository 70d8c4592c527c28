package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/partnergate/partnergate/internal/config"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

func writeTestPepper(t *testing.T, path string) {
	t.Helper()
	p := make([]byte, 32)
	rand.Read(p)
	if err := os.WriteFile(path, []byte(hex.EncodeToString(p)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestPepperRotation runs the rotation procedure on one database: a key
// issued under pepper 1 keeps working once peppers lists {2, 1}, new keys
// are hashed with 2, and once 1 is dropped the old key is refused and the
// start-up log counts it.
func TestPepperRotation(t *testing.T) {
	dir := t.TempDir()
	v1, v2 := filepath.Join(dir, "pepper-v1"), filepath.Join(dir, "pepper-v2")
	writeTestPepper(t, v1)
	writeTestPepper(t, v2)
	base := testConfig(dir)

	first := base
	first.PepperFile = v1
	h := launch(t, first, 10*time.Second)
	if _, err := h.admin.CreatePartner(adminCtx(), &adminv1.CreatePartnerRequest{Id: "acme", Scopes: []string{"orders:read"}}); err != nil {
		t.Fatal(err)
	}
	issue := func(h *harness) *adminv1.IssueKeyResponse {
		resp, err := h.admin.IssueKey(adminCtx(), &adminv1.IssueKeyRequest{PartnerId: "acme", AllGrantedScopes: true})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	old := issue(h)
	if old.GetKey().GetPepperVersion() != 1 {
		t.Fatalf("first key on pepper %d", old.GetKey().GetPepperVersion())
	}
	h.wantCheck(t, "on pepper 1", old.GetSecret(), codes.OK)
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}

	both := base
	both.Peppers = []config.Pepper{{Version: 2, File: v2}, {Version: 1, File: v1}}
	h = launch(t, both, 10*time.Second)
	h.wantCheck(t, "old key with peppers {2, 1}", old.GetSecret(), codes.OK)
	next := issue(h)
	if next.GetKey().GetPepperVersion() != 2 {
		t.Fatalf("a key issued with peppers {2, 1} is on pepper %d, want 2", next.GetKey().GetPepperVersion())
	}
	h.wantCheck(t, "new key", next.GetSecret(), codes.OK)
	found, err := h.admin.FindKeys(adminCtx(), &adminv1.FindKeysRequest{PepperVersion: ptr(int32(1))})
	if err != nil || len(found.GetKeys()) != 1 || found.GetKeys()[0].GetId() != old.GetKey().GetId() {
		t.Fatalf("keys still on pepper 1 = %v, %v", found.GetKeys(), err)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}

	only2 := base
	only2.Peppers = []config.Pepper{{Version: 2, File: v2}}
	h = launch(t, only2, 10*time.Second)
	if !strings.Contains(h.logs.String(), `"version":1,"keys":1`) {
		t.Errorf("the start-up log does not count the key pepper 1 would verify:\n%s", h.logs.String())
	}
	h.wantCheck(t, "new key with peppers {2}", next.GetSecret(), codes.OK)
	resp, err := h.check.Check(context.Background(), checkRequest("req-old", map[string]string{"x-api-key": old.GetSecret()}))
	if err == nil && codes.Code(resp.GetStatus().GetCode()) == codes.OK {
		t.Fatal("a key whose pepper is no longer configured was allowed")
	}
}

func ptr[T any](v T) *T { return &v }
