package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi/client"
)

func newWatchCmd(g *globals) *cobra.Command {
	var slug, nodeURL string
	var index uint64
	cmd := &cobra.Command{
		Use:   "watch [instances|definitions|nodes ...]",
		Short: "Follow the catalog's changes, one line each (Ctrl-C stops)",
		Long: `Follow the change stream (GET /registry-svc/events) of the node: one line per change
(-o json: one JSON object per line). Without a kind it follows instances and
definitions. --index N starts after index N (a list's X-Registry-Index) and
misses nothing of the catalog after it; without it the stream starts now.
Nodes live in gossip, not in the catalog: following them starts with every
node's row, then a line each time one changes (liveness, role, resources),
each with the answering node's view version.`,
		Args: cobra.MaximumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.checkOutput("table", "wide", "json"); err != nil {
				return err
			}
			q := url.Values{}
			var kinds []string
			for _, a := range args {
				switch a {
				case "instances", "instance":
					kinds = append(kinds, api.EventInstance)
				case "definitions", "definition":
					kinds = append(kinds, api.EventDefinition)
				case "nodes", "node":
					kinds = append(kinds, client.EventNode)
				default:
					return usagef("watch %q: want instances, definitions or nodes", a)
				}
			}
			if len(kinds) > 0 {
				q.Set("kind", strings.Join(kinds, ","))
			}
			if slug != "" {
				q.Set("slug", slug)
			}
			if nodeURL != "" {
				q.Set("nodeUrl", nodeURL)
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			err = c.Events(cmd.Context(), index, q, func(e client.Event) error { return printEvent(g, e) })
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return explain(c, err)
		},
	}
	cmd.Flags().StringVar(&slug, "slug", "", "only this slug's instances")
	cmd.Flags().StringVar(&nodeURL, "node", "", "only instances and the node of this node URL")
	cmd.Flags().Uint64Var(&index, "index", 0, "start after this index (default: now)")
	return cmd
}

func printEvent(g *globals, e client.Event) error {
	if g.output == "json" {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(g.out, string(b))
		return err
	}
	detail := ""
	switch {
	case e.Instance != nil:
		detail = fmt.Sprintf("%s %s %s", dash(e.Instance.Slug), cell(e.Instance.URL), e.Instance.Status)
	case e.Definition != nil:
		detail = "definition"
	case e.Node != nil:
		n := e.Node
		detail = fmt.Sprintf("%s %s %s cpu %.0f%% mem %.0f%% gpus %d v%d", cell(n.URL), n.Status, n.Role,
			n.Usage.CPU.Percent, n.Usage.Memory.Percent, len(n.GPUs), e.Version)
	case e.Kind == client.EventNode:
		detail = fmt.Sprintf("v%d", e.Version)
	}
	_, err := fmt.Fprintf(g.out, "%d\t%s\t%s\t%s\t%s\n", e.Index, e.Op, e.Kind, cell(e.ID), detail)
	return err
}
