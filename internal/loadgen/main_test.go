package loadgen

import (
	"context"
	"fmt"
	"os"
	"testing"
)

// TestMain lets the test binary be the benchmarks' server child, as
// pgload is: `loadgen.test serve …` runs [ServeArgs], for the harness
// tests of the busy feed and of the scale run.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		if err := ServeArgs(context.Background(), os.Args[2:], os.Stdin, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "serve:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
