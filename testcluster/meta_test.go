package testcluster

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi/client"
)

// Instances carry meta: set at registration (through a follower), kept by
// a re-registration without it, replaced by one with it, filtered on with
// ?meta.KEY=VALUE; a bad key is a 400 naming it; the CLI's
// --meta.KEY=VALUE sets and filters, and -o wide shows it.
func TestInstanceMetaIsStoredFilteredAndValidated(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3})
	f := follower(c)
	base := c.Member(f).URL
	ctx := t.Context()
	in := registerChecked(t, c, f, client.RegisterRequest{URL: "http://10.8.0.1:80", Slug: "m",
		Meta: map[string]string{"version": "1.2", "demi.site": "lab42"}})
	if in.Meta["version"] != "1.2" || in.Meta["demi.site"] != "lab42" {
		t.Fatalf("stored meta %v", in.Meta)
	}
	registerChecked(t, c, f, client.RegisterRequest{URL: "http://10.8.0.2:80", Slug: "m", Meta: map[string]string{"version": "2"}})
	again := registerChecked(t, c, f, client.RegisterRequest{URL: "http://10.8.0.1:80", Slug: "m"})
	if again.Meta["version"] != "1.2" {
		t.Fatalf("a re-registration without meta dropped it: %v", again.Meta)
	}
	list, _, err := c.Client(f).ListInstances(ctx, api.InstanceFilter{Meta: map[string]string{"version": "1.2", "demi.site": "lab42"}}, client.ListOptions{})
	if err != nil || len(list) != 1 || list[0].ID != in.ID {
		t.Fatalf("meta filter: %v %v", list, err)
	}
	for _, tc := range []struct{ method, path, body, field string }{
		{"PUT", "/registry-svc/instance", `{"url":"http://10.8.0.3:80","meta":{"bad key":"x"}}`, "meta.bad key"},
		{"PUT", "/registry-svc/instance", `{"url":"http://10.8.0.3:80","meta":{"k":"` + strings.Repeat("v", 513) + `"}}`, "meta.k"},
		{"PUT", "/registry-svc/instance", `{"url":"http://10.8.0.3:80","meta":{"k":1}}`, "meta"},
		{"GET", "/registry-svc/instances?meta.a=1&meta.a=2", "", "meta.a"},
		{"GET", "/registry-svc/instances?meta.a%20b=1", "", "meta.a b"},
	} {
		resp, body := do(t, tc.method, base+tc.path, tc.body)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"field":"`+tc.field+`"`) {
			t.Errorf("%s %s %s: HTTP %d %s (want 400 naming %s)", tc.method, tc.path, tc.body, resp.StatusCode, body, tc.field)
		}
	}
	tooMany := map[string]string{}
	for i := range api.MaxMeta + 1 {
		tooMany[strings.Repeat("k", i+1)] = "v"
	}
	if _, err := c.Client(f).RegisterInstance(ctx, client.RegisterRequest{URL: "http://10.8.0.4:80", Meta: tooMany}); statusOf(err) != http.StatusBadRequest {
		t.Errorf("65 meta pairs: %v", err)
	}

	bin := buildRoster(t)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(cleanEnv(os.Environ()), "ROSTER_ADDR="+base)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("roster %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("instances", "register", "--url", "http://10.8.0.5:80", "--slug", "m", "--meta.owner=team-a", "--meta", "tier=gold")
	out := run("instances", "ls", "--meta.owner=team-a", "-o", "wide")
	if !strings.Contains(out, "http://10.8.0.5:80") || strings.Contains(out, "10.8.0.1") || !strings.Contains(out, "owner=team-a,tier=gold") {
		t.Fatalf("instances ls --meta.owner=team-a -o wide:\n%s", out)
	}
}
