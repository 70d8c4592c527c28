package cli

import (
	"context"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/peer"

	"github.com/partnergate/partnergate/internal/peercert"
)

// Environment variables the check command reads.
const (
	// EnvCheckAddr is the Check address when --addr is not given.
	EnvCheckAddr = "PARTNERGATE_CHECK_ADDR"
	// EnvCredential holds the credential check sends; secrets never
	// travel in flags, where ps and shell history would keep them.
	EnvCredential = "PARTNERGATE_CREDENTIAL"
	// DefaultCheckAddr is where a server's Check API listens by default.
	DefaultCheckAddr = "127.0.0.1:9001"
)

// errDenied makes Execute exit with [ExitDenied] after a denial was
// printed.
var errDenied = errors.New("denied")

// checkError is a check that made no decision: Execute exits with
// [ExitUnavailable], so a script never mistakes a broken server for a
// refused credential.
type checkError struct{ err error }

func (e checkError) Error() string { return e.err.Error() }
func (e checkError) Unwrap() error { return e.err }

// checkCmd sends one CheckRequest shaped like Envoy's and prints the
// decision: the quickest way to see what a route and a credential get.
func (a *app) checkCmd() *cobra.Command {
	var (
		addr, method, path, scopes, source string
		host, scheme                       string
		principal, certFile, proof         string
		headers                            []string
		bearer                             bool
	)
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Send one Check request, as Envoy would, and print the decision",
		Long: `Send one ext_authz Check request, shaped like Envoy's, to a running server
and print the decision: the identity headers set, the headers removed and the
dynamic metadata on allow; the status and body on deny. The credential is
read from ` + EnvCredential + ` and sent as x-api-key (or, with --bearer,
as Authorization: Bearer).

To reproduce a partner on mutual TLS, --peer-certificate FILE sends the
certificate in source.certificate as Envoy does (URL-encoded PEM), and
--source-principal the principal Envoy derives from it (the URI SAN, else
the DNS SAN, else the Subject). --dpop-proof JWT sends a DPoP proof
(RFC 9449) in the DPoP header and the credential as Authorization: DPoP;
the proof's htm and htu must match --method, --scheme, --host and --path.

Exit status:
  0  allowed
  1  denied (401 or 403)
  2  usage error: the command line was wrong
  3  no decision: the Check API could not be reached, answered with an
     error (not ready, cache stale, an internal fault), or did not answer
     within --timeout`,
		Args: exactly(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if source != "" {
				if _, err := netip.ParseAddr(source); err != nil {
					return usageErrorf("--source-address %q: want an IP address, such as 203.0.113.7 or 2001:db8::7", source)
				}
			}
			if !cmd.Flags().Changed("addr") {
				if v := strings.TrimSpace(os.Getenv(EnvCheckAddr)); v != "" {
					addr = v
				}
			}
			hdrs := map[string]string{}
			for _, h := range headers {
				k, v, ok := strings.Cut(h, ":")
				if !ok || strings.TrimSpace(k) == "" {
					return usageErrorf("--header %q: want NAME: VALUE", h)
				}
				hdrs[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
			if proof != "" {
				// A DPoP proof goes with its token: "Authorization: DPoP".
				hdrs["dpop"] = proof
				if cred := os.Getenv(EnvCredential); cred != "" {
					hdrs["authorization"] = "DPoP " + cred
				}
			} else if cred := os.Getenv(EnvCredential); cred != "" {
				if bearer {
					hdrs["authorization"] = "Bearer " + cred
				} else {
					hdrs["x-api-key"] = cred
				}
			}
			if _, ok := hdrs["x-request-id"]; !ok {
				hdrs["x-request-id"] = rand.Text() // as Envoy does: denials echo it
			}
			src := &authv3.AttributeContext_Peer{Principal: principal, Address: socketAddress(source)}
			if certFile != "" {
				enc, err := readPeerCertificate(certFile)
				if err != nil {
					return usageErrorf("--peer-certificate: %w", err)
				}
				src.Certificate = enc
			}
			ext := map[string]string{}
			if scopes != "" {
				ext["required_scopes"] = scopes
			}
			req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
				Source: src,
				Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
					Method: method, Path: path, Host: host, Scheme: scheme, Protocol: "HTTP/1.1", Headers: hdrs,
				}},
				ContextExtensions: ext,
			}}
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				return usageErrorf("--addr %q: %w", addr, err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), a.timeout)
			defer cancel()
			var p peer.Peer
			resp, err := authv3.NewAuthorizationClient(conn).Check(ctx, req, grpc.Peer(&p))
			if err != nil {
				return checkError{a.serverError(err, "Check API", addr, p.Addr != nil)}
			}
			if err := a.printCheck(resp); err != nil {
				return checkError{err}
			}
			if codes.Code(resp.GetStatus().GetCode()) != codes.OK {
				return errDenied
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", DefaultCheckAddr, "Check API address (env "+EnvCheckAddr+")")
	f.StringVar(&method, "method", "GET", "HTTP method")
	f.StringVar(&path, "path", "/", "request path, query included")
	f.StringVar(&scopes, "required-scopes", "", "the route's required_scopes context extension (space-separated)")
	f.StringArrayVar(&headers, "header", nil, "extra request header NAME: VALUE (repeatable)")
	f.BoolVar(&bearer, "bearer", false, "send the credential as Authorization: Bearer instead of x-api-key")
	f.StringVar(&source, "source-address", "", "the client address, as Envoy's attributes.source.address, for source allow-lists (default: none)")
	f.StringVar(&host, "host", "localhost", "the request's host (:authority), as the edge saw it")
	f.StringVar(&scheme, "scheme", "http", "the request's scheme, as the edge saw it")
	f.StringVar(&principal, "source-principal", "", "source.principal, as Envoy derives it from the client certificate (URI SAN, DNS SAN or Subject)")
	f.StringVar(&certFile, "peer-certificate", "", "PEM file of the client certificate, sent URL-encoded in source.certificate as Envoy does")
	f.StringVar(&proof, "dpop-proof", "", "DPoP proof JWT, sent in the DPoP header with the credential as Authorization: DPoP")
	return cmd
}

