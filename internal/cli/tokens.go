package cli

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// Commands for OAuth2 access tokens: the client registry under "partner",
// and "token revoke".

// parseTime reads an RFC 3339 time for flag name; "now" is the present.
func parseTime(name, v string) (*timestamppb.Timestamp, error) {
	if v == "now" {
		return timestamppb.Now(), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, usageErrorf("--%s: want an RFC 3339 time such as 2026-11-27T10:00:00Z, or now", name)
	}
	return timestamppb.New(t), nil
}

// partnerTokenCmds returns the partner subcommands for OAuth2 clients and
// their tokens.
func (a *app) partnerTokenCmds() []*cobra.Command {
	clientFlags := func(cmd *cobra.Command, issuer, clientID, reason *string) {
		cmd.Flags().StringVar(issuer, "issuer", "", "the IdP's issuer, exactly the tokens' iss (required)")
		cmd.Flags().StringVar(clientID, "client-id", "", "the OAuth2 client id, as the issuer's client claim names it (required)")
		cmd.Flags().StringVar(reason, "reason", "", "why, for the audit trail")
	}

	var addIssuer, addClient, addReason string
	add := &cobra.Command{
		Use:   "add-client ID --issuer URL --client-id CLIENT",
		Short: "Register an OAuth2 client: its access tokens act as the partner",
		Args:  exactly("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "issuer", "client-id"); err != nil {
				return err
			}
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.AddClient(ctx, &adminv1.AddClientRequest{PartnerId: args[0], Issuer: addIssuer, ClientId: addClient, Reason: addReason})
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) { w.clients([]*adminv1.Client{resp.GetClient()}) })
			})
		},
	}
	clientFlags(add, &addIssuer, &addClient, &addReason)

	var rmIssuer, rmClient, rmReason string
	remove := &cobra.Command{
		Use:   "remove-client ID --issuer URL --client-id CLIENT",
		Short: "Unregister an OAuth2 client: its tokens are refused at once",
		Args:  exactly("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "issuer", "client-id"); err != nil {
				return err
			}
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.RemoveClient(ctx, &adminv1.RemoveClientRequest{PartnerId: args[0], Issuer: rmIssuer, ClientId: rmClient, Reason: rmReason})
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) { w.row("REMOVED", rmClient+" ("+rmIssuer+")") })
			})
		},
	}
	clientFlags(remove, &rmIssuer, &rmClient, &rmReason)

	list := &cobra.Command{
		Use:   "list-clients ID",
		Short: "List a partner's registered OAuth2 clients",
		Args:  exactly("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.ListClients(ctx, &adminv1.ListClientsRequest{PartnerId: args[0]})
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) { w.clients(resp.GetClients()) })
			})
		},
	}

	var before, revokeReason string
	revoke := &cobra.Command{
		Use:   "revoke-tokens ID --before TIME",
		Short: "Refuse every access token of the partner's clients issued before TIME",
		Long: `Refuse every access token of the partner's OAuth2 clients issued (iat)
before TIME, an RFC 3339 time or "now". Use it after a client secret leaks,
once the secret is rotated at the IdP. The cutoff only moves forward.`,
		Args: exactly("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "before"); err != nil {
				return err
			}
			ts, err := parseTime("before", before)
			if err != nil {
				return err
			}
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.RevokePartnerTokens(ctx, &adminv1.RevokePartnerTokensRequest{Id: args[0], Before: ts, Reason: revokeReason})
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) {
					w.partner(resp.GetPartner())
					w.row("TOKENS-BEFORE", stamp(resp.GetPartner().GetRevokedBefore()))
				})
			})
		},
	}
	revoke.Flags().StringVar(&before, "before", "", `refuse tokens issued before this RFC 3339 time, or "now" (required)`)
	revoke.Flags().StringVar(&revokeReason, "reason", "", "why, for the audit trail")

	return []*cobra.Command{add, remove, list, revoke}
}

// tokenCmd is "token revoke".
func (a *app) tokenCmd() *cobra.Command {
	cmd := group("token", "Revoke OAuth2 access tokens")
	var issuer, jti, expiresAt, reason string
	revoke := &cobra.Command{
		Use:   "revoke --jti ID --issuer URL [--expires-at TIME]",
		Short: "Refuse one access token, by issuer and jti, until its exp",
		Long: `Refuse one access token, named by its issuer and jti, until its exp
(--expires-at, an RFC 3339 time; default 24 hours from now). A token
without jti can only be refused by "partner revoke-tokens".`,
		Args: exactly(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "jti", "issuer"); err != nil {
				return err
			}
			req := &adminv1.RevokeTokenRequest{Issuer: issuer, Jti: jti, Reason: reason}
			if expiresAt != "" {
				ts, err := parseTime("expires-at", expiresAt)
				if err != nil {
					return err
				}
				req.ExpiresAt = ts
			}
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.RevokeToken(ctx, req)
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) {
					r := resp.GetRevocation()
					w.row("ISSUER", r.GetIssuer())
					w.row("JTI", r.GetJti())
					w.row("EXPIRES", stamp(r.GetExpiresAt()))
					w.row("REVOKED", stamp(r.GetRevokedAt()))
				})
			})
		},
	}
	revoke.Flags().StringVar(&jti, "jti", "", "the token's jti (required)")
	revoke.Flags().StringVar(&issuer, "issuer", "", "the token's iss (required)")
	revoke.Flags().StringVar(&expiresAt, "expires-at", "", "the token's exp, RFC 3339 (default: 24 hours from now)")
	revoke.Flags().StringVar(&reason, "reason", "", "why, for the audit trail")
	cmd.AddCommand(revoke)
	return cmd
}

func (t *table) clients(cs []*adminv1.Client) {
	t.row("PARTNER", "ISSUER", "CLIENT-ID", "CREATED")
	for _, c := range cs {
		t.row(c.GetPartnerId(), c.GetIssuer(), c.GetClientId(), stamp(c.GetCreatedAt()))
	}
}

// required fails as a usage error naming the first of names not given.
func required(cmd *cobra.Command, names ...string) error {
	for _, n := range names {
		if !cmd.Flags().Changed(n) {
			return usageErrorf("%s: --%s is required", cmd.CommandPath(), n)
		}
	}
	return nil
}
