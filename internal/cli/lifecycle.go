package cli

import (
	"context"
	"strconv"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// partnerUpdateCmd is "partner update".
func (a *app) partnerUpdateCmd() *cobra.Command {
	var tier, grants, allow, reason string
	var requireCert bool
	cmd := &cobra.Command{
		Use:   `update ID [--tier NAME] [--scopes "s1 s2"] [--allow-cidrs NETS] [--reason TEXT] | --require-certificate[=false]`,
		Short: "Change a partner's tier, grants, source allow-list or certificate requirement",
		Long: `Change a partner's tier, grants (--scopes, the whole new list) or source
allow-list (--allow-cidrs, the whole new list; "" allows every address).
Narrowed grants narrow every key's and token's effective scopes from the next
Check on every replica; widened grants never widen a key beyond the scopes it
was issued with.

--require-certificate makes the partner's keys and tokens count only with a
client certificate registered to it (add-certificate), and
--require-certificate=false stops requiring it, as "partner
require-certificate" does. It is a write of its own, so it is given alone.`,
		Args: exactly("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("require-certificate") {
				for _, other := range []string{"tier", "scopes", "allow-cidrs"} {
					if cmd.Flags().Changed(other) {
						return usageErrorf("%s: give --require-certificate alone, not with --%s", cmd.CommandPath(), other)
					}
				}
				return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
					resp, err := c.RequireCertificate(ctx, &adminv1.RequireCertificateRequest{PartnerId: args[0], Require: requireCert, Reason: reason})
					if err != nil {
						return err
					}
					return a.print(resp, func(w *table) {
						w.partner(resp.GetPartner())
						w.row("REQUIRE-CERTIFICATE", yesNo(resp.GetPartner().GetRequireCertificate()))
					})
				})
			}
			req := &adminv1.UpdatePartnerRequest{Id: args[0], Reason: reason}
			if cmd.Flags().Changed("tier") {
				req.Tier = proto.String(tier)
			}
			if cmd.Flags().Changed("scopes") {
				req.SetScopes, req.Scopes = true, scopes(grants)
			}
			if cmd.Flags().Changed("allow-cidrs") {
				req.SetAllowCidrs, req.AllowCidrs = true, cidrs(allow)
			}
			if req.Tier == nil && !req.SetScopes && !req.SetAllowCidrs {
				return usageErrorf("%s: give --tier, --scopes, --allow-cidrs or --require-certificate", cmd.CommandPath())
			}
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.UpdatePartner(ctx, req)
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) { w.partner(resp.GetPartner()) })
			})
		},
	}
	cmd.Flags().StringVar(&tier, "tier", "", "the new rate-limit tier; must be configured")
	cmd.Flags().StringVar(&grants, "scopes", "", `the new space-separated grants, such as "orders:read"`)
	cmd.Flags().StringVar(&allow, "allow-cidrs", "", `the new comma-separated networks its credentials may be used from ("" allows any)`)
	cmd.Flags().BoolVar(&requireCert, "require-certificate", false, "count its keys and tokens only with its registered client certificate (=false: stop)")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the audit trail")
	return cmd
}

// partnerDeleteCmd is "partner delete".
func (a *app) partnerDeleteCmd() *cobra.Command {
	var (
		revokeAll bool
		reason    string
	)
	cmd := &cobra.Command{
		Use:   "delete ID [--revoke-all] [--reason TEXT]",
		Short: "Offboard a partner, leaving a tombstone",
		Long: `Offboard a partner. While it has a live key, an OAuth client or a client
certificate the command is refused, unless --revoke-all is given: then every
key is revoked, every OAuth client and client certificate removed and every
access token issued so far refused, all at once.
The audit trail is kept, and the id stays as a tombstone: "partner create"
of it needs --reuse-deleted-id.`,
		Args: exactly("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.DeletePartner(ctx, &adminv1.DeletePartnerRequest{Id: args[0], RevokeAll: revokeAll, Reason: reason})
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) {
					w.partner(resp.GetPartner())
					w.row("REVOKED KEYS", strconv.Itoa(len(resp.GetRevokedKeyIds())))
					w.row("REMOVED CLIENTS", strconv.Itoa(len(resp.GetRemovedClients())))
					w.row("REMOVED CERTIFICATES", strconv.Itoa(len(resp.GetRemovedCertificateIds())))
				})
			})
		},
	}
	cmd.Flags().BoolVar(&revokeAll, "revoke-all", false, "revoke every key, remove every OAuth client and client certificate, and cut off every token")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the audit trail")
	return cmd
}

// keyUpdateCmd is "key update".
func (a *app) keyUpdateCmd() *cobra.Command {
	var name, keyScopes, allow, reason string
	cmd := &cobra.Command{
		Use:   `update KEY_ID [--name LABEL] [--scopes "narrower"] [--allow-cidrs NETS] [--reason TEXT]`,
		Short: "Rename a key, narrow its scopes or set its source allow-list",
		Long: `Change a key's label, narrow its scopes (--scopes, a subset of the key's own:
a key is never widened, a wider key is a new key) or set its source allow-list
(--allow-cidrs, the whole new list; "" allows every address).`,
		Args: exactly("KEY_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &adminv1.UpdateKeyRequest{KeyId: args[0], Reason: reason}
			if cmd.Flags().Changed("name") {
				req.Name = proto.String(name)
			}
			if cmd.Flags().Changed("scopes") {
				req.SetScopes, req.Scopes = true, scopes(keyScopes)
			}
			if cmd.Flags().Changed("allow-cidrs") {
				req.SetAllowCidrs, req.AllowCidrs = true, cidrs(allow)
			}
			if req.Name == nil && !req.SetScopes && !req.SetAllowCidrs {
				return usageErrorf("%s: give --name, --scopes or --allow-cidrs", cmd.CommandPath())
			}
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.UpdateKey(ctx, req)
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) { w.key(resp.GetKey()) })
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the new label")
	cmd.Flags().StringVar(&keyScopes, "scopes", "", "the new space-separated scopes, within the key's own")
	cmd.Flags().StringVar(&allow, "allow-cidrs", "", `the new comma-separated networks the key may be used from ("" allows any)`)
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the audit trail")
	return cmd
}
