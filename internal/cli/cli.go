package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/partnergate/partnergate/internal/admin"
	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// Environment variables the operator commands read.
const (
	// EnvAdminAddr is the admin API address when --admin-addr is not given.
	EnvAdminAddr = "PARTNERGATE_ADMIN_ADDR"
	// EnvAdminToken holds the admin token. There is no flag for it.
	EnvAdminToken = "PARTNERGATE_ADMIN_TOKEN"
	// EnvActor optionally names the operator for the audit trail; $USER
	// is used when it is unset. The server records it as self-declared.
	EnvActor = "PARTNERGATE_ACTOR"
	// EnvAdminCA, EnvAdminCert and EnvAdminKey stand for --admin-ca,
	// --admin-cert and --admin-key.
	EnvAdminCA   = "PARTNERGATE_ADMIN_CA"
	EnvAdminCert = "PARTNERGATE_ADMIN_CERT"
	EnvAdminKey  = "PARTNERGATE_ADMIN_KEY"
	// DefaultAdminAddr is where a server's admin API listens by default.
	DefaultAdminAddr = "127.0.0.1:9002"
)

// Exit statuses of [Execute].
const (
	ExitOK    = 0
	ExitError = 1 // the command ran and failed, or the server refused it
	ExitUsage = 2 // the command line was wrong
	// ExitDenied is check's status for a request the server denied: a
	// decision, as opposed to a failure to get one.
	ExitDenied = 1
	// ExitUnavailable is check's status when no decision was made: the
	// Check API could not be reached, answered with an error (not ready,
	// cache stale, internal fault), or did not answer in time.
	ExitUnavailable = 3
)

// app holds the global flags and the writers of one command tree.
type app struct {
	stdout, stderr io.Writer
	addr           string
	output         string
	// caFile, certFile and keyFile, when set, connect over TLS, with a
	// client certificate if certFile is set.
	caFile, certFile, keyFile string
	timeout                   time.Duration
}

// New returns the root `partnergate` command with the operator commands,
// writing results to stdout and errors to stderr. serve, if not nil, is
// added as the server command.
func New(serve *cobra.Command, stdout, stderr io.Writer) *cobra.Command {
	a := &app{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "partnergate",
		Short: "Envoy ext_authz service for partner API access, and its admin client",
		Long: `partnergate authorizes partner API calls for Envoy (partnergate serve) and
manages partners, their API keys and the audit trail through a running
server's admin API.

Admin commands find the server with --admin-addr or ` + EnvAdminAddr + `
(default ` + DefaultAdminAddr + `) and authenticate with the operator token in
` + EnvAdminToken + ` (a personal pgop_ token, an IdP access token or, at first
start, the bootstrap token), or with a client certificate (--admin-cert).`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: a.prepare,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })

	// The client's flags belong to the client commands: serve takes none
	// of them, so its --help does not list them and it refuses them.
	f := pflag.NewFlagSet("client", pflag.ContinueOnError)
	f.StringVar(&a.addr, "admin-addr", DefaultAdminAddr, "admin API address (env "+EnvAdminAddr+")")
	f.StringVarP(&a.output, "output", "o", "text", "output format: text, json, or jsonl (one JSON object per line; lists print one item per line)")
	f.DurationVar(&a.timeout, "timeout", 30*time.Second, "how long to wait for the admin API")
	f.StringVar(&a.caFile, "admin-ca", "", "CA certificate (PEM) the admin API's TLS certificate is checked against; connects over TLS (env "+EnvAdminCA+")")
	f.StringVar(&a.certFile, "admin-cert", "", "client certificate (PEM) for mutual TLS; needs --admin-key (env "+EnvAdminCert+")")
	f.StringVar(&a.keyFile, "admin-key", "", "client certificate's private key (PEM) (env "+EnvAdminKey+")")

	root.AddCommand(a.partnerCmd(), a.keyCmd(), a.auditCmd(), a.checkCmd())
	root.AddCommand(a.operatorCmd(), a.whoamiCmd())
	root.AddCommand(a.tokenCmd())
	root.AddCommand(a.ratelimitConfigCmd())
	root.AddCommand(a.scanCmd())
	root.AddCommand(a.applyCmd(), a.exportCmd())
	for _, c := range root.Commands() {
		c.PersistentFlags().AddFlagSet(f)
	}
	if serve != nil {
		root.AddCommand(serve)
	}
	return root
}

