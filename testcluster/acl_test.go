package testcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi"
	"github.com/rosterhq/roster/httpapi/client"
)

// aclCluster is a TLS cluster with tokens on and its management token.
func aclCluster(t *testing.T) *Cluster {
	t.Helper()
	c := startCluster(t, Options{Nodes: 3, TLS: true, ACL: true})
	if _, err := c.BootstrapACL(t.Context()); err != nil {
		t.Fatal(err)
	}
	return c
}

// as is a client of node i that sends secret.
func as(t *testing.T, c *Cluster, i int, secret string) *client.Client {
	t.Helper()
	cl, err := c.Client(i).With(c.Member(i).URL)
	if err != nil {
		t.Fatal(err)
	}
	cl.Token = secret
	return cl
}

// mint makes a token through node i (which then knows it).
func mint(t *testing.T, c *Cluster, i int, req api.CreateTokenRequest) string {
	t.Helper()
	tok, err := c.Client(i).CreateToken(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	return tok.SecretID
}

// callRoute sends a request to a route with placeholder path values and
// an empty JSON body: enough to pass or fail the token check, whatever the
// handler says of the rest.
func callRoute(ctx context.Context, cl *client.Client, r httpapi.Route) error {
	path := strings.NewReplacer(":id", "x", "*url", "x").Replace(r.Path)
	if r.Path == "/registry-svc/events" {
		path += "?kind=none" // past the token check, a 400: not a stream that never ends
	}
	var body any
	if r.Method == http.MethodPut || r.Method == http.MethodPost {
		body = json.RawMessage(`{}`)
	}
	_, err := cl.Do(ctx, r.Method, path, body, nil)
	return err
}

func statusOf(err error) int {
	var ae *client.APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	if err == nil {
		return 200
	}
	return 0
}

// Every public route takes the permission the route table gives it, on a
// follower (so requests forwarded to the leader are checked there too): a
// token with every other permission gets 403 naming it, a token with only
// it gets past the check, no token gets 401.
func TestEveryRouteTakesItsPermission(t *testing.T) {
	c := aclCluster(t)
	ctx := t.Context()
	f := follower(c)
	routes := c.Agent(f).Routes()
	var governed []httpapi.Route
	for _, r := range routes {
		switch {
		case r.Permission != "":
			governed = append(governed, r)
		case r.Path != "/registry-svc/acl/bootstrap" && r.Path != "/registry-svc/token/self" && r.Path != "/registry-svc/openapi.json":
			t.Errorf("%s %s takes no permission", r.Method, r.Path)
		}
	}
	if len(governed) < 20 {
		t.Fatalf("only %d governed routes in the table", len(governed))
	}
	var leave httpapi.Route
	for _, r := range governed {
		if r.Path == "/registry-svc/agent/leave" {
			leave = r // last: it stops the node
			continue
		}
		t.Run(r.Method+" "+r.Path, func(t *testing.T) {
			var others []string
			for _, p := range api.Permissions {
				if p.Name != r.Permission && p.Name != api.PermAll {
					others = append(others, p.Name)
				}
			}
			err := callRoute(ctx, as(t, c, f, mint(t, c, f, api.CreateTokenRequest{Permissions: others})), r)
			var ae *client.APIError
			if !errors.As(err, &ae) || ae.Status != http.StatusForbidden || ae.Body.Field != r.Permission {
				t.Errorf("with every permission but %s: %v", r.Permission, err)
			}
			err = callRoute(ctx, as(t, c, f, mint(t, c, f, api.CreateTokenRequest{Permissions: []string{r.Permission}})), r)
			if s := statusOf(err); s == http.StatusUnauthorized || s == http.StatusForbidden || s == 0 {
				t.Errorf("with only %s: %v", r.Permission, err)
			}
			if s := statusOf(callRoute(ctx, as(t, c, f, ""), r)); s != http.StatusUnauthorized {
				t.Errorf("without a token: HTTP %d, want 401", s)
			}
		})
	}
	if leave.Path == "" {
		t.Fatal("no leave route in the table")
	}
	if s := statusOf(callRoute(ctx, as(t, c, f, mint(t, c, f, api.CreateTokenRequest{Permissions: []string{api.PermNodeDelete}})), leave)); s != http.StatusForbidden {
		t.Fatalf("leave without %s: HTTP %d", api.PermOperator, s)
	}
	if s := statusOf(callRoute(ctx, as(t, c, f, mint(t, c, f, api.CreateTokenRequest{Permissions: []string{api.PermOperator}})), leave)); s != http.StatusAccepted && s != http.StatusOK {
		t.Fatalf("leave with %s: HTTP %d", api.PermOperator, s)
	}
}

// The outsider's experiments of issue 18, with tokens on: each is refused
// and the catalog is what it was.
func TestOutsidersAndOtherServicesAreRefused(t *testing.T) {
	c := aclCluster(t)
	ctx := t.Context()
	f := follower(c)
	web := mint(t, c, f, api.CreateTokenRequest{Slug: "web", Permissions: []string{api.PermInstanceEdit, api.PermInstanceView, api.PermInstanceDelete, api.PermInstanceStatus}})
	db := mint(t, c, f, api.CreateTokenRequest{Slug: "db", Permissions: []string{api.PermInstanceEdit, api.PermInstanceView, api.PermInstanceDelete, api.PermInstanceStatus}})
	viewer := mint(t, c, f, api.CreateTokenRequest{Slug: "db", Permissions: []string{api.PermInstanceView, api.PermInstanceViewAll}})

	// The seed's flow: a registration without a slug takes the token's.
	in, err := as(t, c, f, web).RegisterInstance(ctx, client.RegisterRequest{URL: "http://10.9.0.1:8080", Status: api.StatusHealthy,
		Check: &api.Check{Type: api.CheckNone}})
	if err != nil || in.Slug != "web" {
		t.Fatalf("web registers: %v %+v", err, in)
	}
	before := catalog(t, c)

	anon := as(t, c, f, "")
	for name, try := range map[string]func() error{
		"leave": func() error { return anon.Leave(ctx) },
		"remove node": func() error {
			_, err := anon.Do(ctx, http.MethodDelete, "/registry-svc/node/node3?force=true", nil, nil)
			return err
		},
		"register": func() error {
			_, err := anon.RegisterInstance(ctx, client.RegisterRequest{URL: "http://10.9.0.9:1", Slug: "web"})
			return err
		},
		"list": func() error {
			_, _, err := anon.ListInstances(ctx, api.InstanceFilter{}, client.ListOptions{})
			return err
		},
	} {
		if s := statusOf(try()); s != http.StatusUnauthorized {
			t.Errorf("anonymous %s: HTTP %d, want 401", name, s)
		}
	}
	dbc := as(t, c, f, db)
	for name, try := range map[string]struct {
		do   func() error
		want int
	}{
		"take web's slug": {func() error {
			_, err := dbc.RegisterInstance(ctx, client.RegisterRequest{URL: "http://10.9.0.2:1", Slug: "web"})
			return err
		}, 403},
		"take web's URL": {func() error { _, err := dbc.RegisterInstance(ctx, client.RegisterRequest{URL: in.URL}); return err }, 409},
		"move web's instance": {func() error {
			_, err := dbc.RegisterInstance(ctx, client.RegisterRequest{ID: in.ID, URL: "http://10.9.0.3:1"})
			return err
		}, 409},
		"stop web's instance":   {func() error { _, err := dbc.SetInstanceStatus(ctx, in.ID, api.StatusStopping, ""); return err }, 404},
		"remove web's instance": {func() error { return dbc.DeleteInstance(ctx, in.ID) }, 404},
		"heartbeat web's": {func() error {
			_, err := dbc.Do(ctx, http.MethodPut, "/registry-svc/instance/"+in.ID+"/heartbeat", nil, nil)
			return err
		}, 404},
		"list web's": {func() error {
			_, _, err := dbc.ListInstances(ctx, api.InstanceFilter{Slug: "web"}, client.ListOptions{})
			return err
		}, 403},
		"make a token": {func() error {
			_, err := dbc.CreateToken(ctx, api.CreateTokenRequest{Permissions: []string{api.PermAll}})
			return err
		}, 403},
		"batch-stop web's": {func() error {
			_, err := dbc.Do(ctx, http.MethodPut, "/registry-svc/instances/status", map[string]any{"updates": []map[string]any{{"id": in.ID, "status": "Stopping"}}}, nil)
			return err
		}, 200},
		"consistent list, leader": {func() error {
			_, _, err := as(t, c, c.Leader(), db).ListInstances(ctx, api.InstanceFilter{Slug: "web"}, client.ListOptions{Consistent: true})
			return err
		}, 403},
	} {
		if s := statusOf(try.do()); s != try.want {
			t.Errorf("db's token, %s: HTTP %d, want %d", name, s, try.want)
		}
	}
	// db's own list holds none of web's; a view-all token sees them.
	rows, _, err := dbc.ListInstances(ctx, api.InstanceFilter{}, client.ListOptions{})
	if err != nil || len(rows) != 0 {
		t.Errorf("db's list: %v %d rows", err, len(rows))
	}
	rows, _, err = as(t, c, f, viewer).ListInstances(ctx, api.InstanceFilter{Slug: "web"}, client.ListOptions{})
	if err != nil || len(rows) != 1 {
		t.Errorf("view-all list: %v %d rows", err, len(rows))
	}
	if after := catalog(t, c); after != before {
		t.Errorf("the catalog changed:\nbefore %s\nafter  %s", before, after)
	}
}

// The health checks write statuses as the cluster itself: with tokens on,
// a checked instance still turns Healthy.
func TestChecksWorkWithTokens(t *testing.T) {
	c := aclCluster(t)
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer live.Close()
	f := follower(c)
	in, err := c.Client(f).RegisterInstance(t.Context(), client.RegisterRequest{URL: live.URL, Slug: "checked",
		Check: &api.Check{Type: api.CheckHTTP, Interval: api.Duration(time.Second)}})
	if err != nil {
		t.Fatal(err)
	}
	within(t, 15*time.Second, "the check marks it Healthy", func() error {
		rows, _, err := c.Client(f).ListInstances(t.Context(), api.InstanceFilter{ID: in.ID}, client.ListOptions{})
		if err != nil {
			return err
		}
		if len(rows) != 1 || rows[0].Status != api.StatusHealthy {
			return fmt.Errorf("%+v", rows)
		}
		return nil
	})
}

// catalog is the management token's view of every instance, as text.
func catalog(t *testing.T, c *Cluster) string {
	t.Helper()
	rows, _, err := c.Client(c.Leader()).ListInstances(t.Context(), api.InstanceFilter{}, client.ListOptions{Consistent: true})
	if err != nil {
		t.Fatal(err)
	}
	return digestOf(rows)
}

// digestOf is a list of instances as text, in a fixed order.
func digestOf(rows []*api.Instance) string {
	var parts []string
	for _, r := range rows {
		parts = append(parts, r.ID+" "+r.Slug+" "+r.URL+" "+string(r.Status))
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

// A removed token is refused on every node, and an expired one too.
func TestRemovedTokensStopWorkingEverywhere(t *testing.T) {
	c := aclCluster(t)
	ctx := t.Context()
	tok, err := c.Client(0).CreateToken(ctx, api.CreateTokenRequest{Permissions: []string{api.PermNodeView}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		within(t, 5*time.Second, "the token reaches every node", func() error {
			_, err := as(t, c, i, tok.SecretID).ClusterStatus(ctx)
			return err
		})
	}
	list, err := c.Client(1).Tokens(ctx)
	if err != nil || !slices.ContainsFunc(list, func(x api.Token) bool { return x.AccessorID == tok.AccessorID }) {
		t.Fatalf("token ls: %v %v", err, list)
	}
	for _, x := range list {
		if strings.Contains(mustJSON(t, x), tok.SecretID) {
			t.Fatal("token ls shows a secret")
		}
	}
	if err := c.Client(2).DeleteToken(ctx, tok.AccessorID); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		within(t, 5*time.Second, "the removal reaches every node", func() error {
			if _, err := as(t, c, i, tok.SecretID).ClusterStatus(ctx); statusOf(err) != http.StatusUnauthorized {
				return errors.New("still accepted")
			}
			return nil
		})
	}
	// The bootstrap works once.
	if _, err := c.Client(1).ACLBootstrap(ctx); statusOf(err) != http.StatusConflict {
		t.Fatalf("second bootstrap: %v", err)
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A token works on every node as soon as it is made, also on one the log
// has not reached yet: before it answers 401 the node asks the leader how
// far the log goes and applies that far. A made-up token still gets 401.
func TestATokenWorksEverywhereTheMomentItIsMade(t *testing.T) {
	c := aclCluster(t)
	l := c.Leader()
	f := follower(c)
	// The log reaches f 300 ms late; f's road to the leader is not slowed.
	c.SlowOneWay(300*time.Millisecond, l, f, Raft)
	defer c.Heal()
	for range 3 {
		tok := mint(t, c, l, api.CreateTokenRequest{Permissions: []string{api.PermInstanceView}})
		if known, _ := c.Agent(f).Node.FSM().TokenBySecret(api.HashSecret(tok)); known != nil {
			t.Fatal("the follower applied the token before it was used: the test proves nothing")
		}
		if _, _, err := as(t, c, f, tok).ListInstances(t.Context(), api.InstanceFilter{}, client.ListOptions{}); err != nil {
			t.Fatalf("a token made on the leader, used at once on a follower: %v", err)
		}
	}
	_, _, err := as(t, c, f, "rst_"+strings.Repeat("0", 64)).ListInstances(t.Context(), api.InstanceFilter{}, client.ListOptions{})
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || !strings.Contains(ae.Body.Error, "not known to this cluster") {
		t.Fatalf("a made-up token: %v", err)
	}
}
