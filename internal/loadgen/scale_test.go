package loadgen

import (
	"context"
	"os"
	"strings"
	"testing"
)

// The scale benchmark at a small size, against a real child process over
// a real SQLite store, so that its harness cannot rot: every key loaded,
// every revocation applied from the feed.
func TestScaleSmall(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	res, err := Scale(context.Background(), ScaleOptions{Self: self, Dir: t.TempDir(), Keys: 3000, Revocations: 1200, Out: &out})
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if res.Keys != 3000 {
		t.Errorf("replica holds %d keys, want 3000", res.Keys)
	}
	if res.Applied != 1200 {
		t.Errorf("replica applied %d feed entries, want 1200", res.Applied)
	}
	if res.Serving <= 0 || res.LiveHeap == 0 || res.ReplayLiveHeap == 0 || res.PeakRSS == 0 {
		t.Errorf("missing figures: %+v", res)
	}
	for _, want := range []string{"seeded in", "B/key", "peak RSS", "applied 1200 feed entries"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
