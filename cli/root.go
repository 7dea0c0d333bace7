// Package cli is Roster's command line: `roster agent` runs a node, and
// every other command talks to a node through the HTTP client only.
package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/certs"
	"github.com/rosterhq/roster/httpapi/client"
)

// Version is set at build time with -ldflags "-X .../cli.Version=...".
var Version = "dev"

// usageError marks bad usage, which exits 2 with the usage line.
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// globals are the flags every client command shares.
type globals struct {
	addr   string
	output string
	// caFile, clientCert and clientKey: how the CLI verifies a node over
	// https and the certificate it presents (ROSTER_CACERT, ...).
	caFile, clientCert, clientKey string
	// token is sent as Authorization: Bearer (ROSTER_TOKEN).
	token  string
	out    io.Writer
	errOut io.Writer
}

// Execute runs the command line and returns the process exit code.
func Execute() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
}

// Run executes args as the roster command would; tests call it directly.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	args = metaArgs(root, args)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "Error: %v\n", ue.error)
		if cmd, _, ferr := root.Find(args); ferr == nil {
			fmt.Fprintf(stderr, "Usage: %s\n", cmd.UseLine())
		}
		return 2
	}
	fmt.Fprintf(stderr, "Error: %v\n", err)
	return 1
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{out: stdout, errOut: stderr}
	root := &cobra.Command{
		Use:           "roster",
		Short:         "A peer-to-peer service registry",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.PersistentFlags().StringVar(&g.addr, "addr", "", "node to talk to (env ROSTER_ADDR, then OB_SERVER_URL; default http://127.0.0.1:11337)")
	root.PersistentFlags().StringVarP(&g.output, "output", "o", "table", "output format: table, wide, json or yaml")
	root.PersistentFlags().StringVar(&g.caFile, "ca-file", "", "CA certificate that verifies the node over https (env ROSTER_CACERT)")
	root.PersistentFlags().StringVar(&g.clientCert, "client-cert", "", "client certificate to present, for operator calls such as keyring changes (env ROSTER_CLIENT_CERT)")
	root.PersistentFlags().StringVar(&g.token, "token", "", "token secret to send, for a cluster that requires tokens (env ROSTER_TOKEN, which keeps it out of ps)")
	root.PersistentFlags().StringVar(&g.clientKey, "client-key", "", "key of --client-cert (env ROSTER_CLIENT_KEY)")
	root.AddCommand(
		newAgentCmd(),
		newStatusCmd(g),
		newLeaveCmd(g),
		newInstancesCmd(g),
		newDefinitionsCmd(g),
		newNodesCmd(g),
		newServicesCmd(g),
		newTestclusterCmd(g),
		newVersionCmd(g),
		newBenchCmd(g),
		newTLSCmd(g),
		newKeyringCmd(g),
		newACLCmd(g),
		newTokenCmd(g),
		newSnapshotCmd(g),
		newWatchCmd(g),
		newKVCmd(g),
		newRegistratorCmd(g),
	)
	for _, m := range []string{"get", "put", "post", "delete"} {
		root.AddCommand(newRawCmd(g, m))
	}
	refuseUnknownSubcommands(root)
	return root
}

// refuseUnknownSubcommands makes every command that only groups others
// (roster, roster instances, ...) answer an unknown subcommand as bad
// usage (exit 2); without arguments it prints its help. Cobra would print
// the help and exit 0 for "roster instances frobnicate", and exit 1 for
// "roster frobnicate".
func refuseUnknownSubcommands(cmd *cobra.Command) {
	if cmd.HasSubCommands() && cmd.Run == nil && cmd.RunE == nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q", args[0], c.CommandPath())
			}
			return nil
		}
		cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	}
	for _, sub := range cmd.Commands() {
		refuseUnknownSubcommands(sub)
	}
}

