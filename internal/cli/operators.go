package cli

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// partnerList splits a comma-separated --partners value.
func partnerList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (a *app) operatorCmd() *cobra.Command {
	cmd := group("operator", "Manage the admin API's operators: who may do what")

	var (
		role, partners, certSAN, reason string
		expiresIn                       time.Duration
	)
	create := &cobra.Command{
		Use:   "create NAME --role viewer|auditor|issuer|admin",
		Short: "Register an operator; its personal token is shown once",
		Long: `Register a named operator with a role:
  viewer   read partners, key metadata and clients
  auditor  viewer, plus the audit trail
  issuer   viewer, plus issue, rotate and revoke keys, register and remove
           OAuth clients, and revoke tokens
  admin    everything, operators included
--partners limits a viewer, auditor or issuer to those partners.
--cert-san lets client certificates with that URI or DNS SAN act as the
operator over mutual TLS.`,
		Args: exactly("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if role == "" {
				return usageErrorf("%s: --role is required", cmd.CommandPath())
			}
			req := &adminv1.CreateOperatorRequest{Name: args[0], Role: role, Partners: partnerList(partners), CertSan: certSAN, Reason: reason}
			if cmd.Flags().Changed("expires-in") {
				req.ExpiresIn = durationpb.New(expiresIn)
			}
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.CreateOperator(ctx, req)
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) {
					w.operator(resp.GetOperator())
					w.secret(resp.GetSecret())
				})
			})
		},
	}
	create.Flags().StringVar(&role, "role", "", "viewer, auditor, issuer or admin (required)")
	create.Flags().StringVar(&partners, "partners", "", "comma-separated partner ids it may touch (default: every partner; not for admins)")
	create.Flags().DurationVar(&expiresIn, "expires-in", 0, "how long until it expires, such as 720h (default: the server's, 90 days)")
	create.Flags().StringVar(&certSAN, "cert-san", "", "client certificate URI SAN (such as a SPIFFE ID) or DNS SAN that acts as this operator")
	create.Flags().StringVar(&reason, "reason", "", "why, for the audit trail")

	get := &cobra.Command{
		Use:   "get NAME",
		Short: "Show an operator",
		Args:  exactly("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.GetOperator(ctx, &adminv1.GetOperatorRequest{Name: args[0]})
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) { w.operator(resp.GetOperator()) })
			})
		},
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List operators, revoked ones included",
		Args:  exactly(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.ListOperators(ctx, &adminv1.ListOperatorsRequest{})
				if err != nil {
					return err
				}
				if a.output == "jsonl" {
					return printLines(a.stdout, resp.GetOperators())
				}
				return a.print(resp, func(w *table) { w.operators(resp.GetOperators()) })
			})
		},
	}

	var (
		upRole, upPartners, upSAN, upReason string
		upExpires                           time.Duration
	)
	update := &cobra.Command{
		Use:   "update NAME [--role R] [--partners ID,…] [--cert-san SAN] [--expires-in D]",
		Short: "Change an operator's role, partners, certificate SAN or expiry; applies to its next call",
		Args:  exactly("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &adminv1.UpdateOperatorRequest{Name: args[0], Role: upRole, Reason: upReason}
			if cmd.Flags().Changed("partners") {
				req.Partners, req.SetPartners = partnerList(upPartners), true
			}
			if cmd.Flags().Changed("cert-san") {
				req.CertSan, req.SetCertSan = upSAN, true
			}
			if cmd.Flags().Changed("expires-in") {
				req.ExpiresIn = durationpb.New(upExpires)
			}
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.UpdateOperator(ctx, req)
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) { w.operator(resp.GetOperator()) })
			})
		},
	}
	update.Flags().StringVar(&upRole, "role", "", "the new role")
	update.Flags().StringVar(&upPartners, "partners", "", `the new comma-separated partner ids; "" for every partner`)
	update.Flags().StringVar(&upSAN, "cert-san", "", `the new certificate SAN; "" removes it`)
	update.Flags().DurationVar(&upExpires, "expires-in", 0, "expire this long from now")
	update.Flags().StringVar(&upReason, "reason", "", "why, for the audit trail")

	var revokeReason string
	revoke := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Refuse every credential of an operator from its next call",
		Args:  exactly("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.RevokeOperator(ctx, &adminv1.RevokeOperatorRequest{Name: args[0], Reason: revokeReason})
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) { w.operator(resp.GetOperator()) })
			})
		},
	}
	revoke.Flags().StringVar(&revokeReason, "reason", "", "why, for the audit trail")

	var (
		overlap      time.Duration
		rotateReason string
	)
	rotate := &cobra.Command{
		Use:   "rotate NAME [--overlap D]",
		Short: "Issue an operator a new token; the old ones stop after the overlap (default at once)",
		Args:  exactly("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &adminv1.RotateOperatorRequest{Name: args[0], Reason: rotateReason}
			if cmd.Flags().Changed("overlap") {
				req.Overlap = durationpb.New(overlap)
			}
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.RotateOperator(ctx, req)
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) {
					w.operator(resp.GetOperator())
					w.secret(resp.GetSecret())
				})
			})
		},
	}
	rotate.Flags().DurationVar(&overlap, "overlap", 0, "how long the old tokens stay valid, such as 1h (at most 7 days)")
	rotate.Flags().StringVar(&rotateReason, "reason", "", "why, for the audit trail")

	cmd.AddCommand(create, get, list, update, revoke, rotate)
	return cmd
}

func (a *app) whoamiCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show who the CLI's credential is: operator, role and partners",
		Args:  exactly(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.WhoAmI(ctx, &adminv1.WhoAmIRequest{})
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) {
					w.row("NAME", resp.GetName())
					w.row("ROLE", resp.GetRole())
					w.row("PARTNERS", partnersCell(resp.GetPartners()))
					w.row("AUTH", resp.GetAuthMethod())
					if resp.GetCredentialId() != "" {
						w.row("CREDENTIAL", resp.GetCredentialId())
					}
					if resp.GetExpiresAt() != nil {
						w.row("EXPIRES", stamp(resp.GetExpiresAt()))
					}
				})
			})
		},
	}
}

func partnersCell(ps []string) string {
	if len(ps) == 0 {
		return "(all)"
	}
	return strings.Join(ps, ",")
}

func (t *table) operator(o *adminv1.Operator) {
	t.row("NAME", o.GetName())
	t.row("ROLE", o.GetRole())
	t.row("PARTNERS", partnersCell(o.GetPartners()))
	t.row("STATE", o.GetState())
	if o.GetCertSan() != "" {
		t.row("CERT SAN", o.GetCertSan())
	}
	t.row("CREATED", stamp(o.GetCreatedAt()))
	t.row("EXPIRES", stamp(o.GetExpiresAt()))
	if o.GetRevokedAt() != nil {
		t.row("REVOKED", stamp(o.GetRevokedAt()))
	}
	if ids := o.GetCredentialIds(); len(ids) > 0 {
		t.row("TOKENS", strings.Join(ids, " "))
	}
}

func (t *table) operators(ops []*adminv1.Operator) {
	t.row("NAME", "ROLE", "PARTNERS", "STATE", "EXPIRES", "CERT SAN")
	for _, o := range ops {
		t.row(o.GetName(), o.GetRole(), partnersCell(o.GetPartners()), o.GetState(), stamp(o.GetExpiresAt()), o.GetCertSan())
	}
}
