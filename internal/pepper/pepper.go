package pepper

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/partner"
)

// Store is what the pepper check needs of the source of truth; every
// store.Store has it.
type Store interface {
	// PepperVersions returns the pepper versions live keys were hashed
	// with.
	PepperVersions(ctx context.Context) ([]int, error)
	Meta(ctx context.Context, key string) (string, error)
	InitMeta(ctx context.Context, key, value string) (string, error)
}

// MetaKey is the store setting that holds the fingerprint of pepper
// version v.
func MetaKey(v int) string { return "pepper_fingerprint_v" + strconv.Itoa(v) }

// Path returns where the pepper lives: the configured file, or with SQLite
// a file "pepper" beside the database.
func Path(configured, storeURL string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	u, err := url.Parse(storeURL)
	if err != nil || u.Scheme != "sqlite" {
		return "", errors.New("pepper_file: required unless the store is SQLite")
	}
	p := u.Path
	if u.Host != "" { // sqlite://relative/path.db
		p = filepath.Join(u.Host, u.Path)
	}
	return filepath.Join(filepath.Dir(p), "pepper"), nil
}

// Options says which pepper [Open] loads.
type Options struct {
	// Path is the pepper file. Required.
	Path string
	// Version is the pepper's version, recorded with each digest.
	Version int
	// Generate lets Open write a new random pepper to Path when the file
	// does not exist and the store holds no live key and no fingerprint of
	// Version: a fresh store. Anything else with a missing file refuses to
	// start.
	Generate bool
	// Logger receives one line when a fingerprint is first recorded; nil
	// discards.
	Logger *slog.Logger
}

// Open returns the pepper at o.Path once it is proven to be the one the
// store expects: its fingerprint matches the one stored for o.Version
// (recorded now if the store has none), and every live key in the store
// was hashed with o.Version. A missing file is generated only for a fresh
// store (see [Options.Generate]). Errors name the file and the version;
// when the store cannot be reached the error wraps
// [partner.ErrUnavailable] and nothing is written.
func Open(ctx context.Context, st Store, o Options) ([]byte, error) {
	p, err := Read(o.Path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := mayGenerate(ctx, st, o); err != nil {
			return nil, err
		}
		if err := generate(o.Path); err != nil {
			return nil, err
		}
		p, err = Read(o.Path)
	}
	if err != nil {
		return nil, err
	}
	if err := Verify(ctx, st, o.Path, o.Version, o.Logger, p); err != nil {
		return nil, err
	}
	return p, nil
}

// mayGenerate returns nil if a new pepper may be written to o.Path, else
// the error that explains why not.
func mayGenerate(ctx context.Context, st Store, o Options) error {
	versions, err := st.PepperVersions(ctx)
	switch {
	case err != nil && !o.Generate:
		return fmt.Errorf("pepper_file %s: does not exist", o.Path)
	case err != nil:
		return fmt.Errorf("pepper_file %s: does not exist, and the store cannot say whether keys need it: %w", o.Path, err)
	case len(versions) > 0:
		return fmt.Errorf("pepper_file %s: does not exist, but the store holds live API keys hashed with pepper version %s: "+
			"restore the pepper file backed up with the database (a new pepper would refuse every key)", o.Path, joinInts(versions))
	case !o.Generate:
		return fmt.Errorf("pepper_file %s: does not exist", o.Path)
	}
	fp, err := st.Meta(ctx, MetaKey(o.Version))
	switch {
	case errors.Is(err, partner.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("pepper_file %s: does not exist, and the store cannot say whether it had one: %w", o.Path, err)
	case fp != "":
		return fmt.Errorf("pepper_file %s: does not exist, but the store recorded pepper version %d: "+
			"restore the pepper file backed up with the database", o.Path, o.Version)
	}
	return nil
}

// Verify checks pepper p, read from path, against the store: the
// fingerprint stored for version must match (it is recorded if there is
// none yet), and no live key may need a pepper version other than
// version.
func Verify(ctx context.Context, st Store, path string, version int, log *slog.Logger, p []byte) error {
	if err := verifyFingerprint(ctx, st, path, version, log, p); err != nil {
		return err
	}
	versions, err := st.PepperVersions(ctx)
	if err != nil {
		return fmt.Errorf("pepper_file %s: checking pepper version %d against the store: %w", path, version, err)
	}
	for _, v := range versions {
		if v != version {
			return fmt.Errorf("pepper_version %d: the store holds live API keys hashed with pepper version %d, "+
				"which is not configured (pepper_file %s is version %d)", version, v, path, version)
		}
	}
	return nil
}

// verifyFingerprint checks p against the fingerprint stored for version,
// recording it if there is none yet.
func verifyFingerprint(ctx context.Context, st Store, path string, version int, log *slog.Logger, p []byte) error {
	fp := apikey.Fingerprint(p)
	stored, err := st.Meta(ctx, MetaKey(version))
	if errors.Is(err, partner.ErrNotFound) {
		stored, err = st.InitMeta(ctx, MetaKey(version), fp)
		if err == nil && stored == fp && log != nil {
			log.Info("pepper fingerprint recorded in the store", "file", path, "version", version)
		}
	}
	if err != nil {
		return fmt.Errorf("pepper_file %s: checking pepper version %d against the store: %w", path, version, err)
	}
	// Not secret, but compared as the digests it stands beside are.
	if subtle.ConstantTimeCompare([]byte(stored), []byte(fp)) != 1 {
		return fmt.Errorf("pepper_file %s: is not pepper version %d that the store's keys were hashed with (its fingerprint differs): "+
			"restore the pepper file backed up with the database", path, version)
	}
	return nil
}

// Read reads the pepper at path: hex, or at least [apikey.MinPepperLen]
// raw bytes, surrounding white space trimmed. A missing file is an error
// wrapping [fs.ErrNotExist].
func Read(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pepper_file: %w", err)
	}
	b = bytes.TrimSpace(b)
	if dec, err := hex.DecodeString(string(b)); err == nil {
		b = dec
	}
	if len(b) < apikey.MinPepperLen {
		return nil, fmt.Errorf("pepper_file %s: %d bytes, want at least %d (hex or raw)", path, len(b), apikey.MinPepperLen)
	}
	return b, nil
}

// generate writes a new random pepper to path (mode 0600), never replacing
// an existing file: a process that loses the race uses the winner's.
func generate(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("pepper_file: %w", err)
	}
	var raw [32]byte
	if _, err := io.ReadFull(rand.Reader, raw[:]); err != nil {
		return fmt.Errorf("pepper_file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pepper_file: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(raw[:]) + "\n")
	return errors.Join(err, f.Sync(), f.Close())
}

func joinInts(vs []int) string {
	var b []byte
	for i, v := range vs {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = strconv.AppendInt(b, int64(v), 10)
	}
	return string(b)
}
