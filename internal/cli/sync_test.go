package cli_test

// Test strategy (with check_test.go's): an admin write that committed but
// that the serving replica's cache could not apply must not read as a
// plain success. The fault is real: the cache's own connection to the
// SQLite store is closed, so its sync fails as it would on a damaged
// page, while the admin API writes through its own connection.

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/partnergate/partnergate/internal/admin"
	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/cache"
	"github.com/partnergate/partnergate/internal/cli"
	"github.com/partnergate/partnergate/internal/store/sqlstore"
)

// writeSync syncs the cache as the server wires it after a write.
type writeSync struct{ *cache.Cache }

func (w writeSync) Sync(ctx context.Context) error { return w.SyncWrite(ctx) }

func TestCommittedWriteWhoseCacheSyncFailed(t *testing.T) {
	ctx := context.Background()
	path := "sqlite://" + filepath.Join(t.TempDir(), "partnergate.db")
	st, err := sqlstore.Open(ctx, path, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// The cache reads through a second connection that is then lost.
	cacheStore, err := sqlstore.Open(ctx, path, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	idx, err := cache.New(cacheStore, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	if err := idx.Load(ctx); err != nil {
		t.Fatal(err)
	}

	format, _ := apikey.NewFormat(apikey.DefaultPrefix)
	hasher, _ := apikey.NewHasher(1, map[int][]byte{1: make([]byte, 32)})
	serveAdmin(t, &admin.Server{Store: st, Format: format, Hasher: hasher, Sync: writeSync{idx}})

	steps := []struct {
		name        string
		args        []string
		lose        bool // close the cache's connection first
		wantWarning bool
	}{
		{"synced-write-no-warning", []string{"partner", "create", "acme", "--scopes", "orders:read"}, false, false},
		{"unsynced-write-warns", []string{"key", "issue", "--partner", "acme", "--all-granted-scopes", "-o", "json"}, true, true},
		{"read-no-warning", []string{"key", "list", "--partner", "acme", "-o", "json"}, false, false},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.lose {
				if err := cacheStore.Close(); err != nil {
					t.Fatal(err)
				}
			}
			code, out, errs := run(t, s.args...)
			if code != cli.ExitOK {
				t.Fatalf("exit %d, stderr %q: the write committed", code, errs)
			}
			if !s.wantWarning {
				if errs != "" {
					t.Errorf("stderr %q, want nothing", errs)
				}
				return
			}
			if !strings.HasPrefix(errs, "partnergate: warning: the write committed, but this server's cache could not apply it") ||
				!strings.Contains(errs, "not ready") || strings.Count(errs, "\n") != 1 {
				t.Errorf("stderr %q, want one warning line that the cache did not take the write", errs)
			}
			if secret, _ := object(t, out)["secret"].(string); secret == "" {
				t.Errorf("stdout %q: the committed key's secret must still be shown, once", out)
			}
			if !idx.Behind() {
				t.Error("the cache does not report itself behind the write")
			}
		})
	}
}
