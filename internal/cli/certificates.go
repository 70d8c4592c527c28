package cli

import (
	"context"

	"github.com/spf13/cobra"

	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

// Commands for client certificates registered as partner credentials,
// under "partner".

func (a *app) partnerCertificateCmds() []*cobra.Command {
	var spiffeID, dnsSAN, fingerprint, name, addReason string
	add := &cobra.Command{
		Use:   "add-certificate ID (--spiffe-id URI | --dns-san NAME | --fingerprint-sha256 HEX) [--name LABEL]",
		Short: "Register a client certificate: a request presenting it acts as the partner",
		Long: `Register a client certificate as a credential of partner ID, named by
exactly one of its SPIFFE ID (URI SAN), a DNS SAN, or the SHA-256
fingerprint of its DER (openssl x509 -noout -fingerprint -sha256; colons
and case do not matter). A request whose client certificate, as Envoy
verified it, matches then acts as the partner, with its grants. The
identity is only as good as Envoy's TLS validation: see docs/possession.md.`,
		Args: exactly("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &adminv1.AddCertificateRequest{PartnerId: args[0], Name: name, Reason: addReason}
			n := 0
			for _, f := range []string{"spiffe-id", "dns-san", "fingerprint-sha256"} {
				if cmd.Flags().Changed(f) {
					n++
				}
			}
			if n != 1 {
				return usageErrorf("%s: give exactly one of --spiffe-id, --dns-san and --fingerprint-sha256", cmd.CommandPath())
			}
			switch {
			case cmd.Flags().Changed("spiffe-id"):
				req.Match = &adminv1.AddCertificateRequest_SpiffeId{SpiffeId: spiffeID}
			case cmd.Flags().Changed("dns-san"):
				req.Match = &adminv1.AddCertificateRequest_DnsSan{DnsSan: dnsSAN}
			default:
				req.Match = &adminv1.AddCertificateRequest_FingerprintSha256{FingerprintSha256: fingerprint}
			}
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.AddCertificate(ctx, req)
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) { w.certificates([]*adminv1.Certificate{resp.GetCertificate()}) })
			})
		},
	}
	add.Flags().StringVar(&spiffeID, "spiffe-id", "", "the certificate's SPIFFE ID (URI SAN), spiffe://trust-domain/path")
	add.Flags().StringVar(&dnsSAN, "dns-san", "", "one of the certificate's DNS SANs")
	add.Flags().StringVar(&fingerprint, "fingerprint-sha256", "", "SHA-256 of the certificate's DER, hex")
	add.Flags().StringVar(&name, "name", "", "a label for operators")
	add.Flags().StringVar(&addReason, "reason", "", "why, for the audit trail")

	var rmReason string
	remove := &cobra.Command{
		Use:   "remove-certificate ID CERTIFICATE_ID",
		Short: "Unregister a client certificate: it no longer acts as the partner",
		Args:  exactly("ID", "CERTIFICATE_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.RemoveCertificate(ctx, &adminv1.RemoveCertificateRequest{PartnerId: args[0], CertificateId: args[1], Reason: rmReason})
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) { w.row("REMOVED", args[1]) })
			})
		},
	}
	remove.Flags().StringVar(&rmReason, "reason", "", "why, for the audit trail")

	list := &cobra.Command{
		Use:   "list-certificates ID",
		Short: "List a partner's registered client certificates",
		Args:  exactly("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.ListCertificates(ctx, &adminv1.ListCertificatesRequest{PartnerId: args[0]})
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) { w.certificates(resp.GetCertificates()) })
			})
		},
	}

	var off bool
	var reqReason string
	require := &cobra.Command{
		Use:   "require-certificate ID [--off]",
		Short: "Count the partner's keys and tokens only with its registered client certificate",
		Long: `Make partner ID's API keys and access tokens count only on a request that
also presents a client certificate registered to it (add-certificate); a
key or token without one is then refused (401). --off stops requiring it.`,
		Args: exactly("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c adminv1.AdminClient) error {
				resp, err := c.RequireCertificate(ctx, &adminv1.RequireCertificateRequest{PartnerId: args[0], Require: !off, Reason: reqReason})
				if err != nil {
					return err
				}
				return a.print(resp, func(w *table) {
					w.partner(resp.GetPartner())
					w.row("REQUIRE-CERTIFICATE", yesNo(resp.GetPartner().GetRequireCertificate()))
				})
			})
		},
	}
	require.Flags().BoolVar(&off, "off", false, "stop requiring a certificate")
	require.Flags().StringVar(&reqReason, "reason", "", "why, for the audit trail")
	return []*cobra.Command{add, remove, list, require}
}

func (t *table) certificates(cs []*adminv1.Certificate) {
	t.row("ID", "PARTNER", "MATCHES", "NAME", "CREATED")
	for _, c := range cs {
		var match string
		switch m := c.GetMatch().(type) {
		case *adminv1.Certificate_SpiffeId:
			match = "spiffe-id " + m.SpiffeId
		case *adminv1.Certificate_DnsSan:
			match = "dns-san " + m.DnsSan
		case *adminv1.Certificate_FingerprintSha256:
			match = "fingerprint-sha256 " + m.FingerprintSha256
		}
		t.row(c.GetId(), c.GetPartnerId(), match, c.GetName(), stamp(c.GetCreatedAt()))
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
