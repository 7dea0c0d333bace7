package cli

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/goccy/go-yaml"
)

// printStructured prints v as indented JSON or YAML per --output.
func printStructured(g *globals, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if g.output == "yaml" {
		if b, err = yaml.JSONToYAML(b); err != nil {
			return err
		}
		_, err = g.out.Write(b)
		return err
	}
	_, err = fmt.Fprintln(g.out, string(b))
	return err
}

// cell makes a string from a peer safe for one table cell: control
// characters (a newline would split the row, a tab shift its columns) are
// written as Go escapes.
func cell(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}
