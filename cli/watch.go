package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/api"
)

func newWatchCmd(g *globals) *cobra.Command {
	var slug, nodeURL string
	var index uint64
	cmd := &cobra.Command{
		Use:   "watch [instances|definitions]",
		Short: "Follow the catalog's changes, one line each (Ctrl-C stops)",
		Long: `Follow the change stream (GET /registry-svc/events) of the node: one line per change
(-o json: one JSON object per line). --index N starts after index N (a list's
X-Registry-Index) and misses nothing after it; without it the stream starts now.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.checkOutput("table", "wide", "json"); err != nil {
				return err
			}
			q := url.Values{}
			if len(args) == 1 {
				switch args[0] {
				case "instances", "instance":
					q.Set("kind", api.EventInstance)
				case "definitions", "definition":
					q.Set("kind", api.EventDefinition)
				default:
					return usagef("watch %q: want instances or definitions", args[0])
				}
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
			err = c.Events(cmd.Context(), index, q, func(e api.Event) error { return printEvent(g, e) })
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return explain(c, err)
		},
	}
	cmd.Flags().StringVar(&slug, "slug", "", "only this slug's instances")
	cmd.Flags().StringVar(&nodeURL, "node", "", "only instances of this node URL")
	cmd.Flags().Uint64Var(&index, "index", 0, "start after this index (default: now)")
	return cmd
}

func printEvent(g *globals, e api.Event) error {
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
	}
	_, err := fmt.Fprintf(g.out, "%d\t%s\t%s\t%s\t%s\n", e.Index, e.Op, e.Kind, cell(e.ID), detail)
	return err
}
