package app

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
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
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
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
