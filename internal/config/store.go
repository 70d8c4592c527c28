package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Where the store URL comes from. A PostgreSQL URL usually carries a
// password, and a command line is readable by every user of the host
// (/proc/<pid>/cmdline, ps), so the URL belongs in the environment or in a
// file; a --store flag with a password still works but is warned about.

// minMaxStaleness keeps the staleness bound above the feed's one-second
// poll, so a single slow read never makes a replica refuse Checks.
const minMaxStaleness = 2 * time.Second

// minReconcileInterval keeps full snapshots from becoming a load on the
// store.
const minReconcileInterval = 10 * time.Second

// loadStore reads store_file into Store and notes a password on the
// command line. It runs at the end of Load, after every source merged.
func (c *Config) loadStore(fs *pflag.FlagSet, getenv func(string) (string, bool)) []error {
	flagSet := fs != nil && fs.Changed("store")
	if flagSet && hasPassword(c.Store) {
		c.LoadWarnings = append(c.LoadWarnings, "--store carries a password, which every user of this host can read in the process list; "+
			"set "+EnvPrefix+"STORE or store_file instead")
	}
	if c.StoreFile == "" {
		return nil
	}
	_, envSet := getenv(EnvPrefix + "STORE")
	if flagSet || envSet {
		return []error{errors.New("store_file: set it or store (--store, " + EnvPrefix + "STORE), not both")}
	}
	b, err := os.ReadFile(c.StoreFile)
	if err != nil {
		return []error{fmt.Errorf("store_file: %w", err)}
	}
	c.Store = strings.TrimSpace(string(b))
	if c.Store == "" {
		return []error{fmt.Errorf("store_file: %s is empty", c.StoreFile)}
	}
	return nil
}

// hasPassword reports whether a store URL carries a password, in its user
// information or in a query parameter such as password= or sslpassword=.
func hasPassword(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return strings.Contains(strings.ToLower(raw), "password")
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			return true
		}
	}
	for k := range u.Query() {
		if strings.Contains(strings.ToLower(k), "password") {
			return true
		}
	}
	return false
}

// validateStore checks the store URL and the cache's feed settings.
func (c *Config) validateStore() []error {
	var errs []error
	key := "store"
	if c.StoreFile != "" {
		key = "store_file"
	}
	if _, err := StoreKind(c.Store); err != nil {
		// The value itself is not repeated: it may hold a password.
		errs = append(errs, fmt.Errorf("%s: %v", key, err))
	}
	if c.MaxStaleness != 0 && c.MaxStaleness < minMaxStaleness {
		errs = append(errs, fmt.Errorf("max_staleness: must be 0 (no bound) or at least %s, got %s", minMaxStaleness, c.MaxStaleness))
	}
	if c.ReconcileInterval != 0 && c.ReconcileInterval < minReconcileInterval {
		errs = append(errs, fmt.Errorf("reconcile_interval: must be 0 (off) or at least %s, got %s", minReconcileInterval, c.ReconcileInterval))
	}
	return errs
}
