// Package assoc is a small, bounded, lock-free table for the hot path: a
// seven-way set-associative cache of immutable entries keyed by string.
//
// Readers take no lock: each slot is an atomic pointer to an entry that is
// never modified once stored. A key hashes to one set of seven slots, which
// fills one 64-byte cache line with a byte of the key's hash per slot (its
// tag), so a look-up reads the set's line and then only the entry whose
// tag matches. Storing into a full set whose slots hold other keys replaces
// one of them in turn, so the table never grows and a collision only costs
// a rebuild. With seven ways, keys rarely collide: at a quarter full, about
// one key in 3,000 finds no room in its set, where two ways lost one in 30.
//
// Fuller than that, sets overflow: at half full a key has 3.5 others in its
// set on average, and the 6 % of keys whose set draws more than seven take
// turns evicting each other. A table built with [NewTwoChoice] gives each
// key two sets and stores it in the emptier one, the "power of two
// choices" (Azar, Broder, Karlin and Upfal, "Balanced Allocations", 1994):
// the fullest set then exceeds the average by a few entries rather than by
// a logarithmic spread, so a table sized for its keys holds nearly all of
// them, and a look-up of a key in its second set reads a second line. It
// is for entries that are dear to rebuild.
package assoc

import (
	"hash/maphash"
	"math/bits"
	"sync/atomic"
	"unsafe"
)

const ways = 7

// set is one cache line: seven slots and, in the low seven bytes of tags,
// their keys' tags (0 for an empty slot).
type set[E any] struct {
	tags  atomic.Uint64
	slots [ways]atomic.Pointer[E]
}

// Table holds at most its capacity of entries of type E. Build it with
// [New].
type Table[E any] struct {
	seed   maphash.Seed
	key    func(*E) string
	victim atomic.Uint32 // which way the next replacement takes
	two    bool          // each key has a second set ([NewTwoChoice])
	sets   []set[E]      // one allocation: page-aligned once past 32 KiB, so each set is one line
}

// New returns an empty table of room for capacity entries (rounded up to
// a whole set), whose entries' keys are read with key.
func New[E any](capacity int, key func(*E) string) *Table[E] {
	return &Table[E]{seed: maphash.MakeSeed(), key: key, sets: make([]set[E], max(1, (capacity+ways-1)/ways))}
}

// NewTwoChoice is [New] for a table whose keys each have two sets: an
// entry goes to the emptier, and a full pair of sets gives up one entry of
// either in turn. Filled to its capacity with distinct keys, it keeps
// nearly all of them, where [New]'s table keeps about three in four.
func NewTwoChoice[E any](capacity int, key func(*E) string) *Table[E] {
	t := New(capacity, key)
	t.two = len(t.sets) > 1
	return t
}

// Cap returns how many entries the table can hold.
func (t *Table[E]) Cap() int { return len(t.sets) * ways }

// locate returns key's set and tag: the hash's top byte, never 0.
func (t *Table[E]) locate(key string) (*set[E], uint64) {
	s, _, tag := t.locate2(key)
	return s, tag
}

// locate2 returns key's first set, its second (nil unless the table has
// two choices, or when both are the same set) and its tag. The second set
// comes from the hash's bits multiplied by an odd constant and rotated,
// so the two sets of a key are independent of each other for any number
// of sets.
func (t *Table[E]) locate2(key string) (first, second *set[E], tag uint64) {
	h := maphash.String(t.seed, key)
	n := uint64(len(t.sets))
	first = &t.sets[h%n]
	if t.two {
		if s := &t.sets[bits.RotateLeft64(h*0x9e3779b97f4a7c15, 29)%n]; s != first {
			second = s
		}
	}
	return first, second, max(h>>56, 1)
}

const (
	lowBits  = 0x0001010101010101 // the low bit of each tag byte
	highBits = 0x0080808080808080 // the high bit of each tag byte
)

// candidates returns, as the high bit of each byte, the slots whose tag
// may be tag. A slot with another tag is rarely reported too, since the
// test is approximate; the caller compares keys.
func candidates(tags, tag uint64) uint64 {
	x := tags ^ (tag * lowBits) // a zero byte where the tag matches
	return (x - lowBits) &^ x & highBits
}

