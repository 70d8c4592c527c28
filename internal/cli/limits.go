package cli

import (
	"context"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// partnerLimitsCmd is "partner set-limits".
func (a *app) partnerLimitsCmd() *cobra.Command {
	var (
		perSecond, perMinute, perDay int64
		clear                        bool
		reason                       string
	)
	cmd := &cobra.Command{
		Use:   "set-limits ID [--per-second N] [--per-minute N] [--per-day N] [--clear]",
		Short: "Set or clear a partner's own rate limits, replacing its tier's",
		Long: `Give a partner its own rate limits, in requests per second, minute and/or
day. Each one given replaces the partner's tier's limit in that window; a
window not given keeps the tier's. The limits given replace any set before,
so name every window you want overridden. --clear removes them all.

partnergate sends them to Envoy in the Check response's dynamic metadata,
and Envoy passes them to the rate-limit service as the descriptor's limit
override: they take effect on the partner's next request, with no change to
the rate-limit service's config.`,
		Args: exactly("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &adminv1.SetPartnerLimitsRequest{Id: args[0], Clear: clear, Reason: reason}
			l := &adminv1.Limits{}
			var given []string
			for _, f := range []struct {
				flag string
				v    int64
				dst  **int64
			}{
				{"per-second", perSecond, &l.PerSecond},
				{"per-minute", perMinute, &l.PerMinute},
				{"per-day", perDay, &l.PerDay},
			} {
				if cmd.Flags().Changed(f.flag) {
					*f.dst = proto.Int64(f.v)
					given = append(given, "--"+f.flag)
				}
			}
			switch {
			case clear && len(given) > 0:
				return usageErrorf("%s: --clear cannot be combined with %s", cmd.CommandPath(), strings.Join(given, ", "))
			case !clear && len(given) == 0:
				return usageErrorf("%s: give --per-second, --per-minute or --per-day, or --clear", cmd.CommandPath())
			}
			if len(given) > 0 {
				req.Limits = l
			}
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.SetPartnerLimits(ctx, req)
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) { w.partner(resp.GetPartner()) })
			})
		},
	}
	cmd.Flags().Int64Var(&perSecond, "per-second", 0, "requests per second, replacing the tier's")
	cmd.Flags().Int64Var(&perMinute, "per-minute", 0, "requests per minute, replacing the tier's")
	cmd.Flags().Int64Var(&perDay, "per-day", 0, "requests per calendar day (UTC), replacing the tier's")
	cmd.Flags().BoolVar(&clear, "clear", false, "remove the partner's own limits: its tier's apply again")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the audit trail")
	return cmd
}

// limits renders a partner's own limits for a table, as in
// "50/s,10000/day"; empty (shown "-") when it has none and its tier's
// apply.
func limits(l *adminv1.Limits) string {
	if l == nil {
		return ""
	}
	var parts []string
	for _, f := range []struct {
		v    *int64
		unit string
	}{
		{l.PerSecond, "/s"},
		{l.PerMinute, "/min"},
		{l.PerDay, "/day"},
	} {
		if f.v != nil {
			parts = append(parts, strconv.FormatInt(*f.v, 10)+f.unit)
		}
	}
	return strings.Join(parts, ",")
}
