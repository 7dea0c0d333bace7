package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/api"
)

func newACLCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "acl",
		Short: "Set up tokens on a cluster that requires them (--acl)",
	}
	cmd.AddCommand(&cobra.Command{
		Use: "bootstrap", Short: "Make the cluster's first management token (works once)", Args: noArgs,
		Long: `Make the first management token of a cluster whose agents run with --acl. It holds
every permission; keep its secret safe and make narrower tokens with "roster token create".
It works once per cluster: later calls answer 409.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			t, err := c.ACLBootstrap(cmd.Context())
			if err != nil {
				return explain(c, err)
			}
			return printCreatedToken(g, t)
		},
	})
	return cmd
}

func newTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and remove tokens (takes " + api.PermOperator + ")",
	}
	var perms []string
	var slug, desc string
	var ttl time.Duration
	create := &cobra.Command{
		Use: "create --permission P [--permission P...] [--slug S] [--ttl D]", Args: noArgs,
		Short: "Make a token; its secret is printed once",
		Long:  "Make a token. Permissions:\n\n" + permissionHelp(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := api.CreateTokenRequest{Description: desc, Permissions: perms, Slug: slug, TTL: api.Duration(ttl)}
			if err := api.ValidateTokenRequest(&req); err != nil {
				return usageError{err}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			t, err := c.CreateToken(cmd.Context(), req)
			if err != nil {
				return explain(c, err)
			}
			return printCreatedToken(g, t)
		},
	}
	create.Flags().StringArrayVar(&perms, "permission", nil, "permission the token holds (repeatable)")
	create.Flags().StringVar(&slug, "slug", "", "bind the token to one service: it registers, changes and sees only that slug's instances")
	create.Flags().DurationVar(&ttl, "ttl", 0, "how long the token lasts (default: until removed)")
	create.Flags().StringVar(&desc, "description", "", "what the token is for")
	ls := &cobra.Command{
		Use: "ls", Short: "List tokens (never their secrets)", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.listClient()
			if err != nil {
				return err
			}
			list, err := c.Tokens(cmd.Context())
			if err != nil {
				return explain(c, err)
			}
			if g.output == "json" || g.output == "yaml" {
				return printStructured(g, list)
			}
			tw := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ACCESSOR\tSLUG\tEXPIRES\tPERMISSIONS\tDESCRIPTION")
			for _, t := range list {
				exp := ""
				if t.ExpiresAt != nil {
					exp = t.ExpiresAt.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", dash(t.AccessorID), dash(t.Slug), dash(exp), dash(strings.Join(t.Permissions, ",")), dash(t.Description))
			}
			return tw.Flush()
		},
	}
	rm := &cobra.Command{
		Use: "rm ACCESSOR", Short: "Remove a token: requests and writes in flight with it are refused", Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.DeleteToken(cmd.Context(), args[0]); err != nil {
				return explain(c, err)
			}
			fmt.Fprintf(g.out, "removed token %s\n", args[0])
			return nil
		},
	}
	self := &cobra.Command{
		Use: "self", Short: "Show the token this CLI sends", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			t, err := c.TokenSelf(cmd.Context())
			if err != nil {
				return explain(c, err)
			}
			return printStructured(g, t)
		},
	}
	cmd.AddCommand(create, ls, rm, self)
	return cmd
}

func printCreatedToken(g *globals, t *api.CreatedToken) error {
	if g.output == "json" || g.output == "yaml" {
		return printStructured(g, t)
	}
	fmt.Fprintf(g.out, "AccessorID:  %s\nSecretID:    %s\nPermissions: %s\n", t.AccessorID, t.SecretID, strings.Join(t.Permissions, ", "))
	if t.Slug != "" {
		fmt.Fprintf(g.out, "Slug:        %s\n", t.Slug)
	}
	if t.ExpiresAt != nil {
		fmt.Fprintf(g.out, "Expires:     %s\n", t.ExpiresAt.Format(time.RFC3339))
	}
	fmt.Fprintln(g.out, "\nThe secret is shown only now. Use it with: export ROSTER_TOKEN=<SecretID>")
	return nil
}

func permissionHelp() string {
	var b strings.Builder
	for _, p := range api.Permissions {
		fmt.Fprintf(&b, "  %-34s %s\n", p.Name, p.Allows)
	}
	return b.String()
}
