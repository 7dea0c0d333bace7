package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi"
	"github.com/rosterhq/roster/httpapi/client"
)

// registerFlags are `roster instances register`'s flags for one instance.
type registerFlags struct {
	req      client.RegisterRequest
	status   string
	check    string
	path     string
	interval time.Duration
	ttl      time.Duration
	files    []string
}

func newRegisterCmd(g *globals) *cobra.Command {
	f := &registerFlags{}
	cmd := &cobra.Command{
		Use:   "register (--url URL [--slug S ...] | -f FILE...)",
		Short: "Register (upsert by URL) an instance from flags, or instances from YAML/JSON files",
		Long: `Register one instance from flags, or every instance of YAML or JSON files (-f,
repeatable; a document is one instance or a list of them, with the API's field
names: url, slug, tags, check, ...). A file is checked whole before anything is
sent: a mistake names the file, the line and the field, and registers nothing.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reqs, err := f.requests(cmd)
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			for _, r := range reqs {
				in, err := c.RegisterInstance(cmd.Context(), r)
				if err != nil {
					return explain(c, fmt.Errorf("%s: %w", r.URL, err))
				}
				fmt.Fprintf(g.out, "Registered %s %s (slug %s, %s)\n", in.ID, in.URL, dash(in.Slug), in.Status)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.req.URL, "url", "", "the instance's URL, e.g. http://10.0.0.5:8080")
	fl.StringVar(&f.req.Slug, "slug", "", "the service the instance belongs to")
	fl.StringVar(&f.req.ID, "id", "", "instance ID (default: chosen by the cluster; a re-registration of the URL keeps it)")
	fl.StringVar(&f.req.DeploymentID, "deployment-id", "", "deployment ID")
	fl.StringVar(&f.req.NodeURL, "node-url", "", "URL of the node that runs it (default: the node that takes the request)")
	fl.StringArrayVar(&f.req.Tags, "tag", nil, "a tag (repeatable)")
	fl.Var(metaFlag{&f.req.Meta}, "meta", "a meta pair (repeatable; also --meta.KEY=VALUE)")
	fl.StringVar(&f.status, "status", "", "initial status: Unknown, Starting, Healthy, Unhealthy or Stopping")
	fl.StringVar(&f.check, "check", "", "how the cluster checks it: http, tcp, ttl or none (default: tcp when the URL names a port, else http)")
	fl.StringVar(&f.path, "check-path", "", "path of an http check, e.g. /health")
	fl.DurationVar(&f.interval, "check-interval", 0, "check interval (default 10s)")
	fl.DurationVar(&f.ttl, "check-ttl", 0, "how long a ttl instance may go without a heartbeat")
	fl.StringArrayVarP(&f.files, "file", "f", nil, "YAML or JSON file of instances (repeatable; a directory takes its .yaml/.yml/.json files)")
	return cmd
}

// requests builds the registrations from the flags or the files, every one
// checked before any is sent.
func (f *registerFlags) requests(cmd *cobra.Command) ([]client.RegisterRequest, error) {
	if len(f.files) > 0 {
		for _, name := range []string{"url", "slug", "id", "deployment-id", "node-url", "tag", "meta", "status", "check", "check-path", "check-interval", "check-ttl"} {
			if cmd.Flags().Changed(name) {
				return nil, usagef("--%s and -f do not mix: a file says everything about its instances", name)
			}
		}
		files, err := expandFiles(f.files)
		if err != nil {
			return nil, err
		}
		var out []client.RegisterRequest
		for _, file := range files {
			reqs, err := loadRegistrations(file)
			if err != nil {
				return nil, err
			}
			out = append(out, reqs...)
		}
		return out, nil
	}
	if f.req.URL == "" {
		return nil, usagef("--url (or -f FILE) is required")
	}
	r := f.req
	r.Status = api.Status(f.status)
	if f.check != "" || f.path != "" || f.interval != 0 || f.ttl != 0 {
		if f.check == "" {
			return nil, usagef("--check: give the check's type (http, tcp, ttl or none) with --check-path/--check-interval/--check-ttl")
		}
		r.Check = &api.Check{Type: api.CheckType(f.check), Path: f.path, Interval: api.Duration(f.interval), TTL: api.Duration(f.ttl)}
	}
	if err := httpapi.CheckRegistration(r); err != nil {
		return nil, usagef("%v", err)
	}
	return []client.RegisterRequest{r}, nil
}

// loadRegistrations reads every document of a file strictly (unknown or
// mistyped keys fail with their line) and checks each instance as a node
// would.
func loadRegistrations(file string) ([]client.RegisterRequest, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	parsed, err := parser.ParseBytes(raw, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", file, yaml.FormatError(err, false, true))
	}
	var out []client.RegisterRequest
	for d, doc := range parsed.Docs {
		if doc.Body == nil {
			continue
		}
		nodes := []ast.Node{doc.Body}
		if seq, ok := doc.Body.(*ast.SequenceNode); ok {
			nodes = seq.Values
		}
		for k, n := range nodes {
			var r client.RegisterRequest
			if err := yaml.NodeToValue(n, &r, yaml.DisallowUnknownField(), yaml.Strict(), yaml.UseJSONUnmarshaler()); err != nil {
				return nil, fmt.Errorf("%s: %s", file, yaml.FormatError(err, false, true))
			}
			if err := httpapi.CheckRegistration(r); err != nil {
				where := fmt.Sprintf("document %d", d+1)
				if len(nodes) > 1 {
					where += fmt.Sprintf(", instance %d", k+1)
				}
				return nil, fmt.Errorf("%s: %s (line %d): %v", file, where, n.GetToken().Position.Line, err)
			}
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no instance in the file", file)
	}
	return out, nil
}
