package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/fsm"
	"github.com/rosterhq/roster/httpapi/client"
)

func newInstancesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "instances", Aliases: []string{"instance", "i"}, Short: "List and remove service instances"}
	var f fsm.InstanceFilter
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
	ls.Flags().StringVar(&f.Slug, "slug", "", "only instances of this slug")
	ls.Flags().StringVar(&f.Status, "status", "", "only instances with this status")
	ls.Flags().StringVar(&f.Tag, "tag", "", "only instances with this tag")
	ls.Flags().StringVar(&f.NodeURL, "node-url", "", "only instances on this node")
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
	cmd.AddCommand(ls, rm)
	return cmd
}

// removeEach removes every ID, reporting each, and fails if any failed.
func removeEach(g *globals, ids []string, what string, del func(string) error, c *client.Client) error {
	failed := 0
	for _, id := range ids {
		if err := del(id); err != nil {
			fmt.Fprintf(g.errOut, "%s %s: %v\n", what, id, explain(c, err))
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

func printInstances(g *globals, list []*fsm.Instance) {
	w := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
	if g.output == "wide" {
		fmt.Fprintln(w, "INSTANCE ID\tURL\tSTATUS\tSLUG\tNODE\tTAGS\tDEPLOYMENT\tLAST HEARTBEAT")
	} else {
		fmt.Fprintln(w, "INSTANCE ID\tURL\tSTATUS\tSLUG\tNODE\tLAST HEARTBEAT")
	}
	for _, in := range list {
		if g.output == "wide" {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%v\t%s\t%s\n", in.ID, in.URL, in.Status, dash(in.Slug), dash(in.NodeURL), in.Tags, dash(in.DeploymentID), ago(in.LastHeartbeat))
		} else {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", in.ID, in.URL, in.Status, dash(in.Slug), dash(in.NodeURL), ago(in.LastHeartbeat))
		}
	}
	w.Flush()
}