// client builds the HTTP client for the chosen node.
func (g *globals) client() (*client.Client, error) {
	addr := g.addr
	for _, env := range []string{"ROSTER_ADDR", "OB_SERVER_URL"} {
		if addr == "" {
			addr = os.Getenv(env)
		}
	}
	if addr == "" {
		addr = "http://127.0.0.1:11337"
	}
	c, err := client.New(addr)
	if err != nil {
		return nil, usageError{err}
	}
	tc, err := g.tlsConfig()
	if err != nil {
		return nil, err
	}
	if c.Token, err = g.tokenValue(); err != nil {
		return nil, err
	}
	return c.UseTLS(tc), nil
}

// tokenValue is the token from --token or ROSTER_TOKEN ("": none).
func (g *globals) tokenValue() (string, error) {
	t := g.token
	if t == "" {
		t = os.Getenv("ROSTER_TOKEN")
	}
	if strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", usagef("the token (--token or ROSTER_TOKEN) holds a space or a control character")
	}
	return t, nil
}

// tlsConfig is the client's TLS from flags or env; nil when none is set.
func (g *globals) tlsConfig() (*tls.Config, error) {
	for _, f := range []struct {
		v   *string
		env string
	}{{&g.caFile, "ROSTER_CACERT"}, {&g.clientCert, "ROSTER_CLIENT_CERT"}, {&g.clientKey, "ROSTER_CLIENT_KEY"}} {
		if *f.v == "" {
			*f.v = os.Getenv(f.env)
		}
	}
	if g.caFile == "" && g.clientCert == "" && g.clientKey == "" {
		return nil, nil
	}
	tc, err := certs.Client(g.caFile, g.clientCert, g.clientKey)
	if err != nil {
		return nil, usagef("TLS of the CLI (--ca-file/ROSTER_CACERT, --client-cert/ROSTER_CLIENT_CERT, --client-key/ROSTER_CLIENT_KEY): %v", err)
	}
	return tc, nil
}

// listClient checks --output for a listing command and builds its client.
func (g *globals) listClient() (*client.Client, error) {
	if err := g.checkOutput("table", "wide", "json", "yaml"); err != nil {
		return nil, err
	}
	return g.client()
}

func (g *globals) checkOutput(allowed ...string) error {
	for _, a := range allowed {
		if g.output == a {
			return nil
		}
	}
	return usagef("--output %q: want one of %v", g.output, allowed)
}

// explain turns a transport failure into one clear line naming the node.
func explain(c *client.Client, err error) error {
	if hint := tlsHint(c, err); hint != nil {
		return hint
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		var op *net.OpError
		if errors.As(err, &op) {
			if op.Op == "dial" {
				return fmt.Errorf("cannot reach the node at %s: %v\n(no agent there? start one with `roster agent --dev`, "+
					"or a 3-node cluster with `roster testcluster up`; or point --addr / ROSTER_ADDR at a running node)", c.Base(), op.Err)
			}
			return fmt.Errorf("cannot reach the node at %s: %v", c.Base(), op.Err)
		}
		return fmt.Errorf("cannot reach the node at %s: %v", c.Base(), ue.Err)
	}
	return err
}

// tlsHint explains a CLI and a node that disagree about TLS.
func tlsHint(c *client.Client, err error) error {
	var unknown x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	switch {
	case errors.As(err, &unknown), errors.As(err, &verify):
		return fmt.Errorf("the node at %s presented a certificate this CLI cannot verify: %v\n"+
			"(set ROSTER_CACERT or --ca-file to the cluster's ca.pem; for a test cluster, eval \"$(roster testcluster env)\")", c.Base(), err)
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("the node at %s serves plain http: use an http:// address", c.Base())
	case strings.Contains(err.Error(), "HTTP request to an HTTPS server"):
		return fmt.Errorf("the node at %s serves https: use https://%s and set ROSTER_CACERT to the cluster's ca.pem "+
			"(for a test cluster, eval \"$(roster testcluster env)\")", c.Base(), strings.TrimPrefix(c.Base(), "http://"))
	}
	return nil
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %d argument(s), got %d", cmd.Name(), n, len(args))
		}
		return nil
	}
}

func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usagef("%s needs at least %d argument(s)", cmd.Name(), n)
		}
		return nil
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q", cmd.Name(), args)
	}
	return nil
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "version", Short: "Print the version", Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintln(g.out, "roster", Version)
			return nil
		},
	}
}
