package assoc

import (
	"fmt"
	"sync"
	"testing"
	"unsafe"
)

type entry struct{ key, value string }

func newTable(capacity int) *Table[entry] {
	return New(capacity, func(e *entry) string { return e.key })
}

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
// the table never holds more than its capacity.
func TestBoundedAndNeverWrong(t *testing.T) {
	tb := newTable(8 * ways)
	if tb.Cap() != 8*ways {
		t.Fatalf("Cap = %d, want %d", tb.Cap(), 8*ways)
	}
	for i := range 10 * tb.Cap() {
		k := fmt.Sprint(i)
		tb.Store(&entry{k, "v" + k})
		if e, ok := tb.Find(k, nil); !ok || e.key != k || e.value != "v"+k {
			t.Fatalf("Find(%s) right after Store = %v, %v", k, e, ok)
		}
	}
	held := 0
	for i := range 10 * tb.Cap() {
		k := fmt.Sprint(i)
		if e, ok := tb.Find(k, nil); ok {
			held++
			if e.key != k {
				t.Fatalf("Find(%s) = %v", k, e)
			}
		}
	}
	if held > tb.Cap() {
		t.Errorf("holds %d entries, more than %d", held, tb.Cap())
	}
}

// A table a quarter full keeps nearly every key: the sets are wide enough
// that few overflow. (Two ways lost about one key in 30 here; seven lose
// about one in 3,000.)
func TestQuarterFullKeepsItsKeys(t *testing.T) {
	tb := newTable(16384)
	n := tb.Cap() / 4
	for i := range n {
		tb.Store(&entry{key: fmt.Sprintf("key%06d", i)})
	}
	lost := 0
	for i := range n {
		if _, ok := tb.Find(fmt.Sprintf("key%06d", i), nil); !ok {
			lost++
		}
	}
	if lost > n/300 {
		t.Errorf("lost %d of %d keys", lost, n)
	}
}

// A table filled to three quarters, its keys then looked up in turn with
// each one missed stored again, as a cache is used: the one-choice table
// misses about one look-up in nine, its keys in overflowing sets evicting
// each other round after round; the two-choice table keeps them all.
func TestTwoChoicesKeepAFullerTable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		new     func(int, func(*entry) string) *Table[entry]
		maxMiss float64 // of the look-ups of the second and later walks
	}{
		{"two-choice", NewTwoChoice[entry], 0.001},
		{"one-choice", New[entry], 1}, // recorded, not bounded
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := tc.new(16384, func(e *entry) string { return e.key })
			n := tb.Cap() * 3 / 4
			key := func(i int) string { return fmt.Sprintf("key%06d", i) }
			for i := range n {
				tb.Store(&entry{key: key(i)})
			}
			missed := 0
			for walk := range 4 {
				for i := range n {
					if _, ok := tb.Find(key(i), nil); !ok {
						tb.Store(&entry{key: key(i)})
						if walk > 0 {
							missed++
						}
					}
				}
			}
			rate := float64(missed) / float64(3*n)
			t.Logf("%s, three quarters full: %.3f%% of look-ups missed", tc.name, 100*rate)
			if rate > tc.maxMiss {
				t.Errorf("%.3f%% of look-ups missed, want at most %.3f%%", 100*rate, 100*tc.maxMiss)
			}
		})
	}
}

// In a two-choice table, a key held in either of its sets is found,
// replaced in place and forgotten there, never stored twice.
func TestTwoChoicesOneEntryPerKey(t *testing.T) {
	tb := NewTwoChoice(64*ways, func(e *entry) string { return e.key })
	for i := range 10 * tb.Cap() {
		k := fmt.Sprint(i % (tb.Cap() / 2))
		tb.Store(&entry{k, fmt.Sprint(i)})
		if e, ok := tb.Find(k, nil); !ok || e.value != fmt.Sprint(i) {
			t.Fatalf("Find(%s) right after Store = %v, %v", k, e, ok)
		}
	}
	held := map[string]int{}
	for i := range tb.sets {
		for w := range tb.sets[i].slots {
			if e := tb.sets[i].slots[w].Load(); e != nil {
				held[e.key]++
			}
		}
	}
	for k, n := range held {
		if n > 1 {
			t.Errorf("key %s held %d times", k, n)
		}
		tb.Forget(k)
		if _, ok := tb.Find(k, nil); ok {
			t.Errorf("Find(%s) after Forget found it", k)
		}
	}
	for i := range tb.sets {
		if tags := tb.sets[i].tags.Load(); tags != 0 {
			t.Errorf("set %d keeps tags %#x after every key was forgotten", i, tags)
		}
	}
}

