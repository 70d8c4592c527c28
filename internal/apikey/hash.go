package apikey

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// MinPepperLen is the shortest pepper accepted: 256 bits.
const MinPepperLen = 32

// Hasher computes and verifies key digests: HMAC-SHA256 keyed with a
// server-side pepper that lives outside the database. A fast keyed hash is
// right for 256-bit random secrets (NIST SP 800-63B); a slow password hash
// would make every Check a denial-of-service lever. The pepper means that
// someone who can only write to the database cannot mint a working key.
//
// Peppers are numbered so they can be rotated: new digests use the current
// version, old rows verify with theirs. A Hasher is safe for concurrent use.
type Hasher struct {
	current int
	pools   map[int]*sync.Pool
}

// NewHasher returns a Hasher that digests with peppers[current] and verifies
// with any of peppers.
func NewHasher(current int, peppers map[int][]byte) (*Hasher, error) {
	if _, ok := peppers[current]; !ok {
		return nil, fmt.Errorf("apikey: no pepper with the current version %d", current)
	}
	h := &Hasher{current: current, pools: make(map[int]*sync.Pool, len(peppers))}
	for v, p := range peppers {
		if len(p) < MinPepperLen {
			return nil, fmt.Errorf("apikey: pepper version %d is %d bytes, want at least %d", v, len(p), MinPepperLen)
		}
		p := append([]byte(nil), p...)
		h.pools[v] = &sync.Pool{New: func() any { return &macState{mac: hmac.New(sha256.New, p)} }}
	}
	return h, nil
}

// ErrUnknownPepper reports a digest made with a pepper this server lacks.
var ErrUnknownPepper = errors.New("apikey: unknown pepper version")

// Digest returns the digest of k under the current pepper, and its version.
func (h *Hasher) Digest(k Key) ([]byte, int) {
	var buf [sha256.Size]byte
	h.sum(h.pools[h.current], k.raw, &buf)
	return append([]byte(nil), buf[:]...), h.current
}

// Verify reports whether digest is k's digest under pepper version, in
// constant time with respect to the digest's contents.
func (h *Hasher) Verify(k Key, digest []byte, version int) (bool, error) {
	pool, ok := h.pools[version]
	if !ok {
		return false, ErrUnknownPepper
	}
	var buf [sha256.Size]byte
	h.sum(pool, k.raw, &buf)
	return hmac.Equal(buf[:], digest), nil
}

// macState is a pooled HMAC with its own input and output buffers: the key
// and the sum go through them because passing the caller's memory to the
// hash.Hash interface would move it to the heap on every Check.
type macState struct {
	mac hash.Hash
	in  []byte
	out [sha256.Size]byte
}

func (h *Hasher) sum(pool *sync.Pool, s string, dst *[sha256.Size]byte) {
	st := pool.Get().(*macState)
	st.in = append(st.in[:0], s...)
	st.mac.Reset()
	st.mac.Write(st.in)
	st.mac.Sum(st.out[:0])
	*dst = st.out
	clear(st.in) // the key is a secret: leave no copy in the pool
	clear(st.out[:])
	pool.Put(st)
}

// fingerprintLabel is the fixed message a pepper's fingerprint is the HMAC
// of. Changing it would make every stored fingerprint a mismatch.
const fingerprintLabel = "partnergate pepper fingerprint v1"

// Fingerprint returns a pepper's fingerprint, hex: HMAC-SHA256 keyed with
// the pepper over a fixed label. A store keeps it to recognise the pepper
// its digests were made with. It reveals nothing of the pepper (HMAC is a
// pseudorandom function of its key, RFC 2104 §6), and unlike a digest of a
// key it verifies nothing a partner could send.
func Fingerprint(pepper []byte) string {
	mac := hmac.New(sha256.New, pepper)
	mac.Write([]byte(fingerprintLabel))
	return hex.EncodeToString(mac.Sum(nil))
}
