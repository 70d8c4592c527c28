package cli

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// exactly requires one positional argument per name, and names them when
// they are missing or extra.
func exactly(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			return usageErrorf("%s: missing %s", cmd.CommandPath(), strings.Join(names[len(args):], " "))
		case len(args) > len(names):
			return usageErrorf("%s: unexpected argument %q", cmd.CommandPath(), args[len(names)])
		}
		return nil
	}
}

// group returns a command that only holds subcommands. Without arguments it
// prints its help; with an unknown subcommand it fails as a usage error
// (cobra would otherwise print the help and succeed).
func group(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return usageErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
		},
	}
}

// scopes splits a space-separated scope list, as the scopes flags take it.
func scopes(s string) []string { return strings.Fields(s) }

func (a *app) partnerCmd() *cobra.Command {
	cmd := group("partner", "Manage partners (tenants)")

	var tier, grants string
	create := &cobra.Command{
		Use:   "create ID",
		Short: "Register a partner",
		Long:  "Register a partner. --scopes are its grants: the most any of its keys may ever carry.",
		Args:  exactly("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.CreatePartner(ctx, &adminv1.CreatePartnerRequest{Id: args[0], Tier: tier, Scopes: scopes(grants)})
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) { w.partner(resp.GetPartner()) })
			})
		},
	}
	create.Flags().StringVar(&tier, "tier", "", "rate-limit tier (default: the server's default tier)")
	create.Flags().StringVar(&grants, "scopes", "", `space-separated grants, such as "orders:read orders:write"`)

	get := &cobra.Command{
		Use:   "get ID",
		Short: "Show a partner",
		Args:  exactly("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.GetPartner(ctx, &adminv1.GetPartnerRequest{Id: args[0]})
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) { w.partner(resp.GetPartner()) })
			})
		},
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List partners",
		Args:  exactly(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.ListPartners(ctx, &adminv1.ListPartnersRequest{})
				if err != nil {
					return err
				}
				if a.output == "jsonl" {
					return printLines(a.stdout, resp.GetPartners())
				}
				return a.print(resp, func(w *table) { w.partners(resp.GetPartners()) })
			})
		},
	}

	var suspendReason, resumeReason string
	suspend := &cobra.Command{
		Use:   "suspend ID",
		Short: "Refuse every credential of a partner until it is resumed",
		Args:  exactly("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.SuspendPartner(ctx, &adminv1.SuspendPartnerRequest{Id: args[0], Reason: suspendReason})
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) { w.partner(resp.GetPartner()) })
			})
		},
	}
	suspend.Flags().StringVar(&suspendReason, "reason", "", "why, for the audit trail")
	resume := &cobra.Command{
		Use:   "resume ID",
		Short: "Lift a partner's suspension",
		Args:  exactly("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.ResumePartner(ctx, &adminv1.ResumePartnerRequest{Id: args[0], Reason: resumeReason})
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) { w.partner(resp.GetPartner()) })
			})
		},
	}
	resume.Flags().StringVar(&resumeReason, "reason", "", "why, for the audit trail")

	cmd.AddCommand(create, get, list, suspend, resume, a.partnerLimitsCmd())
	cmd.AddCommand(a.partnerTokenCmds()...)
	cmd.AddCommand(a.partnerCertificateCmds()...)
	return cmd
}

