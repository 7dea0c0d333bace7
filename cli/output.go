package cli

import (
	"encoding/json"
	"fmt"

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