// prepare applies the environment to flags not given and checks them.
func (a *app) prepare(cmd *cobra.Command, _ []string) error {
	if !cmd.Flags().Changed("admin-addr") {
		if v := strings.TrimSpace(os.Getenv(EnvAdminAddr)); v != "" {
			a.addr = v
		}
	}
	for _, f := range []struct {
		flag, env string
		v         *string
	}{{"admin-ca", EnvAdminCA, &a.caFile}, {"admin-cert", EnvAdminCert, &a.certFile}, {"admin-key", EnvAdminKey, &a.keyFile}} {
		if !cmd.Flags().Changed(f.flag) {
			if v := strings.TrimSpace(os.Getenv(f.env)); v != "" {
				*f.v = v
			}
		}
	}
	if (a.certFile == "") != (a.keyFile == "") {
		return usageErrorf("--admin-cert and --admin-key go together")
	}
	switch a.output {
	case "text", "json", "jsonl":
	default:
		return usageErrorf("--output must be text, json or jsonl, not %q", a.output)
	}
	if a.timeout <= 0 {
		return usageErrorf("--timeout must be positive")
	}
	return nil
}

// call dials the admin API and runs fn with a client and a context that
// carries the admin token, bounded by --timeout.
func (a *app) call(cmd *cobra.Command, fn func(ctx context.Context, c adminv1.AdminClient) error) error {
	token := strings.TrimSpace(os.Getenv(EnvAdminToken))
	if token == "" && a.certFile == "" {
		return fmt.Errorf("%s is not set and there is no --admin-cert: export your operator token (or, at first start, the bootstrap token the server printed)", EnvAdminToken)
	}
	creds, err := a.transport()
	if err != nil {
		return err
	}
	var reached atomic.Bool
	var warnings warningList
	conn, err := grpc.NewClient(a.addr, grpc.WithTransportCredentials(creds),
		grpc.WithChainUnaryInterceptor(noteReached(&reached), warnings.collect),
		grpc.WithChainStreamInterceptor(noteReachedStream(&reached)))
	if err != nil {
		return fmt.Errorf("admin address %q: %w", a.addr, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(cmd.Context(), a.timeout)
	defer cancel()
	var md []string
	if token != "" {
		md = append(md, "authorization", "Bearer "+token)
	}
	if who := actorName(); who != "" {
		md = append(md, admin.ActorHeader, who)
	}
	ctx = metadata.AppendToOutgoingContext(ctx, md...)
	err = fn(ctx, adminv1.NewAdminClient(conn))
	for _, w := range warnings.list() {
		fmt.Fprintln(a.stderr, "partnergate: warning: "+oneLine(w))
	}
	if err != nil {
		return a.serverError(err, "admin API", a.addr, reached.Load())
	}
	return nil
}

// transport returns the connection's credentials: TLS when --admin-ca or
// --admin-cert is set, else plaintext (for a loopback admin listener).
func (a *app) transport() (credentials.TransportCredentials, error) {
	if a.caFile == "" && a.certFile == "" {
		return insecure.NewCredentials(), nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if a.caFile != "" {
		pem, err := os.ReadFile(a.caFile)
		if err != nil {
			return nil, fmt.Errorf("--admin-ca: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--admin-ca: no PEM certificates in %s", a.caFile)
		}
	}
	if a.certFile != "" {
		pair, err := tls.LoadX509KeyPair(a.certFile, a.keyFile)
		if err != nil {
			return nil, fmt.Errorf("--admin-cert, --admin-key: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(tc), nil
}

// warningList gathers the warnings the admin API sends with replies that
// succeeded (the [admin.WarningHeader] trailer), for the operator to see.
type warningList struct {
	mu sync.Mutex
	ws []string
}

func (l *warningList) collect(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	var tr metadata.MD
	err := invoker(ctx, method, req, reply, cc, append(opts, grpc.Trailer(&tr))...)
	if w := tr.Get(admin.WarningHeader); len(w) > 0 {
		l.mu.Lock()
		l.ws = append(l.ws, w...)
		l.mu.Unlock()
	}
	return err
}

func (l *warningList) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ws)
}

// noteReached records in reached whether a call got as far as the server:
// a status from a server that answered names what failed there, not the
// connection.
func noteReached(reached *atomic.Bool) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		var p peer.Peer
		err := invoker(ctx, method, req, reply, cc, append(opts, grpc.Peer(&p))...)
		if p.Addr != nil {
			reached.Store(true)
		}
		return err
	}
}

// noteReachedStream is noteReached for streams: a stream that was opened
// reached the server.
func noteReachedStream(reached *atomic.Bool) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		s, err := streamer(ctx, desc, cc, method, opts...)
		if err == nil {
			if _, ok := peer.FromContext(s.Context()); ok {
				reached.Store(true)
			}
		}
		return s, err
	}
}

