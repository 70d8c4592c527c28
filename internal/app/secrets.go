package app

import (
	"net/url"
	"path/filepath"
)

// sqlitePath returns the file path of a sqlite:// URL.
func sqlitePath(u *url.URL) string {
	if u.Host != "" { // sqlite://relative/path.db
		return filepath.Join(u.Host, u.Path)
	}
	return u.Path
}
