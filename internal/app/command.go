package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/partnergate/partnergate/internal/config"
	"github.com/partnergate/partnergate/internal/telemetry"
)

// Command returns the "serve" command. Its stdout receives the one-time
// admin token notice; logs go to stderr.
func Command(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the ext_authz Check service and the admin API",
		Long: `Run the Envoy ext_authz Check service (gRPC, with the gRPC health service)
and, on a separate listener, the admin API.

Settings come from flags, then PARTNERGATE_* environment variables, then the
config file, then defaults. The admin token is read from
PARTNERGATE_ADMIN_TOKEN or admin_token_file, never from a flag.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Resolve(cmd.Flags(), os.LookupEnv)
			if err != nil {
				// config.Problems: the first line counts them, and the
				// CLI prints each on a line of its own.
				return fmt.Errorf("invalid configuration: %w", err)
			}
			var level slog.Level
			_ = level.UnmarshalText([]byte(cfg.LogLevel))
			log := telemetry.NewLogger(stderr, cfg.LogFormat, level)
			ctx, stop := notifySignals(cmd.Context(), log)
			defer stop()
			srv, err := Start(ctx, cfg, log, stdout)
			if err != nil {
				return err
			}
			return srv.Wait()
		},
	}
	config.RegisterFlags(cmd.Flags())
	return cmd
}

// notifySignals returns a context that ends on SIGINT or SIGTERM, which
// start the graceful shutdown, and logs SIGHUP instead of dying of it:
// nothing is reloaded (a changed config, policy file or certificate takes
// effect at the next start), and a SIGHUP sent by habit or by a closing
// terminal must not cut off in-flight Checks and the pending last-use
// batch. stop, which may be called more than once, releases the signals.
func notifySignals(parent context.Context, log *slog.Logger) (ctx context.Context, stop func()) {
	ctx, stopNotify := signal.NotifyContext(parent, syscall.SIGINT, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				log.Warn("SIGHUP received and ignored: partnergate reloads nothing; restart it to apply changed settings, and use SIGTERM to stop it")
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(hup)
			close(done)
			stopNotify()
		})
	}
}