// A tag never stands in for the key: keys that share a set, and even a
// tag, are told apart by the key itself.
func TestSharedTagsNeverConfuseKeys(t *testing.T) {
	tb := newTable(ways) // one set: every key shares it
	byTag := map[uint64][]string{}
	for i := 0; len(byTag) == 0 || maxLen(byTag) < 2; i++ {
		k := fmt.Sprint(i)
		_, tag := tb.locate(k)
		byTag[tag] = append(byTag[tag], k)
	}
	var a, b string
	for _, ks := range byTag {
		if len(ks) >= 2 {
			a, b = ks[0], ks[1]
		}
	}
	tb.Store(&entry{a, "A"})
	if e, ok := tb.Find(b, nil); ok {
		t.Fatalf("Find(%s) = %v: another key with the same tag", b, e)
	}
	tb.Store(&entry{b, "B"})
	for k, want := range map[string]string{a: "A", b: "B"} {
		if e, ok := tb.Find(k, nil); !ok || e.value != want {
			t.Errorf("Find(%s) = %v, %v; want %s", k, e, ok, want)
		}
	}
	tb.Forget(a)
	if _, ok := tb.Find(a, nil); ok {
		t.Errorf("Find(%s) after Forget found it", a)
	}
	if e, ok := tb.Find(b, nil); !ok || e.value != "B" {
		t.Errorf("Forget(%s) lost %s: %v, %v", a, b, e, ok)
	}
}

func maxLen(m map[uint64][]string) int {
	n := 0
	for _, v := range m {
		n = max(n, len(v))
	}
	return n
}

// Concurrent writers and readers of one small table: a reader gets the
// key it asked for or nothing, and once the writers stop, each slot's tag
// is its entry's, so every entry still held is found. Run with -race.
func TestConcurrentUse(t *testing.T) {
	for name, tb := range map[string]*Table[entry]{
		"one-choice": newTable(2 * ways),
		"two-choice": NewTwoChoice(3*ways, func(e *entry) string { return e.key }),
	} {
		t.Run(name, func(t *testing.T) { concurrentUse(t, tb) })
	}
}

func concurrentUse(t *testing.T, tb *Table[entry]) {
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 20000 {
				k := fmt.Sprint((i * (w + 1)) % 40)
				switch i % 5 {
				case 0:
					tb.Forget(k)
				case 1, 2:
					tb.Store(&entry{k, k})
				default:
					if e, ok := tb.Find(k, nil); ok && (e.key != k || e.value != k) {
						t.Errorf("Find(%s) = %v", k, e)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for i := range tb.sets {
		s := &tb.sets[i]
		for w := range s.slots {
			e := s.slots[w].Load()
			if e == nil {
				continue
			}
			if _, ok := tb.Find(e.key, nil); !ok {
				t.Errorf("%s is held in set %d way %d but not found", e.key, i, w)
			}
		}
	}
}

// Keep copies into the room it is given, returns the room past the copy,
// and refuses, copying nothing, what does not fit.
func TestKeep(t *testing.T) {
	var room [8]byte
	src := []byte("abc")
	kept, rest, ok := Keep(room[:], string(src))
	src[0] = 'x' // the caller's bytes are not the kept ones
	if !ok || kept != "abc" || unsafe.StringData(kept) != &room[0] || len(rest) != 5 || &rest[0] != &room[3] {
		t.Fatalf("Keep(abc) = %q, %d bytes of rest, %v; want abc in the room and 5 bytes after it", kept, len(rest), ok)
	}
	if kept, rest2, ok := Keep(rest, ""); !ok || kept != "" || len(rest2) != 5 {
		t.Errorf("Keep(\"\") = %q, %d, %v; want nothing kept and the room unchanged", kept, len(rest2), ok)
	}
	if kept, rest2, ok := Keep(rest, "toolong"); ok || kept != "" || len(rest2) != 5 || room[3] != 0 {
		t.Errorf("Keep of 7 bytes into 5 = %q, %d, %v; want refused, nothing copied", kept, len(rest2), ok)
	}
	if kept, rest2, ok := Keep(rest, "defgh"); !ok || kept != "defgh" || len(rest2) != 0 || string(room[:]) != "abcdefgh" {
		t.Errorf("Keep to the brim = %q, %d, %v; room %q", kept, len(rest2), ok, room[:])
	}
}
