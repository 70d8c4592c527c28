package loadgen

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store/sqlstore"
)

// SeedPartner is the partner every seeded key belongs to.
const SeedPartner = "acme"

// Seeded is a SQLite store filled by [Seed].
type Seeded struct {
	// StoreURL and PepperFile configure a server over the store.
	StoreURL, PepperFile string
	// Hot are the full keys of the first seeded credentials, for traffic
	// that must be allowed. They are secrets of a throwaway store.
	Hot []apikey.Key
	// Keys is the number of credentials stored.
	Keys int
	// Took is how long seeding took.
	Took time.Duration
}

// Seed creates a SQLite store in dir holding one active partner, the
// OAuth2 clients given (registered to it), and n active credentials,
// written in one transaction, and a pepper file beside it. It returns the
// first hot keys in full. The store's own API runs the migrations and
// creates the partner and the clients (with their audit events);
// credentials are inserted with SQL, since a million audited single writes
// would take hours and the cache reads only the credentials table.
func Seed(ctx context.Context, dir string, format apikey.Format, n, hot int, clients ...*partner.Client) (*Seeded, error) {
	start := time.Now()
	dbPath := filepath.Join(dir, "partnergate.db")
	pepperPath := filepath.Join(dir, "pepper")
	var pepper [32]byte
	if _, err := rand.Read(pepper[:]); err != nil {
		return nil, err
	}
	if err := os.WriteFile(pepperPath, []byte(hex.EncodeToString(pepper[:])+"\n"), 0o600); err != nil {
		return nil, err
	}
	hasher, err := apikey.NewHasher(1, map[int][]byte{1: pepper[:]})
	if err != nil {
		return nil, err
	}
	url := "sqlite://" + dbPath
	st, err := sqlstore.Open(ctx, url, sqlstore.Options{})
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	p := &partner.Partner{ID: SeedPartner, Tier: partner.DefaultTier, Scopes: partner.Scopes{Scope}, State: partner.Active}
	err = st.CreatePartner(ctx, p, partner.AuditEvent{Actor: "pgload", Action: "partner.create", PartnerID: SeedPartner})
	for _, c := range clients {
		if err != nil {
			break
		}
		err = st.AddClient(ctx, c, partner.AuditEvent{Actor: "pgload", Action: "client.add", PartnerID: c.PartnerID})
	}
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}

	db, err := sql.Open("sqlite", dbPath+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO credentials (id, partner_id, name, digest, pepper_version, scopes, created_at, version)
		VALUES (?, ?, '', ?, 1, ?, ?, 1)`)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	s := &Seeded{StoreURL: url, PepperFile: pepperPath, Keys: n}
	created := time.Now().UnixMicro()
	for i := range n {
		k, err := format.Generate(rand.Reader)
		if err != nil {
			return nil, err
		}
		digest, _ := hasher.Digest(k)
		if _, err := ins.ExecContext(ctx, k.ID(), SeedPartner, digest, Scope, created); err != nil {
			return nil, fmt.Errorf("seed: credential %d: %w", i, err)
		}
		if i < hot {
			s.Hot = append(s.Hot, k)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	s.Took = time.Since(start)
	return s, nil
}
