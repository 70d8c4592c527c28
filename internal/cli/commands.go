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

// cidrs splits a comma-separated network list, as the allow-cidrs flags
// take it; the server validates each network.
func cidrs(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

func (a *app) partnerCmd() *cobra.Command {
	cmd := group("partner", "Manage partners (tenants)")

	var (
		tier, grants, createAllow string
		reuse                     bool
	)
	create := &cobra.Command{
		Use:   "create ID",
		Short: "Register a partner",
		Long: `Register a partner. --scopes are its grants: the most any of its keys may ever carry.
The id of a deleted partner is kept as a tombstone; --reuse-deleted-id gives it
to this new partner (the old tenant's keys stay revoked).`,
		Args: exactly("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.CreatePartner(ctx, &adminv1.CreatePartnerRequest{Id: args[0], Tier: tier, Scopes: scopes(grants),
					AllowCidrs: cidrs(createAllow), ReuseDeletedId: reuse})
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) { w.partner(resp.GetPartner()) })
			})
		},
	}
	create.Flags().StringVar(&tier, "tier", "", "rate-limit tier (default: the server's default tier)")
	create.Flags().StringVar(&grants, "scopes", "", `space-separated grants, such as "orders:read orders:write"`)
	create.Flags().StringVar(&createAllow, "allow-cidrs", "", "comma-separated networks its credentials may be used from, such as 203.0.113.0/24,2001:db8::/32 (default: any)")
	create.Flags().BoolVar(&reuse, "reuse-deleted-id", false, "give a deleted partner's id to this new partner")

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

	cmd.AddCommand(create, get, list, suspend, resume, a.partnerLimitsCmd(), a.partnerUpdateCmd(), a.partnerDeleteCmd())
	cmd.AddCommand(a.partnerTokenCmds()...)
	cmd.AddCommand(a.partnerCertificateCmds()...)
	return cmd
}

func (a *app) keyCmd() *cobra.Command {
	cmd := group("key", "Manage partner API keys")

	var (
		issuePartner, issueScopes, issueName, issueAllow string
		expiresIn                                        time.Duration
		allGranted                                       bool
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
			req := &adminv1.IssueKeyRequest{PartnerId: issuePartner, Scopes: scopes(issueScopes), Name: issueName, AllGrantedScopes: allGranted,
				AllowCidrs: cidrs(issueAllow)}
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
	issue.Flags().StringVar(&issueAllow, "allow-cidrs", "", "comma-separated networks the key may be used from, such as 203.0.113.0/24,2001:db8::/32 (default: any)")

	var (
		listPartner     string
		unusedFor       string
		listCompromised bool
		expiringWithin  string
		pepperVersion   int32
	)
	list := &cobra.Command{
		Use:   "list --partner ID [--compromised] | --unused-for AGE | [--expiring-within AGE] [--pepper-version N]",
		Short: "List a partner's keys, revoked and expired ones included; or live keys across partners: unused that long, expiring soon or on a pepper version",
		Args:  exactly(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("expiring-within") || cmd.Flags().Changed("pepper-version") {
				if listPartner != "" || listCompromised || cmd.Flags().Changed("unused-for") {
					return usageErrorf("%s: --expiring-within and --pepper-version list every partner's live keys; drop --partner, --compromised and --unused-for", cmd.CommandPath())
				}
				return a.findKeys(cmd, expiringWithin, pepperVersion)
			}
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
	list.Flags().StringVar(&expiringWithin, "expiring-within", "", "list live keys of every partner expiring within this long, such as 14d")
	list.Flags().Int32Var(&pepperVersion, "pepper-version", 0, "list live keys of every partner hashed with this pepper version")

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

	cmd.AddCommand(issue, list, revoke, rotate, a.keyUpdateCmd())
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
