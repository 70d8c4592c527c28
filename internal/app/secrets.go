package app

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
)

// sqlitePath returns the file path of a sqlite:// URL.
func sqlitePath(u *url.URL) string {
	if u.Host != "" { // sqlite://relative/path.db
		return filepath.Join(u.Host, u.Path)
	}
	return u.Path
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

// sameHash compares two token hashes in constant time.
func sameHash(a, b []byte) bool {
	return len(a) == sha256.Size && subtle.ConstantTimeCompare(a, b) == 1
}