// readPeerCertificate reads the first certificate of a PEM file and
// returns it encoded as Envoy forwards a client certificate. A file with
// no readable certificate is an error: the check would silently send none.
func readPeerCertificate(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	var block *pem.Block
	for rest := b; ; {
		block, rest = pem.Decode(rest)
		if block == nil || block.Type == "CERTIFICATE" {
			break
		}
	}
	if block == nil {
		return "", fmt.Errorf("%s holds no PEM CERTIFICATE block", file)
	}
	// Envoy forwards the leaf alone: the first certificate of a chain.
	enc := peercert.Encode(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes}))
	if _, err := peercert.Parse(enc); err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	return enc, nil
}

// socketAddress is the CheckRequest's source address for
// --source-address; nil without one.
func socketAddress(addr string) *corev3.Address {
	if addr == "" {
		return nil
	}
	return &corev3.Address{Address: &corev3.Address_SocketAddress{
		SocketAddress: &corev3.SocketAddress{Address: addr},
	}}
}

func (a *app) printCheck(resp *authv3.CheckResponse) error {
	if a.output == "json" {
		return printJSON(a.stdout, resp)
	}
	w := a.stdout
	if ok := resp.GetOkResponse(); ok != nil {
		fmt.Fprintln(w, "ALLOWED")
		for _, h := range ok.GetHeaders() {
			fmt.Fprintf(w, "  set     %s: %s\n", h.GetHeader().GetKey(), h.GetHeader().GetValue())
		}
		for _, h := range ok.GetHeadersToRemove() {
			fmt.Fprintf(w, "  remove  %s\n", h)
		}
		fields := resp.GetDynamicMetadata().GetFields()
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  meta    %s=%s\n", k, fields[k].GetStringValue())
		}
		return nil
	}
	d := resp.GetDeniedResponse()
	fmt.Fprintf(w, "DENIED %d\n", d.GetStatus().GetCode())
	for _, h := range d.GetHeaders() {
		fmt.Fprintf(w, "  %s: %s\n", h.GetHeader().GetKey(), h.GetHeader().GetValue())
	}
	fmt.Fprintf(w, "  %s\n", d.GetBody())
	return nil
}
