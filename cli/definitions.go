package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/fsm"
	"github.com/rosterhq/roster/httpapi/client"
)

func newDefinitionsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "definitions", Aliases: []string{"definition", "def"}, Short: "List, save and remove service definitions"}
	ls := &cobra.Command{
		Use: "list", Aliases: []string{"ls"}, Short: "List definitions", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.listClient()
			if err != nil {
				return err
			}
			list, _, err := c.ListDefinitions(cmd.Context(), client.ListOptions{})
			if err != nil {
				return explain(c, err)
			}
			if g.output == "json" || g.output == "yaml" {
				return printStructured(g, map[string]any{"definitions": list})
			}
			printDefinitions(g, list)
			return nil
		},
	}
	save := &cobra.Command{
		Use: "save FILE|DIR...", Aliases: []string{"s"}, Short: "Save definitions from YAML or JSON files", Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			files, err := expandFiles(args)
			if err != nil {
				return err
			}
			failed := 0
			for _, file := range files {
				defs, err := loadDefinitions(file)
				if err != nil {
					fmt.Fprintf(g.errOut, "%v\n", err)
					failed++
					continue
				}
				for _, d := range defs {
					if _, err := c.SaveDefinition(cmd.Context(), d); err != nil {
						fmt.Fprintf(g.errOut, "%s: definition %q: %v\n", file, d.ID, explain(c, err))
						failed++
						continue
					}
					fmt.Fprintf(g.out, "Saved definition %s (%s)\n", d.ID, file)
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d definition(s) or file(s) failed", failed)
			}
			return nil
		},
	}
	rm := &cobra.Command{
		Use: "remove ID...", Aliases: []string{"rm"}, Short: "Remove definitions by ID", Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			return removeEach(g, args, "definition", func(id string) error { return c.DeleteDefinition(cmd.Context(), id) }, c)
		},
	}
	cmd.AddCommand(ls, save, rm)
	return cmd
}

// expandFiles turns directories into their .yaml, .yml and .json files.
func expandFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		entries, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		var names []string
		for _, e := range entries {
			switch strings.ToLower(filepath.Ext(e.Name())) {
			case ".yaml", ".yml", ".json":
				names = append(names, filepath.Join(a, e.Name()))
			}
		}
		sort.Strings(names)
		out = append(out, names...)
	}
	return out, nil
}

// decodeYAML is dec.Decode that turns a panic of the YAML library into an
// error: go-yaml v1.19.2 dereferences nil on a tag before a scalar where a
// list belongs (`internalPorts: !000`, goccy/go-yaml#735, fixed after
// that release), and a mistyped file must get an answer, not a crash.
func decodeYAML(dec *yaml.Decoder, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the YAML parser failed on this input (%v); check the tags (!...) and the types of the values", r)
		}
	}()
	return dec.Decode(v)
}

// loadDefinitions parses every document of a YAML or JSON file strictly:
// an unknown or mistyped key fails the whole file with its line, so nothing
// is saved from a file with a mistake in it.
func loadDefinitions(file string) ([]*api.Definition, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw), yaml.DisallowUnknownField(), yaml.Strict())
	var out []*api.Definition
	for doc := 1; ; doc++ {
		var d api.Definition
		err := decodeYAML(dec, &d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %s", file, yaml.FormatError(err, false, true))
		}
		if err := fsm.ValidateNewDefinition(&d); err != nil {
			return nil, fmt.Errorf("%s: document %d: %v", file, doc, err)
		}
		out = append(out, &d)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no definition in the file", file)
	}
	return out, nil
}

func printDefinitions(g *globals, list []*api.Definition) {
	w := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tIMAGE NAME\tREPO URL\tREPO BUILD CONTEXT\tREPO CONTAINER FILE\tINTERNAL PORTS")
	for _, d := range list {
		var image, repo, ctx, file string
		var ports []uint16
		if d.Image != nil {
			image, ports = d.Image.Name, d.Image.InternalPorts
		}
		if d.Repository != nil {
			repo, ctx, file, ports = d.Repository.URL, d.Repository.BuildContext, d.Repository.ContainerFile, d.Repository.InternalPorts
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, dash(image), dash(repo), dash(ctx), dash(file), dash(joinPorts(ports)))
	}
	w.Flush()
}

func joinPorts(ports []uint16) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ",")
}
