//go:build unix

package sqlstore

import (
	"errors"
	"syscall"
)

// peek reports whether the socket fd has anything to read (bytes, the end
// of the stream or an error), leaving it unread.
func peek(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EWOULDBLOCK)
}
