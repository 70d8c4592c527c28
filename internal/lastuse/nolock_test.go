package lastuse

import (
	"testing"
	"time"
)

// TestUsedTakesNoLock holds every lock the recorder has, as a drain and a
// flush do, and calls Used: it must return.
func TestUsedTakesNoLock(t *testing.T) {
	r := New(nil, Options{})
	r.drainMu.Lock()
	r.flushMu.Lock()
	done := make(chan struct{})
	go func() {
		r.Used("key", "192.0.2.1", time.Now())
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Used waited for a lock")
	}
	r.flushMu.Unlock()
	r.drainMu.Unlock()
	if r.Pending() != 1 {
		t.Errorf("pending %d, want the use", r.Pending())
	}
}
