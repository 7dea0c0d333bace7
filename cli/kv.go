package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi/client"
)

func newKVCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kv",
		Short: "Read and write the replicated key-value tree (keys like demi/lab42/felix/api/url)",
	}
	var cas int64
	casOf := func(c *cobra.Command) *uint64 {
		if !c.Flags().Changed("cas") {
			return nil
		}
		v := uint64(cas)
		return &v
	}
	get := &cobra.Command{
		Use:   "get KEY",
		Short: "Print a key's value (-o json: the entry, value in base64)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.checkOutput("table", "json", "yaml"); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			e, _, err := c.KVGet(cmd.Context(), args[0], client.ListOptions{})
			if err != nil {
				return explain(c, err)
			}
			if g.output != "table" {
				return printStructured(g, e)
			}
			_, err = g.out.Write(e.Value)
			if err == nil && (len(e.Value) == 0 || e.Value[len(e.Value)-1] != '\n') {
				_, err = fmt.Fprintln(g.out)
			}
			return err
		},
	}
	put := &cobra.Command{
		Use:   "put KEY VALUE|-",
		Short: "Set a key (- reads the value from standard input); --cas N only at modify index N, 0 only creates",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			value := []byte(args[1])
			if args[1] == "-" {
				var err error
				if value, err = io.ReadAll(io.LimitReader(os.Stdin, api.MaxKVValueLen+1)); err != nil {
					return err
				}
				if len(value) > api.MaxKVValueLen {
					// Only the limit and a byte were read: say so, not their length.
					return fmt.Errorf("value: standard input holds more than %d bytes, the limit", api.MaxKVValueLen)
				}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			e, err := c.KVPut(cmd.Context(), args[0], value, casOf(cmd))
			if err != nil {
				return explain(c, err)
			}
			fmt.Fprintf(g.out, "Set %s (%d bytes, modify index %d)\n", e.Key, len(e.Value), e.ModifyIndex)
			return nil
		},
	}
	put.Flags().Int64Var(&cas, "cas", 0, "only if the key is at this modify index (0: only if absent)")
	var recurse bool
	del := &cobra.Command{
		Use:     "delete KEY",
		Aliases: []string{"rm"},
		Short:   "Remove a key, or with --recurse every key under a prefix",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			n, err := c.KVDelete(cmd.Context(), args[0], recurse, casOf(cmd))
			if err != nil {
				return explain(c, err)
			}
			fmt.Fprintf(g.out, "Removed %d key(s)\n", n)
			return nil
		},
	}
	del.Flags().BoolVar(&recurse, "recurse", false, "every key under the prefix KEY")
	del.Flags().Int64Var(&cas, "cas", 0, "only if the key is at this modify index")
	ls := &cobra.Command{
		Use:     "ls [PREFIX]",
		Aliases: []string{"list"},
		Short:   "List the keys under a prefix (-o json: the entries)",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.listClient()
			if err != nil {
				return err
			}
			prefix := ""
			if len(args) == 1 {
				prefix = args[0]
			}
			if g.output != "table" {
				list, _, err := c.KVList(cmd.Context(), prefix, client.ListOptions{})
				if err != nil {
					return explain(c, err)
				}
				if g.output != "wide" {
					return printStructured(g, list)
				}
				for _, e := range list {
					fmt.Fprintf(g.out, "%s\t%s\n", e.Key, cell(string(e.Value)))
				}
				return nil
			}
			keys, _, err := c.KVKeys(cmd.Context(), prefix, client.ListOptions{})
			if err != nil {
				return explain(c, err)
			}
			for _, k := range keys {
				fmt.Fprintln(g.out, k)
			}
			return nil
		},
	}
	cmd.AddCommand(get, put, del, ls)
	return cmd
}
