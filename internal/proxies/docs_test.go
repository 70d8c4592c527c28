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

// TestREADMEExcerptsAreShipped keeps the README's nginx and Caddy
// excerpts true to the files the tests run: every line of each excerpt
// appears in its shipped file, in the same order (spacing aside).
func TestREADMEExcerptsAreShipped(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for lang, file := range map[string]string{"nginx": "nginx/partnergate.conf", "caddy": "caddy/Caddyfile"} {
		_, block, ok := strings.Cut(string(readme), "```"+lang+"\n")
		if !ok {
			t.Errorf("the README shows no %s excerpt", lang)
			continue
		}
		block, _, _ = strings.Cut(block, "```")
		shipped, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for l := range strings.SplitSeq(string(shipped), "\n") {
			lines = append(lines, strings.Join(strings.Fields(l), " "))
		}
		at := 0
		for l := range strings.SplitSeq(block, "\n") {
			want := strings.Join(strings.Fields(l), " ")
			if want == "" {
				continue
			}
			found := false
			for ; at < len(lines); at++ {
				if lines[at] == want {
					found, at = true, at+1
					break
				}
			}
			if !found {
				t.Errorf("the README's %s excerpt has %q, which %s does not have there", lang, want, file)
				break
			}
		}
	}
}
