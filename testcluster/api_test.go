package testcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi/client"
)

func do(t *testing.T, method, url, body string) (*http.Response, string) {
	t.Helper()
	contentType := ""
	if body != "" {
		contentType = "application/json" // as every client of the registry API must
	}
	return doType(t, method, url, body, contentType)
}

// doType sends a request with a body of contentType ("": none) and
// returns the answer and its body.
func doType(t *testing.T, method, url, body, contentType string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp, b.String()
}

func TestHTTPErrorsBlockingReadsAndNoQuorum(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3})
	f := c.Member(follower(c)).URL

	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"PUT", "/registry-svc/instance", `{"url":"http://a:1","bogus":1}`, 400, `"field":"bogus"`},
		{"PUT", "/registry-svc/instance", `{"host":"h","port":70000}`, 400, `"field":"port"`},
		{"PUT", "/registry-svc/instance", `{"url":"http://a:1"} {}`, 400, "after the JSON"},
		{"PUT", "/registry-svc/instance", `{"url":"http://a:1"}` + strings.Repeat(" ", 1<<20), 413, "too_large"},
		{"PUT", "/registry-svc/definition", `{"definition":{"id":"x"}}`, 400, "image or a repository"},
		{"DELETE", "/registry-svc/instance/absent", "", 404, "not_found"},
		{"GET", "/registry-svc/instances?slgu=x", "", 400, `"field":"slgu"`},
		{"GET", "/registry-svc/instances?consistent=maybe", "", 400, `"field":"consistent"`},
		{"GET", "/registry-svc/instances?consistent", "", 200, `"instances"`},
		{"GET", "/registry-svc/instances?consistent=false", "", 200, `"instances"`},
		{"POST", "/registry-svc/instances", "", 405, "not allowed"},
		{"PUT", "/registry-svc/instance", `{"url":"http://a:1","check":{"type":"http","path":"health"}}`, 400, `"field":"check.path"`},
		{"PUT", "/registry-svc/instance", `{"url":"http://a:1","check":{"type":"tcp","interval":"0s"}}`, 400, `"field":"check.interval"`},
		{"PUT", "/registry-svc/instance", `{"url":"http://a:1","check":{"type":"tcp","interval":5}}`, 400, `"field":"check.interval"`},
		{"PUT", "/registry-svc/instance", `{"url":"http://a:1","check":{"type":"tcp","failuresBeforeUnhealthy":-1}}`, 400, `"field":"check.failuresBeforeUnhealthy"`},
		{"PUT", "/registry-svc/instance", `{"url":"http://a:1","check":{"type":"ttl"}}`, 400, `"field":"check.ttl"`},
		{"PUT", "/registry-svc/instance", `{"url":"http://a:1","check":{"type":"tcp","ttl":"5s"}}`, 400, `"field":"check.ttl"`},
		{"PUT", "/registry-svc/instance/absent/status", `{"status":"Healthy"}`, 404, "not_found"},
		{"PUT", "/registry-svc/instance/absent/status", `{"status":"Fine"}`, 400, `"field":"status"`},
		{"PUT", "/registry-svc/instances/status", `{"updates":[{"id":"a","status":"Healthy"}]}`, 200, `"missing":["a"]`},
		{"PUT", "/registry-svc/instances/status", `{"updates":[{"id":"a","status":"Fine"}]}`, 400, `"field":"updates[0].status"`},
		{"GET", "/registry-svc/instances?status=Healthy&status=Unhealthy", "", 400, `"field":"status"`},
		{"GET", "/registry-svc/instances?slug=a&slug=b", "", 400, "only tag may repeat"},
		{"GET", "/registry-svc/services", "", 200, `"services":[`},
		{"GET", "/registry-svc/instances?" + strings.Repeat("tag=a&", 65), "", 400, "at most 64 tags"},
		{"GET", "/registry-svc/instances?tag=" + strings.Repeat("x", 257), "", 400, `"field":"tag"`},
		{"GET", "/registry-svc/services?slug=x", "", 400, `"field":"slug"`},
		{"PUT", "/registry-svc/instances/status", `{"updates":[]}`, 400, `"field":"updates"`},
	} {
		resp, body := do(t, tc.method, f+tc.path, tc.body)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, resp.StatusCode, body)
		}
	}

	// HEAD answers as the GET would, headers included, without a body.
	for _, p := range []string{"/registry-svc/instances", "/registry-svc/services", "/readyz"} {
		resp, body := do(t, "HEAD", f+p, "")
		if resp.StatusCode != 200 || body != "" || (strings.HasPrefix(p, "/registry-svc") && resp.Header.Get("X-Registry-Index") == "") {
			t.Errorf("HEAD %s: %d %q %v", p, resp.StatusCode, body, resp.Header)
		}
	}

	// Repeated tags: every one must match. The services view counts them.
	for _, r := range []string{`{"url":"http://tags:1","slug":"tagged","tags":["a","b"],"check":{"type":"none"},"status":"Healthy"}`,
		`{"url":"http://tags:2","slug":"tagged","tags":["a"],"check":{"type":"none"}}`} {
		if resp, body := do(t, "PUT", f+"/registry-svc/instance", r); resp.StatusCode != 201 {
			t.Fatalf("register: %d %s", resp.StatusCode, body)
		}
	}
	if _, body := do(t, "GET", f+"/registry-svc/instances?tag=a&tag=b", ""); !strings.Contains(body, "http://tags:1") || strings.Contains(body, "http://tags:2") {
		t.Errorf("?tag=a&tag=b: %s", body)
	}
	if _, body := do(t, "GET", f+"/registry-svc/instances?tag=a", ""); !strings.Contains(body, "http://tags:1") || !strings.Contains(body, "http://tags:2") {
		t.Errorf("?tag=a: %s", body)
	}
	var svc struct{ Services []api.Service }
	if _, body := do(t, "GET", f+"/registry-svc/services", ""); json.Unmarshal([]byte(body), &svc) != nil || len(svc.Services) != 1 ||
		svc.Services[0].Slug != "tagged" || svc.Services[0].Instances != 2 || svc.Services[0].ByStatus["Healthy"] != 1 ||
		svc.Services[0].ByStatus["Unknown"] != 1 || strings.Join(svc.Services[0].Tags, ",") != "a,b" || len(svc.Services[0].Nodes) != 1 {
		t.Errorf("services: %s", body)
	}
	for _, id := range []string{"http://tags:1", "http://tags:2"} {
		rows, _, _ := c.Client(0).ListInstances(t.Context(), api.InstanceFilter{Slug: "tagged"}, client.ListOptions{Consistent: true})
		for _, r := range rows {
			if r.URL == id {
				do(t, "DELETE", f+"/registry-svc/instance/"+r.ID, "")
			}
		}
	}

	for _, p := range []string{"/health", "/healthz", "/readyz"} {
		if resp, body := do(t, "GET", f+p, ""); resp.StatusCode != 200 || !strings.Contains(body, "node") && !strings.Contains(body, "ready") {
			t.Errorf("GET %s: %d %s", p, resp.StatusCode, body)
		}
	}

	// Read your writes on the follower that forwarded them.
	for i := range 30 {
		resp, body := do(t, "PUT", f+"/registry-svc/instance", fmt.Sprintf(`{"url":"http://ryw:%d"}`, i+1))
		var reg struct{ Instance api.Instance }
		if resp.StatusCode != 201 || json.Unmarshal([]byte(body), &reg) != nil {
			t.Fatalf("register: %d %s", resp.StatusCode, body)
		}
		if resp, body := do(t, "GET", f+"/registry-svc/instances?id="+reg.Instance.ID, ""); !strings.Contains(body, reg.Instance.ID) {
			t.Fatalf("write %d not visible on the follower that forwarded it: %d %s", i, resp.StatusCode, body)
		}
		if resp, body := do(t, "DELETE", f+"/registry-svc/instance/"+reg.Instance.ID, ""); resp.StatusCode != 204 {
			t.Fatalf("delete: %d %s", resp.StatusCode, body)
		}
		if _, body := do(t, "GET", f+"/registry-svc/instances?id="+reg.Instance.ID, ""); strings.Contains(body, reg.Instance.ID) {
			t.Fatalf("delete %d not visible on the follower that forwarded it: %s", i, body)
		}
	}

	// Registered on a follower, owned by a slug: another slug gets 409.
	resp, body := do(t, "PUT", f+"/registry-svc/instance", `{"url":"http://owned:1","slug":"a"}`)
	if resp.StatusCode != 201 || resp.Header.Get("X-Registry-Index") == "" || resp.Header.Get("X-Registry-Known-Leader") != "true" {
		t.Fatalf("register via follower: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	if resp, body := do(t, "PUT", f+"/registry-svc/instance", `{"url":"http://owned:1","slug":"b"}`); resp.StatusCode != 409 {
		t.Fatalf("foreign slug: %d %s", resp.StatusCode, body)
	}

	// A blocking read returns when a write passes its index. It wakes on
	// any change to the table, so first let the follower apply the
	// registration above.
	within(t, 5*time.Second, "follower applied", func() error { return hasURLs(c, follower(c), "http://owned:1") })
	cl := c.Client(follower(c))
	_, meta, err := cl.ListInstances(t.Context(), api.InstanceFilter{Slug: "w"}, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []*api.Instance, 1)
	go func() {
		list, _, _ := cl.ListInstances(context.Background(), api.InstanceFilter{Slug: "w"}, client.ListOptions{Index: meta.Index, Wait: 20 * time.Second})
		got <- list
	}()
	time.Sleep(200 * time.Millisecond)
	register(t, c, c.Leader(), "http://watched:1", "w")
	select {
	case list := <-got:
		if len(list) != 1 {
			t.Fatalf("blocking read woke with %d instances", len(list))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocking read did not wake on a write")
	}

	// Without a quorum a write is held, then answered 503 with Retry-After,
	// and nothing already stored is lost.
	survivor := c.Leader()
	for _, i := range c.Running() {
		if i != survivor {
			c.Kill(i)
		}
	}
	start := time.Now()
	resp, body = do(t, "PUT", c.Member(survivor).URL+"/registry-svc/instance", `{"url":"http://no-quorum:1"}`)
	// Either no leader could be found within the hold, or the leader lost
	// its lease after appending the entry (indeterminate: it may still
	// commit if that node leads again).
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" ||
		!(strings.Contains(body, `"no_leader"`) || strings.Contains(body, `"indeterminate"`)) {
		t.Fatalf("no quorum: %d %s", resp.StatusCode, body)
	}
	t.Logf("no-quorum write answered %d after %v: %s", resp.StatusCode, time.Since(start).Round(time.Millisecond), body)
	_, err = c.Client(survivor).RegisterInstance(t.Context(), client.RegisterRequest{URL: "http://no-quorum:2"})
	if !errors.Is(err, client.ErrUnavailable) && !errors.Is(err, client.ErrIndeterminate) {
		t.Fatalf("client error not typed: %v", err)
	}
	if err := hasURLs(c, survivor, "http://owned:1", "http://watched:1"); err != nil {
		t.Fatal(err)
	}
}
