package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi/client"
)

func newInstancesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "instances", Aliases: []string{"instance", "i"}, Short: "List and remove service instances"}
	var f api.InstanceFilter
	ls := &cobra.Command{
		Use: "list", Aliases: []string{"ls"}, Short: "List instances", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.listClient()
			if err != nil {
				return err
			}
			list, _, err := c.ListInstances(cmd.Context(), f, client.ListOptions{})
			if err != nil {
				return explain(c, err)
			}
			if g.output == "json" || g.output == "yaml" {
				return printStructured(g, map[string]any{"instances": list})
			}
			printInstances(g, list)
			return nil
		},
	}
	rm := &cobra.Command{
		Use: "remove ID...", Aliases: []string{"rm"}, Short: "Remove instances by ID", Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			return removeEach(g, args, "instance", func(id string) error { return c.DeleteInstance(cmd.Context(), id) }, c)
		},
	}
	watch := &cobra.Command{
		Use: "watch", Short: "Print the instances, then again each time they change (Ctrl-C stops)", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.listClient()
			if err != nil {
				return err
			}
			return watchInstances(cmd.Context(), g, c, f)
		},
	}
	for _, fs := range []*pflag.FlagSet{ls.Flags(), watch.Flags()} {
		fs.StringVar(&f.ID, "id", "", "only the instance with this ID")
		fs.StringVar(&f.Slug, "slug", "", "only instances of this slug")
		fs.StringVar(&f.Status, "status", "", "only instances with this status")
		fs.StringArrayVar(&f.Tags, "tag", nil, "only instances with this tag (repeatable: every tag must match)")
		fs.StringVar(&f.NodeURL, "node-url", "", "only instances on this node")
		fs.StringVar(&f.DeploymentID, "deployment-id", "", "only instances of this deployment")
		fs.StringVar(&f.Host, "host", "", "only instances on this host (a name, or an IP)")
		fs.StringVar(&f.IP, "ip", "", "only instances at this IP")
		fs.StringVar(&f.Path, "path", "", "only instances with this URL path")
		fs.StringVar(&f.Scheme, "scheme", "", "only instances with this URL scheme")
		fs.Var(metaFlag{&f.Meta}, "meta", "only instances with this meta pair (repeatable: every pair must match; also --meta.KEY=VALUE)")
	}
	cmd.AddCommand(ls, rm, watch, newRegisterCmd(g), newHeartbeatCmd(g), newSetStatusCmd(g))
	return cmd
}

func newHeartbeatCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "heartbeat ID", Short: "Tell the cluster a ttl-checked instance is alive", Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			for _, id := range args {
				a, err := c.Heartbeat(cmd.Context(), id)
				if err != nil {
					return explain(c, err)
				}
				fmt.Fprintf(g.out, "Heartbeat for %s taken by %s (ttl %s)\n", id, a.CheckedBy, a.TTL)
			}
			return nil
		},
	}
}

func newSetStatusCmd(g *globals) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "set-status ID STATUS",
		Short: "Set an instance's status (Unknown, Starting, Healthy, Unhealthy or Stopping)",
		Long: `Set an instance's status, as whoever runs it. Instances with a "none" check keep it;
a checked instance's next evidence may change it again, except Stopping, which checks leave alone.`,
		Args: minArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usagef("want ID and STATUS, got %d arguments", len(args))
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			in, err := c.SetInstanceStatus(cmd.Context(), args[0], api.Status(args[1]), reason)
			if err != nil {
				return explain(c, err)
			}
			fmt.Fprintf(g.out, "Instance %s is %s\n", in.ID, in.Status)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (stored as statusReason)")
	return cmd
}

// checkText is a short description of an instance's check for tables.
func checkText(c *api.Check) string {
	switch {
	case c == nil:
		return "-"
	case c.Type == api.CheckTTL:
		return "ttl " + c.TTL.D().String()
	case c.Type == api.CheckHTTP:
		return "http " + c.Path + " every " + c.Interval.D().String()
	case c.Type == api.CheckTCP:
		return "tcp every " + c.Interval.D().String()
	}
	return string(c.Type)
}

// watchInstances long-polls the list (a blocking query on the index) and
// prints it whenever it changes. A node that goes away is retried.
func watchInstances(ctx context.Context, g *globals, c *client.Client, f api.InstanceFilter) error {
	var index uint64
	for {
		list, meta, err := c.ListInstances(ctx, f, client.ListOptions{Index: index, Wait: 5 * time.Minute})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			fmt.Fprintf(g.errOut, "%v; retrying in 2s\n", explain(c, err))
			index = 0
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(2 * time.Second):
			}
			continue
		}
		if meta.Index == index {
			continue // the wait ended without a change
		}
		index = meta.Index
		if g.output == "json" || g.output == "yaml" {
			if err := printStructured(g, map[string]any{"index": index, "instances": list}); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(g.out, "--- %s  index %d  %d instance(s)\n", time.Now().Format(time.TimeOnly), index, len(list))
		printInstances(g, list)
	}
}

// removeEach removes every ID, reporting each, and fails if any failed.
func removeEach(g *globals, ids []string, what string, del func(string) error, c *client.Client) error {
	failed := 0
	for _, id := range ids {
		if err := del(id); err != nil {
			if msg := explain(c, err).Error(); strings.Contains(msg, id) {
				fmt.Fprintln(g.errOut, msg) // the server's message names it already
			} else {
				fmt.Fprintf(g.errOut, "%s %s: %s\n", what, id, msg)
			}
			failed++
			continue
		}
		fmt.Fprintf(g.out, "Removed %s %s\n", what, id)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d %ss not removed", failed, len(ids), what)
	}
	return nil
}

func printInstances(g *globals, list []*api.Instance) {
	w := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
	if g.output == "wide" {
		fmt.Fprintln(w, "INSTANCE ID\tURL\tSTATUS\tSLUG\tNODE\tTAGS\tDEPLOYMENT\tLAST HEARTBEAT\tCHECK\tWHY\tMETA")
	} else {
		fmt.Fprintln(w, "INSTANCE ID\tURL\tSTATUS\tSLUG\tNODE\tLAST HEARTBEAT")
	}
	for _, in := range list {
		if g.output == "wide" {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%v\t%s\t%s\t%s\t%s\t%s\n", in.ID, in.URL, in.Status, dash(in.Slug), dash(in.NodeURL),
				dash(strings.Join(in.Tags, ",")), dash(in.DeploymentID), ago(in.LastHeartbeat), checkText(in.Check), dash(in.StatusReason),
				dash(metaFlag{&in.Meta}.String()))
		} else {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", in.ID, in.URL, in.Status, dash(in.Slug), dash(in.NodeURL), ago(in.LastHeartbeat))
		}
	}
	w.Flush()
}