// actorName is the operator's self-declared name, printable ASCII only
// (gRPC refuses anything else in metadata); the server sanitises it again.
func actorName() string {
	v := os.Getenv(EnvActor)
	if v == "" {
		v = os.Getenv("USER")
	}
	return strings.Map(func(r rune) rune {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, v)
}

// serverError turns a gRPC status from api (the "admin API" or the "Check
// API") at addr into one line that names what failed: "invalid argument:
// scopes: …" from the server; "unavailable: cannot reach the admin API at
// ADDR: …" only when the call never reached it (reached is false). A
// server that answered UNAVAILABLE says itself what is unavailable, such
// as "the store is unavailable".
func (a *app) serverError(err error, api, addr string, reached bool) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Unavailable:
		if !reached {
			return fmt.Errorf("unavailable: cannot reach the %s at %s: %s", api, addr, st.Message())
		}
		return fmt.Errorf("unavailable: %s", st.Message())
	case codes.Unauthenticated:
		if api == "admin API" {
			return fmt.Errorf("unauthenticated: %s (check %s)", st.Message(), EnvAdminToken)
		}
	case codes.DeadlineExceeded:
		return fmt.Errorf("deadline exceeded: no answer from the %s at %s within %s", api, addr, a.timeout)
	}
	return fmt.Errorf("%s: %s", codeWords(st.Code()), st.Message())
}

// codeWords spells a code as lower-case words: InvalidArgument → "invalid
// argument".
func codeWords(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte(' ')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// usageError is a wrong command line, as opposed to a failed command.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// Execute runs root with ctx and returns the process exit status. On
// failure it writes exactly one line, "partnergate: <reason>", to root's
// error writer and never a usage dump.
func Execute(ctx context.Context, root *cobra.Command) int {
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, errDenied) {
		fmt.Fprintln(root.ErrOrStderr(), "partnergate: the request was denied")
		return ExitDenied
	}
	msg := oneLine(err.Error())
	code := ExitError
	var ue usageError
	var ce checkError
	if errors.As(err, &ce) {
		code = ExitUnavailable
	}
	if errors.As(err, &ue) || isCobraUsage(err) {
		code = ExitUsage
		if cmd != nil {
			msg += " (see '" + cmd.CommandPath() + " --help')"
		}
	}
	fmt.Fprintln(root.ErrOrStderr(), "partnergate: "+msg)
	// An error that lists several problems (an invalid configuration)
	// prints each on a line of its own: keeping the first line alone
	// would hide all of them.
	var d interface{ Details() []string }
	if errors.As(err, &d) {
		for _, line := range d.Details() {
			fmt.Fprintln(root.ErrOrStderr(), "  "+oneLine(line))
		}
	}
	return code
}

// isCobraUsage reports whether err is one of cobra's own command-line
// errors, which it returns as plain errors.
func isCobraUsage(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "unknown command") ||
		strings.HasPrefix(s, "accepts ") ||
		strings.HasPrefix(s, "requires ")
}

// oneLine keeps the first line of s, trimmed: cobra's suggestions and
// multi-line server messages must not break the one-line contract.
func oneLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(s)
}
