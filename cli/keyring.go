package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/api"
)

func newKeyringCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keyring",
		Short: "Rotate the gossip encryption key without downtime",
		Long: `Every member holds a keyring: the primary key encrypts, every key decrypts. A rotation is
three steps, each applied on every alive member (run the next only when "failed" is 0):

  roster keyring generate --out new.key
  roster keyring install --key-file new.key   # every member can now read the new key
  roster keyring use KEYID                    # every member now writes with it
  roster keyring remove OLDKEYID              # the old key is gone

Keys are named by ID (16 hex digits, not the key). The key itself is read from a file,
never from the command line. Each node saves its keyring in its data dir, so restarts keep
it. A member that is down during the whole rotation cannot rejoin once the old key is
removed: give it the new key in its --encrypt-file and remove gossip-keyring.json from its
data dir. With TLS, changes take a client certificate (ROSTER_CLIENT_CERT/ROSTER_CLIENT_KEY).`,
	}
	ls := &cobra.Command{
		Use: "ls", Short: "Show every alive member's keys", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.listClient()
			if err != nil {
				return err
			}
			k, err := c.Keyring(cmd.Context())
			if err != nil {
				return explain(c, err)
			}
			if err := printKeyring(g, k); err != nil {
				return err
			}
			if k.Failed > 0 {
				return fmt.Errorf("%d of %d members could not be read", k.Failed, len(k.Nodes))
			}
			return nil
		},
	}
	var keyFile string
	install := &cobra.Command{
		Use: "install --key-file FILE", Short: "Install a key on every member (it decrypts; the primary still encrypts)", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyFile == "" {
				return usagef("--key-file is required (a file, or - for stdin): a key on the command line shows in ps")
			}
			key, err := readKeyFile(keyFile, cmd.InOrStdin())
			if err != nil {
				return err
			}
			return changeKeyring(cmd.Context(), g, api.KeyringChange{Op: "install", Key: key})
		},
	}
	install.Flags().StringVar(&keyFile, "key-file", "", "file holding the base64 key (- reads stdin)")
	use := &cobra.Command{
		Use: "use KEYID", Short: "Make an installed key the primary on every member", Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeKeyring(cmd.Context(), g, api.KeyringChange{Op: "use", KeyID: args[0]})
		},
	}
	remove := &cobra.Command{
		Use: "remove KEYID", Short: "Remove a key that is not the primary from every member", Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeKeyring(cmd.Context(), g, api.KeyringChange{Op: "remove", KeyID: args[0]})
		},
	}
	var out string
	generate := &cobra.Command{
		Use: "generate", Short: "Make a new 32-byte gossip key (base64)", Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			b := make([]byte, 32)
			if _, err := rand.Read(b); err != nil {
				return err
			}
			key := base64.StdEncoding.EncodeToString(b) + "\n"
			if out == "" || out == "-" {
				_, err := io.WriteString(g.out, key)
				return err
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			if _, err := f.WriteString(key); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintf(g.errOut, "Wrote a new gossip key to %s (mode 600).\n", out)
			return nil
		},
	}
	generate.Flags().StringVar(&out, "out", "", "file to write (created, mode 600; default stdout)")
	cmd.AddCommand(ls, install, use, remove, generate)
	return cmd
}

func readKeyFile(path string, stdin io.Reader) (string, error) {
	var raw []byte
	var err error
	if path == "-" {
		raw, err = io.ReadAll(io.LimitReader(stdin, 4096))
	} else {
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		return "", usagef("--key-file: %v", err)
	}
	return strings.TrimSpace(string(raw)), nil
}

func changeKeyring(ctx context.Context, g *globals, ch api.KeyringChange) error {
	if _, err := ch.Validate(); err != nil {
		return usageError{err}
	}
	c, err := g.listClient()
	if err != nil {
		return err
	}
	k, err := c.ChangeKeyring(ctx, ch)
	if err != nil {
		return explain(c, err)
	}
	if err := printKeyring(g, k); err != nil {
		return err
	}
	if k.Failed > 0 {
		return fmt.Errorf("%s failed on %d of %d members: run it again before the next step", ch.Op, k.Failed, len(k.Nodes))
	}
	return nil
}

func printKeyring(g *globals, k *api.Keyring) error {
	if g.output == "json" || g.output == "yaml" {
		return printStructured(g, k)
	}
	tw := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPRIMARY\tKEYS\tERROR")
	for _, n := range k.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", cell(n.Node), cell(n.Primary), cell(strings.Join(n.Keys, ",")), cell(n.Error))
	}
	return tw.Flush()
}
