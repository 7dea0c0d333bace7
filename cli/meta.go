package cli

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// metaFlag is a repeatable --meta KEY=VALUE that fills a map. Run also
// takes the --meta.KEY=VALUE form for every command with a --meta flag
// (see metaArgs).
type metaFlag struct{ m *map[string]string }

func (f metaFlag) String() string {
	if f.m == nil || *f.m == nil {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(*f.m)) {
		parts = append(parts, k+"="+(*f.m)[k])
	}
	return strings.Join(parts, ",")
}

func (f metaFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want KEY=VALUE", v)
	}
	if *f.m == nil {
		*f.m = map[string]string{}
	}
	(*f.m)[k] = val
	return nil
}

func (f metaFlag) Type() string { return "KEY=VALUE" }

// metaArgs rewrites --meta.KEY=VALUE to --meta=KEY=VALUE when the command
// args name has a --meta flag (raw commands build nested bodies from such
// args themselves and are left alone).
func metaArgs(root *cobra.Command, args []string) []string {
	cmd, _, err := root.Find(args)
	if err != nil || cmd.DisableFlagParsing || cmd.Flags().Lookup("meta") == nil {
		return args
	}
	out := slices.Clone(args)
	for i, a := range out {
		if rest, ok := strings.CutPrefix(a, "--meta."); ok && strings.Contains(rest, "=") {
			out[i] = "--meta=" + rest
		}
	}
	return out
}
