package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi/client"
)

func newServicesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "services", Aliases: []string{"service", "svc"}, Short: "The catalog by slug"}
	var consistent bool
	ls := &cobra.Command{
		Use: "list", Aliases: []string{"ls"}, Short: "One row per slug: instances by status, tags and nodes", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.listClient()
			if err != nil {
				return err
			}
			list, _, err := c.ListServices(cmd.Context(), client.ListOptions{Consistent: consistent})
			if err != nil {
				return explain(c, err)
			}
			if g.output == "json" || g.output == "yaml" {
				return printStructured(g, map[string]any{"services": list})
			}
			printServices(g, list)
			return nil
		},
	}
	ls.Flags().BoolVar(&consistent, "consistent", false, "linearizable read (a read index from the leader)")
	cmd.AddCommand(ls)
	return cmd
}

func printServices(g *globals, list []*api.Service) {
	w := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SLUG\tINSTANCES\tHEALTHY\tUNHEALTHY\tUNKNOWN\tSTARTING\tSTOPPING\tTAGS\tNODES")
	for _, s := range list {
		b := s.ByStatus
		nodes := dash(strings.Join(s.Nodes, ","))
		if g.output != "wide" && len(s.Nodes) > 2 {
			nodes = fmt.Sprintf("%d nodes", len(s.Nodes))
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", dash(s.Slug), s.Instances, b[api.StatusHealthy], b[api.StatusUnhealthy],
			b[api.StatusUnknown], b[api.StatusStarting], b[api.StatusStopping], dash(strings.Join(s.Tags, ",")), nodes)
	}
	w.Flush()
}
