package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/httpapi/client"
)

func newRawCmd(g *globals, method string) *cobra.Command {
	upper := strings.ToUpper(method)
	return &cobra.Command{
		Use:   method + " PATH [--key=value ...]",
		Short: "Send a raw " + upper + " to the API and print the JSON answer",
		Long: `Send a raw ` + upper + `. For put and post, --key=value pairs build the JSON body:
--a.b=v nests, numbers and true/false are typed, JSON literals are parsed
(--tags='["dev","x"]' is an array), and a repeated key makes an array.
For get and delete they are added to the query string.`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, a := range args {
				if a == "-h" || a == "--help" {
					return cmd.Help()
				}
			}
			path, kvs, err := splitRawArgs(g, args)
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			var body any
			if method == "put" || method == "post" {
				obj, err := buildBody(kvs)
				if err != nil {
					return err
				}
				body = obj
			} else if len(kvs) > 0 {
				q := url.Values{}
				for _, kv := range kvs {
					q.Add(kv[0], kv[1])
				}
				sep := "?"
				if strings.Contains(path, "?") {
					sep = "&"
				}
				path += sep + q.Encode()
			}
			var out json.RawMessage
			if _, err := c.Do(cmd.Context(), strings.ToUpper(method), path, body, &out); err != nil {
				if ae, ok := err.(*client.APIError); ok {
					return fmt.Errorf("HTTP %d: %s", ae.Status, ae.Body.Error)
				}
				return explain(c, err)
			}
			if len(out) == 0 {
				return nil
			}
			var pretty bytes.Buffer
			if json.Indent(&pretty, out, "", "  ") != nil {
				pretty.Reset()
				pretty.Write(out)
			}
			fmt.Fprintln(g.out, pretty.String())
			return nil
		},
	}
}

// splitRawArgs separates the path from --key=value pairs; --addr and
// --output are taken as the global flags they are elsewhere.
func splitRawArgs(g *globals, args []string) (string, [][2]string, error) {
	var parts []string
	var kvs [][2]string
	for i := 0; i < len(args); i++ {
		a := args[i]
		// The global flags keep their usual forms here: --addr URL,
		// --addr=URL, -o json, -ojson, --output=json.
		switch {
		case a == "--addr" || a == "--output" || a == "-o":
			if i+1 == len(args) {
				return "", nil, usagef("%s needs a value", a)
			}
			i++
			setGlobal(g, strings.TrimLeft(a, "-"), args[i])
			continue
		case strings.HasPrefix(a, "-o") && !strings.HasPrefix(a, "--"):
			setGlobal(g, "o", strings.TrimPrefix(strings.TrimPrefix(a, "-o"), "="))
			continue
		case !strings.HasPrefix(a, "--"):
			parts = append(parts, strings.Trim(a, "/"))
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok || k == "" {
			return "", nil, usagef("%q: write flags as --key=value", a)
		}
		if k == "addr" || k == "output" {
			setGlobal(g, k, v)
			continue
		}
		kvs = append(kvs, [2]string{k, v})
	}
	if len(parts) == 0 {
		return "", nil, usagef("a path is required, like /registry-svc/instances")
	}
	return "/" + strings.Join(parts, "/"), kvs, nil
}

func setGlobal(g *globals, name, v string) {
	if name == "addr" {
		g.addr = v
	} else {
		g.output = v
	}
}

// buildBody turns --key=value pairs into a JSON object. A key given more
// than once collects its values into an array.
func buildBody(kvs [][2]string) (map[string]any, error) {
	root := map[string]any{}
	repeated := map[string][]any{} // full key -> values, for keys seen twice
	for _, kv := range kvs {
		keys := strings.Split(kv[0], ".")
		m := root
		for _, k := range keys[:len(keys)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				if _, exists := m[k]; exists {
					return nil, usagef("--%s: %q is already a value, it cannot also hold keys", kv[0], k)
				}
				next = map[string]any{}
				m[k] = next
			}
			m = next
		}
		last := keys[len(keys)-1]
		v, err := typedValue(kv[1])
		if err != nil {
			return nil, usagef("--%s: %v", kv[0], err)
		}
		old, exists := m[last]
		switch {
		case !exists:
			m[last] = v
		case repeated[kv[0]] != nil:
			repeated[kv[0]] = append(repeated[kv[0]], v)
			m[last] = repeated[kv[0]]
		default:
			repeated[kv[0]] = []any{old, v}
			m[last] = repeated[kv[0]]
		}
	}
	listFields(root)
	return root, nil
}

// listKeys are fields the API only takes as lists: a single value given on
// the command line (--tags=solo) is a one-element list.
var listKeys = map[string]bool{"tags": true}

func listFields(m map[string]any) {
	for k, v := range m {
		switch x := v.(type) {
		case map[string]any:
			listFields(x)
		case []any:
		default:
			if listKeys[k] {
				m[k] = []any{v}
			}
		}
	}
}

// typedValue parses JSON literals, integers, floats and booleans; anything
// else is a string.
func typedValue(s string) (any, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
		var v any
		if err := json.Unmarshal([]byte(t), &v); err != nil {
			return nil, fmt.Errorf("looks like JSON but is not: %v", err)
		}
		return v, nil
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && strings.ContainsAny(s, ".eE") {
		return f, nil
	}
	if b, err := strconv.ParseBool(s); err == nil && (s == "true" || s == "false") {
		return b, nil
	}
	return s, nil
}
