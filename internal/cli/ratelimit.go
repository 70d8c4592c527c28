package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/partnergate/partnergate/internal/config"
)

// ratelimitConfigCmd renders the envoyproxy/ratelimit configuration from
// partnergate's own config, so the tiers partnergate emits and the limits
// the ratelimit service enforces come from one file.
func (a *app) ratelimitConfigCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "ratelimit-config",
		Short: "Write the envoyproxy/ratelimit configuration for the configured tiers",
		Long: `Render the ratelimit section of partnergate's config (domain, tiers and
overrides) as envoyproxy/ratelimit configuration, to stdout or --out. Read
the config as serve does: --config or ` + config.EnvPrefix + `CONFIG, and
` + config.EnvPrefix + `RATELIMIT_DOMAIN. Needs no running server.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := config.Load(cmd.Flags(), os.LookupEnv)
			if err != nil {
				return err
			}
			if len(c.RateLimit.Tiers) == 0 {
				return fmt.Errorf("ratelimit.tiers: the config has none to render")
			}
			if err := c.RateLimit.ValidateAt("ratelimit"); err != nil {
				return err
			}
			b, err := c.RateLimit.Render()
			if err != nil {
				return err
			}
			if out == "" {
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			if err := os.WriteFile(out, b, 0o644); err != nil {
				return fmt.Errorf("--out: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().String("config", "", "partnergate config file (YAML); env "+config.EnvPrefix+"CONFIG")
	cmd.Flags().StringVar(&out, "out", "", "write to this file instead of stdout")
	return cmd
}
