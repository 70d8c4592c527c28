// Package assoc is a small, bounded, lock-free table for the hot path: a
// two-way set-associative cache of immutable entries keyed by string.
//
// Readers take no lock: each slot is an atomic pointer to an entry that is
// never modified once stored. A key hashes to one set of two slots; storing
// into a full set whose slots hold other keys replaces one of them in turn,
// so the table never grows and a collision only costs a rebuild.
package assoc

import (
	"hash/maphash"
	"sync/atomic"
)

const ways = 2

// Table holds at most 2 × sets entries of type E. Build it with [New].
type Table[E any] struct {
	seed   maphash.Seed
	key    func(*E) string
	victim atomic.Uint32 // which way the next replacement takes
	sets   [][ways]atomic.Pointer[E]
}

// New returns an empty table of sets sets, whose entries' keys are read
// with key.
func New[E any](sets int, key func(*E) string) *Table[E] {
	return &Table[E]{seed: maphash.MakeSeed(), key: key, sets: make([][ways]atomic.Pointer[E], sets)}
}

func (t *Table[E]) set(key string) *[ways]atomic.Pointer[E] {
	return &t.sets[maphash.String(t.seed, key)%uint64(len(t.sets))]
}

// Find returns the entry stored under key for which match, if not nil,
// reports true.
func (t *Table[E]) Find(key string, match func(*E) bool) (*E, bool) {
	set := t.set(key)
	for i := range set {
		if e := set[i].Load(); e != nil && t.key(e) == key && (match == nil || match(e)) {
			return e, true
		}
	}
	return nil, false
}

// Store stores e under its key: in the slot of an entry with the same key,
// else in an empty slot, else in place of one of the set's entries in turn.
func (t *Table[E]) Store(e *E) {
	key := t.key(e)
	set := t.set(key)
	way := -1
	for i := range set {
		switch cur := set[i].Load(); {
		case cur != nil && t.key(cur) == key:
			set[i].Store(e)
			return
		case cur == nil && way < 0:
			way = i
		}
	}
	if way < 0 {
		way = int(t.victim.Add(1) % ways)
	}
	set[way].Store(e)
}

// Forget removes the entries stored under key.
func (t *Table[E]) Forget(key string) {
	set := t.set(key)
	for i := range set {
		if e := set[i].Load(); e != nil && t.key(e) == key {
			set[i].CompareAndSwap(e, nil)
		}
	}
}