func (a *app) keyCmd() *cobra.Command {
	cmd := group("key", "Manage partner API keys")

	var (
		issuePartner, issueScopes, issueName string
		expiresIn                            time.Duration
		allGranted                           bool
	)
	issue := &cobra.Command{
		Use:   "issue --partner ID",
		Short: "Issue an API key; its secret is shown once",
		Args:  exactly(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if issuePartner == "" {
				return usageErrorf("%s: --partner is required", cmd.CommandPath())
			}
			// Least privilege: the key's scopes are chosen, never an
			// empty --scopes read as "everything".
			switch {
			case len(scopes(issueScopes)) == 0 && !allGranted:
				return usageErrorf("%s: --scopes is required (or --all-granted-scopes for every scope the partner holds)", cmd.CommandPath())
			case len(scopes(issueScopes)) > 0 && allGranted:
				return usageErrorf("%s: --scopes and --all-granted-scopes do not go together", cmd.CommandPath())
			}
			req := &adminv1.IssueKeyRequest{PartnerId: issuePartner, Scopes: scopes(issueScopes), Name: issueName, AllGrantedScopes: allGranted}
			if cmd.Flags().Changed("expires-in") {
				req.ExpiresIn = durationpb.New(expiresIn)
			}
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.IssueKey(ctx, req)
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) {
					w.key(resp.GetKey())
					w.secret(resp.GetSecret())
				})
			})
		},
	}
	issue.Flags().StringVar(&issuePartner, "partner", "", "partner id (required)")
	issue.Flags().StringVar(&issueScopes, "scopes", "", "space-separated scopes within the partner's grants (required, or --all-granted-scopes)")
	issue.Flags().BoolVar(&allGranted, "all-granted-scopes", false, "grant the key every scope the partner holds, in place of --scopes")
	issue.Flags().DurationVar(&expiresIn, "expires-in", 0, "lifetime, such as 2160h; must be positive (default: the server's default)")
	issue.Flags().StringVar(&issueName, "name", "", "label, such as billing-prod")

	var (
		listPartner     string
		unusedFor       string
		listCompromised bool
	)
	list := &cobra.Command{
		Use:   "list --partner ID [--compromised] | --unused-for AGE",
		Short: "List a partner's keys, revoked and expired ones included; or, with --unused-for, live keys unused that long across partners",
		Args:  exactly(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("unused-for") {
				if listCompromised {
					return usageErrorf("%s: --compromised lists one partner's keys; it does not combine with --unused-for", cmd.CommandPath())
				}
				return a.listUnused(cmd, listPartner, unusedFor)
			}
			if listPartner == "" {
				return usageErrorf("%s: --partner is required", cmd.CommandPath())
			}
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.ListKeys(ctx, &adminv1.ListKeysRequest{PartnerId: listPartner, Compromised: listCompromised})
				if err != nil {
					return err
				}
				if a.output == "jsonl" {
					return printLines(a.stdout, resp.GetKeys())
				}
				return a.print(resp, func(w *table) { w.keys(resp.GetKeys()) })
			})
		},
	}
	list.Flags().StringVar(&listPartner, "partner", "", "partner id (required unless --unused-for)")
	list.Flags().StringVar(&unusedFor, "unused-for", "", "list live keys of every partner not used for this long, such as 90d or 2160h")
	list.Flags().BoolVar(&listCompromised, "compromised", false, "only keys a secret-scanning report found published (revoked as leaked)")

	var revokeReason string
	revoke := &cobra.Command{
		Use:   "revoke KEY_ID",
		Short: "Revoke a key at once",
		Args:  exactly("KEY_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.RevokeKey(ctx, &adminv1.RevokeKeyRequest{KeyId: args[0], Reason: revokeReason})
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) { w.key(resp.GetKey()) })
			})
		},
	}
	revoke.Flags().StringVar(&revokeReason, "reason", "", "why, for the audit trail")

	var (
		overlap, rotateLife time.Duration
		rotateReason        string
		force               bool
	)
	rotate := &cobra.Command{
		Use:   "rotate KEY_ID",
		Short: "Issue a successor key and expire the old one after an overlap; the new secret is shown once",
		Args:  exactly("KEY_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &adminv1.RotateKeyRequest{KeyId: args[0], Reason: rotateReason, Force: force}
			if cmd.Flags().Changed("overlap") {
				req.Overlap = durationpb.New(overlap)
			}
			if cmd.Flags().Changed("expires-in") {
				req.ExpiresIn = durationpb.New(rotateLife)
			}
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.RotateKey(ctx, req)
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) {
					w.key(resp.GetKey())
					w.row("PREVIOUS", resp.GetPrevious().GetId()+" expires "+stamp(resp.GetPrevious().GetExpiresAt()))
					w.secret(resp.GetSecret())
				})
			})
		},
	}
	rotate.Flags().DurationVar(&overlap, "overlap", 0, "how long the old key stays valid, such as 24h; 0 ends it at once (default: the server's, 24h unless configured)")
	rotate.Flags().StringVar(&rotateReason, "reason", "", "why, for the audit trail")
	rotate.Flags().DurationVar(&rotateLife, "expires-in", 0, "the new key's lifetime (default: the old key's own lifetime)")
	rotate.Flags().BoolVar(&force, "force", false, "rotate even though the key already has a live successor")

	cmd.AddCommand(issue, list, revoke, rotate)
	return cmd
}

func (a *app) auditCmd() *cobra.Command {
	cmd := group("audit", "Read the admin audit trail")
	var (
		partnerID string
		actor     string
		limit     int32
		after     int64
	)
	list := &cobra.Command{
		Use:   "list",
		Short: "List audit events, oldest first",
		Args:  exactly(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				if a.output == "jsonl" && limit == 0 {
					return a.exportAudit(ctx, c, partnerID, actor, after)
				}
				resp, err := c.ListAudit(ctx, &adminv1.ListAuditRequest{PartnerId: partnerID, Actor: actor, Limit: limit, AfterId: after})
				if err != nil {
					return err
				}
				if a.output == "jsonl" {
					return printLines(a.stdout, resp.GetEvents())
				}
				return a.print(resp, func(w *table) { w.events(resp.GetEvents()) })
			})
		},
	}
	list.Flags().StringVar(&partnerID, "partner", "", "only this partner's events")
	list.Flags().StringVar(&actor, "actor", "", "only this operator's events (its verified name)")
	list.Flags().Int32Var(&limit, "limit", 0, "at most this many events (default: the server's, 100; with --output jsonl, every event)")
	list.Flags().Int64Var(&after, "after", 0, "only events with an id above this, for paging")
	cmd.AddCommand(list)
	return cmd
}
