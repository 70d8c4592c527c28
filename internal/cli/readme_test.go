package cli_test

import (
	"os"
	"strings"
	"testing"

	"github.com/partnergate/partnergate/internal/cli"
)

// TestQuickStartRunsOnOtherPorts guards the README's quick start for a
// machine whose default ports are taken: it says how to move the server
// (make run ARGS=…) and names the variables the client reads, as the
// client spells them, and it shows a bearer token Check.
func TestQuickStartRunsOnOtherPorts(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, quick, ok := strings.Cut(string(b), "\n## Quick start\n")
	if !ok {
		t.Fatal("README has no Quick start section")
	}
	quick, _, _ = strings.Cut(quick, "\n## ")
	for _, want := range []string{
		"make run ARGS=", "--listen ", "--admin-listen ", "--metrics-listen ",
		"export " + cli.EnvAdminAddr + "=", "export " + cli.EnvCheckAddr + "=",
		"check --bearer",
	} {
		if !strings.Contains(quick, want) {
			t.Errorf("the quick start does not show %q", want)
		}
	}
}
