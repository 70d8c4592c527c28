package sqlstore

import (
	"database/sql"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store/sqlstore/pgtest"
)

// TestQuietSocket checks the look into an idle connection's socket that
// decides whether it is pinged before reuse: quiet while the peer says
// nothing, not once it has sent a byte (which stays unread) or closed.
func TestQuietSocket(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	client, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := lis.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	if !quiet(client) {
		t.Fatal("quiet() = false on a socket with nothing to read")
	}
	// pgx's background reader may be parked in a read of an idle pooled
	// connection, holding its read lock: the look must not wait for it.
	rc, err := client.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	parked, woken := make(chan struct{}), make(chan error, 1)
	go func() {
		first := true
		woken <- rc.Read(func(uintptr) bool {
			if first {
				first = false
				close(parked)
				return false // wait for the socket, holding the read lock
			}
			return true // readable: leave the byte to the reads below
		})
	}()
	<-parked
	if !quiet(client) {
		t.Fatal("quiet() = false on a socket with nothing to read and a reader parked on it")
	}
	if _, err := server.Write([]byte("E")); err != nil {
		t.Fatal(err)
	}
	if err := <-woken; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the byte to arrive", func() bool { return !quiet(client) })
	b := make([]byte, 1)
	if _, err := io.ReadFull(client, b); err != nil || b[0] != 'E' {
		t.Fatalf("after the look, read %q, %v; want the byte unread", b, err)
	}
	if !quiet(client) {
		t.Fatal("quiet() = false once the byte was read")
	}
	server.Close()
	waitFor(t, "the end of the stream", func() bool { return !quiet(client) })

	if quiet(struct{ net.Conn }{client}) {
		t.Error("quiet() = true on a connection it cannot look into")
	}
}

// TestPooledConnectionOfATerminatedBackendIsReplaced terminates the
// backend of the pool's only connection, as a restart or failover does,
// and checks that the next store call gets a fresh connection instead of
// failing: the dead one is not reused unchecked, although it was idle for
// less than pingIdle.
func TestPooledConnectionOfATerminatedBackendIsReplaced(t *testing.T) {
	requirePG(t)
	db := pgtest.NewDatabase(t)
	s := openPGT(t, db, Options{MaxOpenConns: 1})
	ctx := testCtx(t)
	var pid int
	if err := s.r.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	admin, err := sql.Open("pgx", db)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var ok bool
	if err := admin.QueryRowContext(ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&ok); err != nil || !ok {
		t.Fatalf("terminating backend %d: %v, %v", pid, ok, err)
	}
	waitFor(t, "the backend to end", func() bool {
		var n int
		err := admin.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE pid = $1`, pid).Scan(&n)
		return err == nil && n == 0
	})
	if _, err := s.GetPartner(ctx, "nobody"); !errors.Is(err, partner.ErrNotFound) {
		t.Fatalf("GetPartner after the backend ended: %v, want not found", err)
	}
}
