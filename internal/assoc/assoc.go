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
	sets   []set[E]      // one allocation: page-aligned once past 32 KiB, so each set is one line
}

// New returns an empty table of room for capacity entries (rounded up to
// a whole set), whose entries' keys are read with key.
func New[E any](capacity int, key func(*E) string) *Table[E] {
	return &Table[E]{seed: maphash.MakeSeed(), key: key, sets: make([]set[E], max(1, (capacity+ways-1)/ways))}
}

// Cap returns how many entries the table can hold.
func (t *Table[E]) Cap() int { return len(t.sets) * ways }

// locate returns key's set and tag: the hash's top byte, never 0.
func (t *Table[E]) locate(key string) (*set[E], uint64) {
	h := maphash.String(t.seed, key)
	s := &t.sets[h%uint64(len(t.sets))]
	return s, max(h>>56, 1)
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
	s, tag := t.locate(key)
	for m := candidates(s.tags.Load(), tag); m != 0; m &= m - 1 {
		e := s.slots[bits.TrailingZeros64(m)/8].Load()
		if e != nil && t.key(e) == key && (match == nil || match(e)) {
			return e, true
		}
	}
	return nil, false
}

// Store stores e under its key: in the slot of an entry with the same key,
// else in an empty slot, else in place of one of the set's entries in turn.
func (t *Table[E]) Store(e *E) {
	key := t.key(e)
	s, _ := t.locate(key)
	way := -1
	for i := range s.slots {
		cur := s.slots[i].Load()
		if cur != nil && t.key(cur) == key {
			way = i
			break
		}
		if cur == nil && way < 0 {
			way = i
		}
	}
	if way < 0 {
		way = int(t.victim.Add(1) % ways)
	}
	s.slots[way].Store(e)
	t.retag(s, way)
}

// Forget removes the entries stored under key.
func (t *Table[E]) Forget(key string) {
	s, _ := t.locate(key)
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
