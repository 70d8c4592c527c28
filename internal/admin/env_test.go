package admin_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/partnergate/partnergate/internal/admin"
	"github.com/partnergate/partnergate/internal/apikey"
	"github.com/partnergate/partnergate/internal/cache"
	"github.com/partnergate/partnergate/internal/clocktest"
	"github.com/partnergate/partnergate/internal/grpctest"
	"github.com/partnergate/partnergate/internal/logtest"
	"github.com/partnergate/partnergate/internal/partner"
	"github.com/partnergate/partnergate/internal/store/sqlstore"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// syncer counts Sync calls and, if err is set, fails them after syncing
// the real cache, as a replica whose feed read failed half-way would.
type syncer struct {
	cache *cache.Cache
	mu    sync.Mutex
	calls int
	err   error
}

func (s *syncer) Sync(ctx context.Context) error {
	s.mu.Lock()
	s.calls++
	fail := s.err
	s.mu.Unlock()
	if err := s.cache.Sync(ctx); err != nil {
		return err
	}
	return fail
}

func (s *syncer) ApplyWritten(ctx context.Context, creds ...*partner.Credential) error {
	s.mu.Lock()
	s.calls++
	fail := s.err
	s.mu.Unlock()
	if err := s.cache.ApplyWritten(ctx, creds...); err != nil {
		return err
	}
	return fail
}

func (s *syncer) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// env is an admin server on a loopback listener over a real SQLite store
// and a real hot cache.
type env struct {
	client adminv1.AdminClient
	conn   *grpc.ClientConn
	token  string
	store  *sqlstore.Store
	format apikey.Format
	hasher *apikey.Hasher
	clock  *clocktest.Clock
	cache  *cache.Cache
	sync   *syncer
	server *admin.Server
	auth   *admin.Authenticator
	// authLog holds the authenticator's log lines.
	authLog *logtest.Buffer
	// slowed is the time failed authentications were made to wait, on
	// the throttle's own clock (advanced by its sleeps, not by the test).
	slowed *slowdown
}

// slowdown is a [admin.Throttle] clock whose sleeps advance it and add up.
type slowdown struct {
	clock *clocktest.Clock
	mu    sync.Mutex
	total time.Duration
}

func (s *slowdown) sleep(_ context.Context, d time.Duration) {
	s.clock.Advance(d)
	s.mu.Lock()
	s.total += d
	s.mu.Unlock()
}

// Total returns the time slept so far.
func (s *slowdown) Total() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

var start = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// newEnv starts a server; adjust changes the server before it serves.
func newEnv(t *testing.T, adjust ...func(*admin.Server)) *env {
	t.Helper()
	return newEnvWith(t, nil, adjust...)
}

// newEnvWith starts a server whose authenticator slows failures with
// throttle; nil means one on the env's own slowdown clock.
func newEnvWith(t testing.TB, throttle *admin.Throttle, adjust ...func(*admin.Server)) *env {
	t.Helper()
	return newEnvAuth(t, throttle, nil, adjust...)
}

// newEnvAuth is newEnvWith whose authenticator adjustAuth, if not nil,
// changes before it serves.
func newEnvAuth(t testing.TB, throttle *admin.Throttle, adjustAuth func(*admin.Authenticator), adjust ...func(*admin.Server)) *env {
	t.Helper()
	ctx := context.Background()
	clk := clocktest.New(start)
	st, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "partnergate.db"), sqlstore.Options{Now: clk.Now})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })

	c, err := cache.New(st, cache.Options{MissLookups: -1, Now: clk.Now})
	if err != nil {
		t.Fatalf("cache: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Load(ctx); err != nil {
		t.Fatalf("cache load: %v", err)
	}

	format, err := apikey.NewFormat("pgtest_")
	if err != nil {
		t.Fatal(err)
	}
	pepper := make([]byte, 32)
	rand.Read(pepper)
	hasher, err := apikey.NewHasher(1, map[int][]byte{1: pepper})
	if err != nil {
		t.Fatal(err)
	}
	sy := &syncer{cache: c}
	srv := &admin.Server{
		Store:   st,
		Format:  format,
		Hasher:  hasher,
		Now:     clk.Now,
		Sync:    sy,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Issuers: []string{idpIssuer},
	}
	for _, f := range adjust {
		f(srv)
	}
	if err := srv.Validate(); err != nil {
		t.Fatalf("server config: %v", err)
	}

	token := admin.NewToken()
	slow := &slowdown{clock: clocktest.New(start)}
	authLog := &logtest.Buffer{}
	auth := &admin.Authenticator{
		Store:     st,
		Keys:      c,
		Hasher:    hasher,
		Bootstrap: admin.HashToken(token),
		Now:       clk.Now,
		Logger:    slog.New(slog.NewTextHandler(authLog, nil)),
		Throttle:  throttle,
	}
	if throttle == nil {
		auth.Throttle = &admin.Throttle{Now: slow.clock.Now, Sleep: slow.sleep}
	}
	if adjustAuth != nil {
		adjustAuth(auth)
	}
	unary, stream := auth.Interceptors()
	gs := grpc.NewServer(grpc.UnaryInterceptor(unary), grpc.StreamInterceptor(stream))
	adminv1.RegisterAdminServer(gs, srv)
	conn := grpctest.Serve(t, gs)
	return &env{
		client: adminv1.NewAdminClient(conn),
		conn:   conn,
		token:  token,
		store:  st,
		format: format,
		hasher: hasher,
		clock:  clk,
		cache:  c,
		sync:   sy,
		server: srv,
		auth:   auth,

		authLog: authLog,
		slowed:  slow,
	}
}

// ctx returns a context that carries the admin token and an operator name.
func (e *env) ctx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+e.token, admin.ActorHeader, "alice")
}

// createPartner creates a partner or fails the test.
func (e *env) createPartner(t *testing.T, id string, scopes ...string) *adminv1.Partner {
	t.Helper()
	resp, err := e.client.CreatePartner(e.ctx(t), &adminv1.CreatePartnerRequest{Id: id, Tier: "gold", Scopes: scopes})
	if err != nil {
		t.Fatalf("CreatePartner(%s): %v", id, err)
	}
	return resp.GetPartner()
}

// issue issues a key or fails the test.
func (e *env) issue(t *testing.T, req *adminv1.IssueKeyRequest) *adminv1.IssueKeyResponse {
	t.Helper()
	resp, err := e.client.IssueKey(e.ctx(t), req)
	if err != nil {
		t.Fatalf("IssueKey: %v", err)
	}
	return resp
}

// wantCode fails the test unless err has code.
func wantCode(t *testing.T, err error, code codes.Code) *status.Status {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != code {
		t.Fatalf("error = %v, want code %s", err, code)
	}
	return st
}

// wantField fails the test unless err is InvalidArgument naming field, in
// the message and as a BadRequest field violation.
func wantField(t *testing.T, err error, field string) *status.Status {
	t.Helper()
	st := wantCode(t, err, codes.InvalidArgument)
	var got []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				got = append(got, v.GetField())
			}
		}
	}
	if len(got) != 1 || got[0] != field {
		t.Fatalf("field violations = %v, want [%s] (message %q)", got, field, st.Message())
	}
	if msg := st.Message(); len(msg) < len(field) || msg[:len(field)+1] != field+":" {
		t.Fatalf("message %q does not start with %q", msg, field+":")
	}
	return st
}

var errInjected = errors.New("injected")
