package sqlstore

import (
	"context"
	"crypto/tls"
	"net"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// pingIdle is how long a pooled PostgreSQL connection may sit idle before
// it is pinged on reuse whatever its socket says.
const pingIdle = time.Second

// shouldPing reports whether a pooled PostgreSQL connection needs a ping
// (a round trip) before reuse. After a restart or failover the pool's
// connections are dead, and a store call should get a fresh one rather
// than fail: a terminated backend sends its error and closes the socket,
// so a connection whose socket has anything to read while it sits idle in
// the pool is pinged, and the ping discards it. A quiet socket is reused
// without the round trip unless it has been idle longer than pingIdle,
// when the ping also covers a peer that vanished without a word.
func shouldPing(_ context.Context, p stdlib.ShouldPingParams) bool {
	if p.IdleDuration > pingIdle {
		return true
	}
	return !quiet(p.Conn.PgConn().Conn())
}

// quiet reports whether conn's socket has nothing to read, without
// reading it: no bytes, no end of stream, no error. A connection it cannot
// look into is not quiet. It does not take the socket's read lock: pgx's
// background reader may be parked in a read of an idle connection, holding
// it (it then takes the next bytes, but not the end of the stream that a
// terminated backend sends after its error, which the look still sees).
func quiet(conn net.Conn) bool {
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	pending := true
	err = rc.Control(func(fd uintptr) { pending = peek(fd) })
	return err == nil && !pending
}
