package testcluster

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi/client"
)

// Writes that land on a follower at the same time travel to the leader in
// batches; each client still gets its own answer, and reads its own write
// on that follower at once.
func TestConcurrentWritesThroughAFollowerKeepTheirOwnAnswers(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3})
	f := follower(c)
	held := register(t, c, c.Leader(), "http://10.3.0.1:80", "held")
	before := c.Agent(c.Leader()).Node.Status().LastLogIndex
	const n = 40
	var wg sync.WaitGroup
	errs := make([]error, n+2)
	ids := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			url := fmt.Sprintf("http://10.3.1.%d:80", i+1)
			in, err := c.Client(f).RegisterInstance(t.Context(), client.RegisterRequest{URL: url, Slug: "batched"})
			if err != nil {
				errs[i] = err
				return
			}
			ids[i] = in.ID
			// Read your write on the same follower, locally.
			list, _, err := c.Client(f).ListInstances(t.Context(), api.InstanceFilter{ID: in.ID}, client.ListOptions{})
			if err != nil || len(list) != 1 || list[0].URL != url {
				errs[i] = fmt.Errorf("local read after the write: %v %v", list, err)
			}
		}()
	}
	wg.Add(2)
	go func() { // the held URL under another ID: a conflict for this write only
		defer wg.Done()
		_, errs[n] = c.Client(f).RegisterInstance(t.Context(), client.RegisterRequest{URL: held.URL, ID: "someone-else", Slug: "held"})
	}()
	go func() {
		defer wg.Done()
		errs[n+1] = c.Client(f).DeleteInstance(t.Context(), "never-registered")
	}()
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("write %d: %v", i, errs[i])
		}
	}
	var fe *api.Error
	if !errors.As(errs[n], &fe) || fe.Code != api.CodeConflict || fe.Field != "url" {
		t.Errorf("conflicting write: %v, want a url conflict", errs[n])
	}
	if !errors.As(errs[n+1], &fe) || fe.Code != api.CodeNotFound {
		t.Errorf("deregistering an unknown instance: %v, want not found", errs[n+1])
	}
	list, _, err := c.Client(c.Leader()).ListInstances(t.Context(), api.InstanceFilter{Slug: "batched"}, client.ListOptions{Consistent: true})
	if err != nil || len(list) != n {
		t.Fatalf("%d of %d registered (%v)", len(list), n, err)
	}
	after := c.Agent(c.Leader()).Node.Status().LastLogIndex
	t.Logf("%d writes through a follower took %d log entries", n+2, after-before)
}

// The leader's batch endpoint checks what it is sent like any other input.
func TestBatchEndpointValidatesEachWrite(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3})
	leader, f := c.Member(c.Leader()).URL, c.Member(follower(c)).URL
	for _, tc := range []struct {
		body   string
		status int
		want   string
	}{
		{`{"writes":[]}`, 400, `"field":"writes"`},
		{`{"writes":[{"bogus":1}]}`, 400, `"field":"bogus"`},
		{`{"writes":[{}]}`, 200, `"status":400`},
		{`{"writes":[{"register":{"url":"http://10.4.0.1:80"},"deregister":"x"}]}`, 200, `"field":"writes"`},
		{`{"writes":[{"register":{"host":"h","port":70000}},{"register":{"url":"http://10.4.0.2:80"}}]}`, 200, `"field":"port"`},
		{`{"writes":[{"deregister":"absent"}]}`, 200, `"code":"not_found"`},
	} {
		resp, body := do(t, http.MethodPost, leader+"/registry-svc/internal/writes", tc.body)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want %d with %s", tc.body, resp.StatusCode, body, tc.status, tc.want)
		}
	}
	// The valid write next to an invalid one was applied.
	if _, body := do(t, http.MethodGet, leader+"/registry-svc/instances?host=10.4.0.2", ""); !strings.Contains(body, "10.4.0.2") {
		t.Errorf("the valid write of a mixed batch is missing: %s", body)
	}
	// Only the leader takes batches; a follower never forwards one again.
	resp, body := do(t, http.MethodPost, f+"/registry-svc/internal/writes", `{"writes":[{"deregister":"x"}]}`)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, string(client.CodeNotLeader)) {
		t.Errorf("batch sent to a follower: %d %s, want 503 not_leader", resp.StatusCode, body)
	}
	// The read index likewise.
	resp, body = do(t, http.MethodGet, f+"/registry-svc/internal/read-index", "")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, string(client.CodeNotLeader)) {
		t.Errorf("read index asked of a follower: %d %s, want 503 not_leader", resp.StatusCode, body)
	}
	if resp, body = do(t, http.MethodGet, leader+"/registry-svc/internal/read-index", ""); resp.StatusCode != 200 || !strings.Contains(body, `"index":`) {
		t.Errorf("read index from the leader: %d %s", resp.StatusCode, body)
	}
}
