package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/fsm"
	"github.com/rosterhq/roster/httpapi"
)

func newSnapshotCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Back up and restore the catalog (with tokens: registry-svc:operator)",
	}
	save := &cobra.Command{
		Use: "save FILE", Short: "Save the catalog, with every write acknowledged before the call, to FILE (mode 600)", Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			b, err := c.SaveSnapshot(cmd.Context())
			if err != nil {
				return explain(c, err)
			}
			h, state, err := httpapi.ParseBackup(b)
			if err != nil {
				return fmt.Errorf("the node's answer is not a whole snapshot: %w", err)
			}
			sum, err := fsm.CheckSnapshot(bytes.NewReader(state))
			if err != nil {
				return fmt.Errorf("the node's snapshot cannot be read: %w", err)
			}
			// Written whole, then renamed: FILE is never half a snapshot.
			tmp, err := os.CreateTemp(filepath.Dir(args[0]), ".roster-snapshot-*")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			if _, err := tmp.Write(b); err == nil {
				err = tmp.Sync()
			}
			if cerr := tmp.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = os.Rename(tmp.Name(), args[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(g.out, "Saved %s: index %d from %s, %d instances, %d definitions, %d tokens, %d bytes\n",
				args[0], h.Index, h.Node, sum.Instances, sum.Definitions, sum.Tokens, len(b))
			return nil
		},
	}
	inspect := &cobra.Command{
		Use: "inspect FILE", Short: "Check a snapshot file and print what it holds", Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := readBackup(args[0])
			if err != nil {
				return err
			}
			h, state, err := httpapi.ParseBackup(b)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			sum, err := fsm.CheckSnapshot(bytes.NewReader(state))
			if err != nil {
				return fmt.Errorf("%s: the catalog inside cannot be read: %w", args[0], err)
			}
			if g.output == "json" || g.output == "yaml" {
				return printStructured(g, map[string]any{"header": h, "content": sum})
			}
			fmt.Fprintf(g.out, "Snapshot:    version %d, checksum OK\nTaken:       %s from %s\nIndex:       %d (term %d)\nInstances:   %d\nDefinitions: %d\nTokens:      %d\n",
				h.Version, h.Time.Format(time.RFC3339), cell(h.Node), h.Index, h.Term, sum.Instances, sum.Definitions, sum.Tokens)
			return nil
		},
	}
	restore := &cobra.Command{
		Use: "restore FILE", Short: "Replace the catalog with a snapshot's, on every node, through Raft", Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := readBackup(args[0])
			if err != nil {
				return err
			}
			if _, _, err := httpapi.ParseBackup(b); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			out, err := c.RestoreSnapshot(cmd.Context(), b)
			if err != nil {
				return explain(c, err)
			}
			if g.output == "json" || g.output == "yaml" {
				return printStructured(g, out)
			}
			fmt.Fprintf(g.out, "Restored %s into the cluster: %s\n", args[0], out)
			return nil
		},
	}
	cmd.AddCommand(save, inspect, restore)
	return cmd
}

// readBackup reads a backup file no larger than a node takes one: a wrong
// file (a disk image) is refused before it is read into memory whole.
func readBackup(file string) ([]byte, error) { return readUpTo(file, httpapi.MaxBackupBytes) }

func readUpTo(file string, limit int) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tooLarge := fmt.Errorf("%s: larger than %d bytes, the most a node takes: not a Roster snapshot", file, limit)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > int64(limit) {
		return nil, tooLarge // known without reading it
	}
	b, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, tooLarge // a pipe or a file that grew
	}
	return b, nil
}
