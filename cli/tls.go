package cli

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/certs"
)

func newTLSCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tls",
		Short: "Make the cluster's CA and its node and client certificates",
		Long: `Make the files mutual TLS between agents needs, as "consul tls" does:

  roster tls ca create                       # ca.pem and ca-key.pem (keep the key offline)
  roster tls cert create --node-id node1     # node1.pem and node1-key.pem, for node1 only
  roster tls cert create --client ops        # client-ops.pem: an operator's CLI certificate

An agent then starts with --tls-ca-file ca.pem --tls-cert-file node1.pem
--tls-key-file node1-key.pem and a gossip key (--encrypt-file). Its certificate names its
node ID: no other node can take its place in the cluster.`,
	}
	ca := &cobra.Command{Use: "ca", Short: "The cluster's certificate authority"}
	var dir, name string
	var days int
	caCreate := &cobra.Command{
		Use: "create", Short: "Make a new CA (ca.pem, ca-key.pem) in --dir", Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			c, k, err := certs.CreateCA(dir, name, days)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.out, "Wrote %s and %s (mode 600). Every agent needs %s; keep %s only where certificates are made.\n",
				c, k, certs.CAFile, certs.CAKeyFile)
			return nil
		},
	}
	caCreate.Flags().StringVar(&dir, "dir", ".", "directory to write into")
	caCreate.Flags().StringVar(&name, "common-name", "Roster cluster CA", "the CA's name")
	caCreate.Flags().IntVar(&days, "days", 5*365, "validity in days")
	ca.AddCommand(caCreate)

	cert := &cobra.Command{Use: "cert", Short: "Node and client certificates"}
	var o struct {
		dir, caFile, caKey, nodeID, client string
		ips, dns                           []string
		days                               int
	}
	certCreate := &cobra.Command{
		Use: "create", Short: "Sign a node certificate (--node-id) or an operator's client certificate (--client)", Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			if (o.nodeID == "") == (o.client == "") {
				return usagef("give exactly one of --node-id ID (a node certificate) and --client NAME (an operator's)")
			}
			if o.caFile == "" {
				o.caFile = filepath.Join(o.dir, certs.CAFile)
			}
			if o.caKey == "" {
				o.caKey = filepath.Join(o.dir, certs.CAKeyFile)
			}
			authority, err := certs.LoadCA(o.caFile, o.caKey)
			if err != nil {
				return err
			}
			var c, k string
			if o.client != "" {
				c, k, err = authority.CreateClient(o.dir, o.client, o.days)
			} else {
				nc := certs.NodeCert{NodeID: o.nodeID, DNSNames: o.dns, Days: o.days}
				for _, d := range o.dns {
					// A name that is not one would be written into the
					// certificate and fail only when a client connects.
					if net.ParseIP(d) != nil {
						return usagef("--dns %q: an IP address; give it with --ip", d)
					}
					if !api.IsHostName(strings.TrimPrefix(d, "*.")) {
						return usagef("--dns %q: not a DNS name; give the host alone, like node1.example.com (or *.example.com)", d)
					}
				}
				for _, s := range o.ips {
					ip := net.ParseIP(s)
					if ip == nil {
						return usagef("--ip %q: not an IP address", s)
					}
					nc.IPs = append(nc.IPs, ip)
				}
				c, k, err = authority.CreateNode(o.dir, nc)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(g.out, "Wrote %s and %s (mode 600).\n", c, k)
			return nil
		},
	}
	fl := certCreate.Flags()
	fl.StringVar(&o.nodeID, "node-id", "", "the node's --node-id: its certificate names it")
	fl.StringVar(&o.client, "client", "", "make an operator's client certificate with this name instead")
	fl.StringVar(&o.dir, "dir", ".", "directory of the CA and of the new files")
	fl.StringVar(&o.caFile, "ca", "", "CA certificate (default DIR/ca.pem)")
	fl.StringVar(&o.caKey, "ca-key", "", "CA key (default DIR/ca-key.pem)")
	fl.StringArrayVar(&o.ips, "ip", nil, "IP address users reach the node's HTTP API at (repeatable; loopback is always in)")
	fl.StringArrayVar(&o.dns, "dns", nil, "DNS name users reach the node's HTTP API at (repeatable; localhost is always in)")
	fl.IntVar(&o.days, "days", 365, "validity in days (at most the CA's)")
	cert.AddCommand(certCreate)
	var initDir string
	var initIDs []string
	initCmd := &cobra.Command{
		Use:   "init --dir DIR --node-id ID...",
		Short: "Make whatever is missing of a whole cluster's files: CA, node certificates, an operator certificate, a gossip key",
		Long: `Make, in DIR, the CA, a certificate for each --node-id, an operator's client certificate
(client-operator.pem) and a gossip key (gossip.key), keeping any that exist: running it again
changes nothing. For a cluster on one host or in containers (the compose file runs it); for
machines, keep the CA key off them and use "tls ca create" and "tls cert create".`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if initDir == "" || len(initIDs) == 0 {
				return usagef("--dir and at least one --node-id are required")
			}
			for _, id := range initIDs {
				if err := api.ValidateID("node-id", id); err != nil {
					return usagef("--node-id %q: %v", id, err)
				}
			}
			if err := certs.Init(initDir, "Roster CA", initIDs, "operator"); err != nil {
				return err
			}
			fmt.Fprintf(g.out, "PKI in %s: CA %s, nodes %s, operator certificate, gossip key %s\n",
				initDir, certs.CAFile, strings.Join(initIDs, ", "), certs.GossipKeyFile)
			return nil
		},
	}
	initCmd.Flags().StringVar(&initDir, "dir", "", "directory for the files")
	initCmd.Flags().StringArrayVar(&initIDs, "node-id", nil, "a node of the cluster (repeatable)")
	cmd.AddCommand(ca, cert, initCmd)
	return cmd
}
