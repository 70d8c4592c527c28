package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
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
	// DefaultAdminAddr is where a server's admin API listens by default.
	DefaultAdminAddr = "127.0.0.1:9002"
)

// Exit statuses of [Execute].
const (
	ExitOK    = 0
	ExitError = 1 // the command ran and failed, or the server refused it
	ExitUsage = 2 // the command line was wrong
)

// app holds the global flags and the writers of one command tree.
type app struct {
	stdout, stderr io.Writer
	addr           string
	output         string
	timeout        time.Duration
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
(default ` + DefaultAdminAddr + `) and authenticate with the admin token in
` + EnvAdminToken + `.`,
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

	root.AddCommand(a.partnerCmd(), a.keyCmd(), a.auditCmd(), a.checkCmd())
	root.AddCommand(a.tokenCmd())
	root.AddCommand(a.ratelimitConfigCmd())
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
	if token == "" {
		return fmt.Errorf("%s is not set: export the admin token the server printed at first start", EnvAdminToken)
	}
	conn, err := grpc.NewClient(a.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("admin address %q: %w", a.addr, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(cmd.Context(), a.timeout)
	defer cancel()
	md := []string{"authorization", "Bearer " + token}
	if who := actorName(); who != "" {
		md = append(md, admin.ActorHeader, who)
	}
	ctx = metadata.AppendToOutgoingContext(ctx, md...)
	if err := fn(ctx, adminv1.NewAdminClient(conn)); err != nil {
		return a.serverError(err)
	}
	return nil
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

// serverError turns a gRPC status into one line: "invalid argument: scopes:
// …". Unreachable servers name the address.
func (a *app) serverError(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Unavailable:
		return fmt.Errorf("unavailable: cannot reach the admin API at %s: %s", a.addr, st.Message())
	case codes.Unauthenticated:
		return fmt.Errorf("unauthenticated: %s (check %s)", st.Message(), EnvAdminToken)
	case codes.DeadlineExceeded:
		return fmt.Errorf("deadline exceeded: no answer from %s within %s", a.addr, a.timeout)
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
		return ExitError
	}
	msg := oneLine(err.Error())
	code := ExitError
	var ue usageError
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
