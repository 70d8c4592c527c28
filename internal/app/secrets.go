package app

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"github.com/partnergate/partnergate/internal/apikey"
)

// pepperPath returns where the pepper lives: the configured file, or with
// SQLite a file "pepper" beside the database.
func pepperPath(configured, storeURL string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	u, err := url.Parse(storeURL)
	if err != nil || u.Scheme != "sqlite" {
		return "", errors.New("pepper_file: required unless the store is SQLite")
	}
	return filepath.Join(filepath.Dir(sqlitePath(u)), "pepper"), nil
}

// sqlitePath returns the file path of a sqlite:// URL.
func sqlitePath(u *url.URL) string {
	if u.Host != "" { // sqlite://relative/path.db
		return filepath.Join(u.Host, u.Path)
	}
	return u.Path
}

// loadPepper reads the pepper at path. When create is set and the file does
// not exist, it writes a new random one first (mode 0600, never replacing
// an existing file): losing the pepper invalidates every key, so it is
// never regenerated silently.
func loadPepper(path string, create bool) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		if err := writeNewPepper(path); err != nil {
			return nil, err
		}
		b, err = os.ReadFile(path)
	}
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

func writeNewPepper(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("pepper_file: %w", err)
	}
	var raw [32]byte
	if _, err := io.ReadFull(rand.Reader, raw[:]); err != nil {
		return fmt.Errorf("pepper_file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil // another process won the race; use its pepper
	}
	if err != nil {
		return fmt.Errorf("pepper_file: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(raw[:]) + "\n")
	return errors.Join(err, f.Sync(), f.Close())
}

// readTokenFile reads an admin token file, trimmed.
func readTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("admin_token_file: %w", err)
	}
	tok := string(bytes.TrimSpace(b))
	if len(tok) < 16 {
		return "", fmt.Errorf("admin_token_file %s: token shorter than 16 characters", path)
	}
	return tok, nil
}
