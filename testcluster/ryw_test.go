package testcluster

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi/client"
)

// A follower nobody reads from answers a forwarded write on the leader's
// word, before it has applied the write itself; whatever reads its catalog
// afterwards waits for that apply. Each write here comes after a quiet
// spell and is read back through the same follower at once: by ID,
// through its slug's list, through the proxy (a slug of its own, so only
// the new instance can answer), and gone after its deregistration. While
// reads come, a write's answer waits for the apply instead.
func TestAFollowerReadsTheWritesItHasAnswered(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3})
	id := follower(c)
	f, fc := c.Member(id).URL, c.Client(id)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "backend %s", r.URL.Path)
	}))
	t.Cleanup(backend.Close)
	ahead := 0 // writes answered before the follower had applied them
	const quiet = 12
	for i := range quiet {
		time.Sleep(300 * time.Millisecond) // no read for longer than httpapi's readsRecently
		slug := fmt.Sprintf("ryw-%d", i)
		in, err := fc.RegisterInstance(t.Context(), client.RegisterRequest{URL: fmt.Sprintf("%s/i%d", backend.URL, i), Slug: slug,
			Status: api.StatusHealthy, Check: &api.Check{Type: api.CheckNone}})
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if c.Agent(id).Node.AppliedIndex() < in.ModifyIndex {
			ahead++
		}
		byID := func() {
			if list, _, err := fc.ListInstances(t.Context(), api.InstanceFilter{ID: in.ID}, client.ListOptions{}); err != nil || len(list) != 1 {
				t.Fatalf("write %d: the follower's list by ID after its answer: %v %v", i, list, err)
			}
		}
		bySlug := func() {
			if list, _, err := fc.ListInstances(t.Context(), api.InstanceFilter{Slug: slug}, client.ListOptions{}); err != nil || len(list) != 1 {
				t.Fatalf("write %d: the slug's list: %v %v", i, list, err)
			}
		}
		proxied := func() {
			if resp, body := do(t, "GET", f+"/"+slug+"/x", ""); resp.StatusCode != 200 || !strings.HasPrefix(body, "backend ") {
				t.Fatalf("write %d: the proxy after the answer: %d %q", i, resp.StatusCode, body)
			}
		}
		// Each comes first in turn: the first read is the one that waits.
		reads := []func(){byID, bySlug, proxied}
		for k := range reads {
			reads[(i+k)%len(reads)]()
		}
		if err := fc.DeleteInstance(t.Context(), in.ID); err != nil {
			t.Fatalf("deregister %d: %v", i, err)
		}
		if list, _, err := fc.ListInstances(t.Context(), api.InstanceFilter{ID: in.ID}, client.ListOptions{}); err != nil || len(list) != 0 {
			t.Fatalf("write %d: listed after its deregistration: %v %v", i, list, err)
		}
	}
	t.Logf("%d of %d registrations after a quiet spell were answered before the follower applied them", ahead, quiet)

	// Reads flowing: the answer comes once the follower has applied it.
	for i := range 20 {
		if _, _, err := fc.ListInstances(t.Context(), api.InstanceFilter{Slug: "busy"}, client.ListOptions{}); err != nil {
			t.Fatal(err)
		}
		in, err := fc.RegisterInstance(t.Context(), client.RegisterRequest{URL: fmt.Sprintf("http://10.4.0.%d:80", i+1), Slug: "busy"})
		if err != nil {
			t.Fatal(err)
		}
		if applied := c.Agent(id).Node.AppliedIndex(); applied < in.ModifyIndex {
			t.Fatalf("write %d answered at index %d while reads come, the follower has applied %d", i, in.ModifyIndex, applied)
		}
	}
}
