package cli

import (
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/api"
)

func newRegistratorCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registrator",
		Short: "The Docker registrator of the node (roster agent --docker)",
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Per container of the node: the services registered from its labels, or why not",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.checkOutput("table", "json", "yaml"); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			var st api.RegistratorStatus
			if _, err := c.Do(cmd.Context(), http.MethodGet, "/registry-svc/registrator", nil, &st); err != nil {
				return explain(c, err)
			}
			if g.output != "table" {
				return printStructured(g, st)
			}
			if !st.Enabled {
				fmt.Fprintf(g.out, "%s runs no registrator (start it with roster agent --docker)\n", c.Base())
				return nil
			}
			state := "following the engine's events"
			if !st.Connected {
				state = "NOT connected to the engine: " + dash(st.LastError)
			}
			fmt.Fprintf(g.out, "Namespace %s, %s, last full sync %s\n", st.Namespace, state, ago(st.LastSync))
			w := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "CONTAINER\tSERVICE\tINSTANCE\tURL / ERROR")
			for _, ct := range st.Containers {
				name := cell(ct.Name)
				if ct.Paused {
					name += " (paused)"
				}
				for _, s := range ct.Services {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", name, s.Slug, s.InstanceID, cell(s.URL))
				}
				for slug, e := range ct.Errors {
					fmt.Fprintf(w, "%s\t%s\t-\tnot registered: %s\n", name, cell(slug), cell(strings.TrimSpace(e)))
				}
			}
			return w.Flush()
		},
	}
	cmd.AddCommand(status)
	return cmd
}
