package assoc

import (
	"fmt"
	"testing"
)

type entry struct{ key, value string }

func newTable(sets int) *Table[entry] { return New(sets, func(e *entry) string { return e.key }) }

func TestStoreFindForget(t *testing.T) {
	tb := newTable(16)
	tb.Store(&entry{"a", "1"})
	if e, ok := tb.Find("a", nil); !ok || e.value != "1" {
		t.Fatalf("Find(a) = %v, %v", e, ok)
	}
	tb.Store(&entry{"a", "2"}) // the same key replaces its entry
	if e, _ := tb.Find("a", nil); e.value != "2" {
		t.Errorf("after a second Store, Find(a) = %v", e)
	}
	if _, ok := tb.Find("a", func(e *entry) bool { return e.value == "1" }); ok {
		t.Error("Find matched a replaced entry")
	}
	tb.Forget("a")
	if e, ok := tb.Find("a", nil); ok {
		t.Errorf("after Forget, Find(a) = %v", e)
	}
}

// More keys than slots: every Find answers the key asked or nothing, and
// the table never holds more than two entries a set.
func TestBoundedAndNeverWrong(t *testing.T) {
	const sets = 8
	tb := newTable(sets)
	for i := range 10 * sets {
		k := fmt.Sprint(i)
		tb.Store(&entry{k, "v" + k})
		if e, ok := tb.Find(k, nil); !ok || e.key != k || e.value != "v"+k {
			t.Fatalf("Find(%s) right after Store = %v, %v", k, e, ok)
		}
	}
	held := 0
	for i := range 10 * sets {
		k := fmt.Sprint(i)
		if e, ok := tb.Find(k, nil); ok {
			held++
			if e.key != k {
				t.Fatalf("Find(%s) = %v", k, e)
			}
		}
	}
	if held > 2*sets {
		t.Errorf("holds %d entries, more than %d", held, 2*sets)
	}
}
