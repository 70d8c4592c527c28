package sqlstore

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store"
)

// BenchmarkTouchCredentials writes last-use batches of 128 keys, as the
// recorder flushes them, into the embedded store holding 10,000 keys; the
// figure is per touch.
func BenchmarkTouchCredentials(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "pg.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ev := partner.AuditEvent{Actor: "bench", Action: "setup"}
	if err := s.CreatePartner(ctx, &partner.Partner{ID: "acme", Tier: partner.DefaultTier, State: partner.Active}, ev); err != nil {
		b.Fatal(err)
	}
	const keys, batch = 10_000, 128
	ids := make([]string, keys)
	for i := range ids {
		ids[i] = fmt.Sprintf("key%09d", i)
		if err := s.CreateCredential(ctx, &partner.Credential{ID: ids[i], PartnerID: "acme", Digest: make([]byte, 32), PepperVersion: 1}, ev); err != nil {
			b.Fatal(err)
		}
	}
	touches := make([]store.Touch, batch)
	at := time.Now()
	b.ResetTimer()
	for n := 0; n < b.N; n += batch {
		at = at.Add(time.Second)
		for i := range touches {
			touches[i] = store.Touch{ID: ids[(n+i*79)%keys], At: at, From: "192.0.2.1"}
		}
		if err := s.TouchCredentials(ctx, touches); err != nil {
			b.Fatal(err)
		}
	}
}
