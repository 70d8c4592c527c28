package proxies

import (
	"os"
	"strings"
	"testing"
)

// TestDocsShowTheShippedConfigs keeps docs/proxies.md's copy-pasteable
// configs the ones the tests run: each shipped file must appear in it
// whole.
func TestDocsShowTheShippedConfigs(t *testing.T) {
	doc, err := os.ReadFile("../../docs/proxies.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"nginx/partnergate.conf", "caddy/Caddyfile", "traefik/dynamic.yaml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(doc), strings.TrimRight(string(b), "\n")+"\n```") {
			t.Errorf("docs/proxies.md does not show %s as shipped: copy it in again", f)
		}
	}
}
