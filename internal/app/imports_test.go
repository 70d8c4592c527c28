package app

import (
	"go/build"
	"maps"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/partnergate/partnergate"

// TestImportDirection enforces the layering README.md describes, so it
// holds by test rather than by memory: the domain imports nothing of ours,
// the decision never reaches a store nor knows a transport, the Envoy
// transport never reaches the store, pure packages do no wiring, and only
// cmd imports the wiring.
func TestImportDirection(t *testing.T) {
	rules := []struct {
		pkg       string
		forbidden []string // module-relative prefixes, checked transitively
		onlyStd   bool     // may import nothing from this module
	}{
		{pkg: "internal/partner", onlyStd: true},
		{pkg: "internal/apikey", onlyStd: true},
		// The decision is transport-neutral: no store, no cache, and no
		// transport's types (checked below, third-party imports included).
		{pkg: "authz", forbidden: []string{"internal/telemetry", "internal/store", "internal/cache", "internal/admin", "internal/app", "internal/cli", "internal/config", "internal/extauthz"}},
		// Envoy's transport decides nothing and never reaches the store
		// or the cache behind the decision.
		{pkg: "internal/extauthz", forbidden: []string{"internal/store", "internal/cache", "internal/lastuse", "internal/telemetry", "internal/admin", "internal/app", "internal/cli", "internal/config"}},
		{pkg: "internal/jwtverify", forbidden: []string{"internal/store", "internal/cache", "authz", "internal/admin", "internal/app"}},
		{pkg: "internal/dpop", forbidden: []string{"internal/store", "internal/cache", "authz", "internal/admin", "internal/app", "internal/telemetry", "internal/config", "internal/jwtverify"}},
		{pkg: "internal/peercert", forbidden: []string{"internal/store", "internal/cache", "authz", "internal/admin", "internal/app", "internal/telemetry", "internal/config", "internal/jwtverify"}},
		{pkg: "internal/pepper", forbidden: []string{"internal/store/sqlstore", "internal/cache", "authz", "internal/admin", "internal/app", "internal/telemetry"}},
		{pkg: "internal/policy", forbidden: []string{"internal/store", "internal/cache", "authz", "internal/app"}},
		{pkg: "internal/store", forbidden: []string{"internal/cache", "authz", "internal/admin", "internal/app"}},
		{pkg: "internal/store/sqlstore", forbidden: []string{"internal/cache", "authz", "internal/admin", "internal/app"}},
		{pkg: "internal/cache", forbidden: []string{"authz", "internal/admin", "internal/app", "internal/store/sqlstore"}},
		{pkg: "internal/admin", forbidden: []string{"authz", "internal/app", "internal/store/sqlstore"}},
		{pkg: "internal/cli", forbidden: []string{"internal/app", "internal/store/sqlstore"}}, // talks to the admin API, never the database
		{pkg: "internal/lastuse", forbidden: []string{"authz", "internal/cache", "internal/admin", "internal/app", "internal/store/sqlstore", "internal/telemetry"}},
		// The leaked-key endpoint revokes through its own small interface;
		// the offline scanner knows the key format only.
		{pkg: "internal/secretscan", forbidden: []string{"internal/store", "internal/cache", "authz", "internal/admin", "internal/app", "internal/cli", "internal/telemetry"}},
		{pkg: "internal/keyscan", forbidden: []string{"internal/store", "internal/cache", "authz", "internal/admin", "internal/app", "internal/cli", "internal/telemetry", "internal/config"}},
		{pkg: "internal/telemetry", forbidden: []string{"internal/store/sqlstore", "internal/admin", "internal/app"}},
		// The HTTP forward-auth transport reads requests and writes answers;
		// the decision, and everything it reads, is authz's.
		{pkg: "internal/forwardauth", forbidden: []string{"internal/store", "internal/cache", "internal/admin", "internal/app", "internal/cli", "internal/config", "internal/telemetry", "internal/extauthz"}},
	}
	for _, r := range rules {
		t.Run(strings.ReplaceAll(r.pkg, "/", "-"), func(t *testing.T) {
			deps := moduleDeps(t, module+"/"+r.pkg)
			for _, d := range deps {
				rel := strings.TrimPrefix(d, module+"/")
				if r.onlyStd {
					t.Errorf("%s imports %s; it may import only the standard library and third-party code", r.pkg, rel)
				}
				for _, f := range r.forbidden {
					if rel == f || strings.HasPrefix(rel, f+"/") {
						t.Errorf("%s reaches %s", r.pkg, rel)
					}
				}
			}
		})
	}
	t.Run("authz-imports-no-transport", func(t *testing.T) {
		for _, imp := range allImports(t, module+"/authz") {
			for _, transport := range []string{"google.golang.org/grpc", "github.com/envoyproxy/go-control-plane", "google.golang.org/genproto", "google.golang.org/protobuf"} {
				if imp == transport || strings.HasPrefix(imp, transport+"/") {
					t.Errorf("authz reaches %s: the decision must not know any transport's types", imp)
				}
			}
		}
	})
	t.Run("only-cmd-imports-app", func(t *testing.T) {
		for _, pkg := range []string{"authz", "internal/extauthz", "internal/admin", "internal/cli", "internal/cache", "internal/telemetry", "internal/config", "internal/forwardauth"} {
			if slices.Contains(moduleDeps(t, module+"/"+pkg), module+"/internal/app") {
				t.Errorf("%s imports internal/app", pkg)
			}
		}
	})
}

// allImports returns every package outside the standard library that pkg
// imports, directly or not, from non-test files, third-party ones
// included. The standard library is not walked: it imports nothing else.
func allImports(t *testing.T, pkg string) []string {
	t.Helper()
	seen := map[string]bool{}
	var walk func(string)
	walk = func(p string) {
		bp, err := build.Import(p, ".", 0)
		if err != nil {
			t.Fatalf("import %s: %v", p, err)
		}
		if bp.Goroot {
			delete(seen, p)
			return
		}
		for _, imp := range bp.Imports {
			if !seen[imp] && imp != "C" {
				seen[imp] = true
				walk(imp)
			}
		}
	}
	walk(pkg)
	return slices.Sorted(maps.Keys(seen))
}

// moduleDeps returns every package of this module that pkg imports,
// directly or not, from non-test files.
func moduleDeps(t *testing.T, pkg string) []string {
	t.Helper()
	seen := map[string]bool{}
	var walk func(string)
	walk = func(p string) {
		bp, err := build.Import(p, ".", 0)
		if err != nil {
			t.Fatalf("import %s: %v", p, err)
		}
		for _, imp := range bp.Imports {
			if strings.HasPrefix(imp, module+"/") && !seen[imp] {
				seen[imp] = true
				walk(imp)
			}
		}
	}
	walk(pkg)
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}
