package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/gossip/resource"
	"github.com/rosterhq/roster/httpapi/client"
)

func newNodesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "nodes", Aliases: []string{"node", "n"}, Short: "List and remove cluster nodes"}
	var (
		f       client.ListNodesRequest
		gpu     bool
		minFree int
	)
	ls := &cobra.Command{
		Use: "list", Aliases: []string{"ls"}, Short: "List nodes with liveness, role and resource use", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.listClient()
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("gpu") {
				f.HasGPU = &gpu
			}
			if cmd.Flags().Changed("min-free-gpu-mib") {
				f.MinFreeGPUMemoryMiB = &minFree
			}
			list, err := c.ListNodes(cmd.Context(), f)
			if err != nil {
				return explain(c, err)
			}
			if g.output == "json" || g.output == "yaml" {
				return printStructured(g, map[string]any{"nodes": list})
			}
			printNodes(g, list)
			return nil
		},
	}
	ls.Flags().StringVar(&f.Region, "region", "", "only nodes in this region")
	ls.Flags().StringVar(&f.AvailabilityZone, "availability-zone", "", "only nodes in this availability zone")
	ls.Flags().BoolVar(&gpu, "gpu", false, "only nodes with GPUs (--gpu=false: only nodes without)")
	ls.Flags().IntVar(&minFree, "min-free-gpu-mib", 0, "only nodes with a GPU that has this much memory free (MiB)")
	var force bool
	rm := &cobra.Command{
		Use: "remove URL...", Aliases: []string{"rm"}, Short: "Remove dead or departed nodes (by URL or ID)", Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			return removeEach(g, args, "node", func(u string) error { return c.DeleteNode(cmd.Context(), u, force) }, c)
		},
	}
	rm.Flags().BoolVar(&force, "force", false, "also remove a live node: it is asked to leave the cluster and its agent stops")
	cmd.AddCommand(ls, rm)
	return cmd
}

func printNodes(g *globals, list []resource.Node) {
	w := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
	head := "NODE ID\tURL\tSTATUS\tROLE\tREGION\tAZ\tCPU%\tMEM%\tGPUS\tLAST HEARTBEAT"
	if g.output == "wide" {
		head += "\tDISK%\tGPU MEM FREE (MiB)\tVERSION"
	}
	fmt.Fprintln(w, head)
	for _, n := range list {
		var hb time.Time
		if n.LastHeartbeat != nil {
			hb = *n.LastHeartbeat
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%.1f\t%d\t%s", n.ID, n.URL, n.Status, n.Role, dash(n.Region),
			dash(n.AvailabilityZone), n.Usage.CPU.Percent, n.Usage.Memory.Percent, len(n.GPUs), ago(hb))
		if g.output == "wide" {
			free := "-"
			for i, gpu := range n.GPUs {
				if i == 0 {
					free = ""
				} else {
					free += ","
				}
				free += fmt.Sprintf("%d/%d", gpu.FreeMemoryMiB(), gpu.MemoryTotal)
			}
			fmt.Fprintf(w, "\t%.1f\t%s\t%s", n.Usage.Disk.Percent, free, dash(n.Version))
		}
		fmt.Fprintln(w)
	}
	w.Flush()
}
