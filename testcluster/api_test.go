package testcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/fsm"
	"github.com/rosterhq/roster/httpapi/client"
)

func do(t *testing.T, method, url, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
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
		{"PUT", "/registry-svc/instances/status", `{"updates":[{"id":"a","status":"Healthy"}]}`, 400, `"field":"updates[0].at"`},
		{"PUT", "/registry-svc/instances/status", `{"updates":[]}`, 400, `"field":"updates"`},
	} {
		resp, body := do(t, tc.method, f+tc.path, tc.body)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, resp.StatusCode, body)
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
		var reg struct{ Instance fsm.Instance }
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
	_, meta, err := cl.ListInstances(t.Context(), fsm.InstanceFilter{Slug: "w"}, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []*fsm.Instance, 1)
	go func() {
		list, _, _ := cl.ListInstances(context.Background(), fsm.InstanceFilter{Slug: "w"}, client.ListOptions{Index: meta.Index, Wait: 20 * time.Second})
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
