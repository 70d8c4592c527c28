package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
)

// TestDamagedSQLiteFileIsReportedAsDamaged writes keys to a SQLite file,
// overwrites the pages at the end of the file (where the credentials
// table's newest rows and indexes live) with garbage, as a disk or a bad
// restore does, and reads the keys back: the error says the database is
// damaged, not only that something failed.
func TestDamagedSQLiteFileIsReportedAsDamaged(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "partnergate.db")
	s := openSQLiteT(t, path, Options{})
	p := &partner.Partner{ID: "acme", Tier: "standard", State: partner.Active}
	if err := s.CreatePartner(ctx, p, partner.AuditEvent{Action: "partner.create"}); err != nil {
		t.Fatal(err)
	}
	for i := range 400 {
		c := &partner.Credential{ID: fmt.Sprintf("key%09d", i), PartnerID: "acme", Name: "a name long enough to fill pages",
			Digest: make([]byte, 32), PepperVersion: 1, ExpiresAt: time.Now().Add(time.Hour)}
		if err := s.CreateCredential(ctx, c, partner.AuditEvent{Action: "key.issue"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	junk := make([]byte, st.Size()/3)
	for i := range junk {
		junk[i] = byte(i*7 + 3)
	}
	if _, err := f.WriteAt(junk, st.Size()-int64(len(junk))); err != nil {
		t.Fatal(err)
	}
	f.Close()

	s2, err := Open(ctx, "sqlite://"+path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s2.Close()
	for _, tc := range []struct {
		name string
		read func() error
	}{
		{"list-credentials", func() error { _, err := s2.ListCredentials(ctx, "acme"); return err }},
		{"get-credential", func() error { _, err := s2.GetCredential(ctx, "key000000399"); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.read(); !errors.Is(err, partner.ErrCorrupt) {
				t.Errorf("read of a damaged page = %v, want ErrCorrupt", err)
			}
		})
	}
}
