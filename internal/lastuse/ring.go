package lastuse

import (
	"strings"
	"sync/atomic"

	"golang.org/x/sys/cpu"
)

// The rings between Used and the drainer. Each is a bounded queue after
// Dmitry Vyukov's "Bounded MPMC queue" (1024cores.net): a producer claims
// a position with one compare-and-swap on the ring's tail, fills the slot
// the position names and publishes it by storing the slot's sequence
// number; the consumer reads a slot once its sequence says it is
// published, then frees it for the producer one lap later. No producer
// waits for another or for the consumer: a full ring refuses the touch.
const (
	rings    = 16
	ringSize = 1 << 11 // slots per ring, a power of two
	idRoom   = 24      // key id bytes a slot holds in place (an API key's id is 12)
)

type ring struct {
	tail atomic.Uint64 // the next position a producer claims
	_    cpu.CacheLinePad
	head uint64 // the next position the consumer reads; drainMu guards it
	slot [ringSize]slot
	_    cpu.CacheLinePad
}

// slot holds one touch. seq is its position when free for the producer
// of that position, and position+1 once that producer has published it.
type slot struct {
	seq  atomic.Uint64
	at   int64
	from string
	n    uint8        // length of id in idb, or 0 when long is the id
	idb  [idRoom]byte // the key id, copied: never the caller's memory
	long string       // an id longer than idRoom, cloned
}

func (q *ring) init() {
	for i := range q.slot {
		q.slot[i].seq.Store(uint64(i))
	}
}

// put adds a touch, or reports false when the ring is full. The id is
// copied: an API key's id is a substring of the secret the caller sent,
// which the ring must not keep alive.
func (q *ring) put(id, from string, at int64) bool {
	for {
		pos := q.tail.Load()
		s := &q.slot[pos&(ringSize-1)]
		switch seq := s.seq.Load(); {
		case seq == pos:
			if !q.tail.CompareAndSwap(pos, pos+1) {
				continue // another producer took it
			}
			s.at, s.from = at, from
			if len(id) <= idRoom {
				s.n, s.long = uint8(copy(s.idb[:], id)), ""
			} else {
				s.n, s.long = 0, strings.Clone(id)
			}
			s.seq.Store(pos + 1)
			return true
		case seq < pos:
			// The slot still holds the touch of the lap before: full.
			return false
		default:
			// Another producer claimed pos since the tail was read.
		}
	}
}

// take passes each published touch, oldest first, to f, and frees its
// slot; the id's bytes are valid only during the call. It stops at the
// first slot not yet published: a producer between its claim and its
// publication holds back the touches after it until the next take. Only
// one take runs at a time (the caller holds drainMu).
func (q *ring) take(f func(id []byte, from string, at int64)) {
	for {
		s := &q.slot[q.head&(ringSize-1)]
		if s.seq.Load() != q.head+1 {
			return
		}
		if s.n > 0 || s.long == "" {
			f(s.idb[:s.n], s.from, s.at)
		} else {
			f([]byte(s.long), s.from, s.at)
		}
		s.from, s.long = "", ""
		s.seq.Store(q.head + ringSize)
		q.head++
	}
}