// Find returns the entry stored under key for which match, if not nil,
// reports true.
func (t *Table[E]) Find(key string, match func(*E) bool) (*E, bool) {
	first, second, tag := t.locate2(key)
	if e, ok := t.findIn(first, key, tag, match); ok || second == nil {
		return e, ok
	}
	return t.findIn(second, key, tag, match)
}

func (t *Table[E]) findIn(s *set[E], key string, tag uint64, match func(*E) bool) (*E, bool) {
	for m := candidates(s.tags.Load(), tag); m != 0; m &= m - 1 {
		e := s.slots[bits.TrailingZeros64(m)/8].Load()
		if e != nil && t.key(e) == key && (match == nil || match(e)) {
			return e, true
		}
	}
	return nil, false
}

// Store stores e under its key: in the slot of an entry with the same key,
// else in an empty slot (of the emptier of the key's two sets, in a
// [NewTwoChoice] table), else in place of one of the entries in turn.
func (t *Table[E]) Store(e *E) {
	key := t.key(e)
	first, second, _ := t.locate2(key)
	s := first
	held, way, free := t.slotIn(first, key)
	if held == nil && second != nil {
		if held2, way2, free2 := t.slotIn(second, key); held2 != nil || free2 > free {
			s, way = second, way2
		}
	}
	if way < 0 { // no slot of the key's and none empty: replace in turn
		v := t.victim.Add(1)
		s, way = first, int(v%ways)
		if second != nil && v/ways%2 == 1 {
			s = second
		}
	}
	s.slots[way].Store(e)
	t.retag(s, way)
}

// slotIn looks in s for key: held returns s and its way; else way is the
// first empty slot (-1 for none) and free the number of empty slots.
func (t *Table[E]) slotIn(s *set[E], key string) (held *set[E], way, free int) {
	way = -1
	for i := range s.slots {
		cur := s.slots[i].Load()
		if cur != nil && t.key(cur) == key {
			return s, i, 0
		}
		if cur == nil {
			if way < 0 {
				way = i
			}
			free++
		}
	}
	return nil, way, free
}

// Forget removes the entries stored under key, in each of its sets.
func (t *Table[E]) Forget(key string) {
	first, second, _ := t.locate2(key)
	t.forgetIn(first, key)
	if second != nil {
		t.forgetIn(second, key)
	}
}

func (t *Table[E]) forgetIn(s *set[E], key string) {
	for i := range s.slots {
		if e := s.slots[i].Load(); e != nil && t.key(e) == key && s.slots[i].CompareAndSwap(e, nil) {
			t.retag(s, i)
		}
	}
}

// retag sets slot i's tag to that of the entry it holds. Writers race
// only with each other, and rarely (a write is a miss); each pass tags the
// entry it read, and passes again if the slot changed meanwhile, so the
// last writer leaves the tag of the last entry. Readers never trust a tag
// alone: a stale one costs a key comparison or a miss, never a wrong entry.
func (t *Table[E]) retag(s *set[E], i int) {
	shift := uint(8 * i)
	for {
		e := s.slots[i].Load()
		var tag uint64
		if e != nil {
			_, tag = t.locate(t.key(e))
		}
		old := s.tags.Load()
		if s.tags.CompareAndSwap(old, old&^(0xff<<shift)|tag<<shift) && s.slots[i].Load() == e {
			return
		}
	}
}

// Keep copies s into the front of room, an array inside a table entry,
// and returns the copy, viewed in place, and the room after it; ok is
// false, and nothing is copied, when s does not fit. An entry that keeps
// its strings in its own array is one block of memory, which a look-up
// on a cold entry reads as a few adjacent cache lines. The kept bytes
// must never be written again; rest does not reach them.
func Keep(room []byte, s string) (kept string, rest []byte, ok bool) {
	if len(s) > len(room) {
		return "", room, false
	}
	if s == "" {
		return "", room, true
	}
	n := copy(room, s)
	return unsafe.String(&room[0], n), room[n:], true
}
