package testcluster

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/httpapi"
)

// A node holds at most MaxBlockingReads parked watchers; one more is told
// 429 with Retry-After at once, and a slot frees up when a watcher is
// answered.
func TestParkedWatchersAreBounded(t *testing.T) {
	c := startCluster(t, Options{Nodes: 1, HTTP: httpapi.Options{MaxBlockingReads: 3}})
	n1 := c.Member(0).URL
	resp, _ := do(t, http.MethodGet, n1+"/registry-svc/instances", "")
	index, _ := strconv.ParseUint(resp.Header.Get("X-Registry-Index"), 10, 64)
	watch := fmt.Sprintf("%s/registry-svc/instances?index=%d&wait=20s", n1, index)
	var wg sync.WaitGroup
	codes := make([]int, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _ := do(t, http.MethodGet, watch, "")
			codes[i] = r.StatusCode
		}()
	}
	time.Sleep(300 * time.Millisecond)
	r, body := do(t, http.MethodGet, watch, "")
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("a fourth watcher: %d (Retry-After %q) %s", r.StatusCode, r.Header.Get("Retry-After"), body)
	}
	// A write wakes the three; a new watcher is taken again.
	if r, body := do(t, http.MethodPut, n1+"/registry-svc/instance", `{"url":"http://10.8.0.1:80","check":{"type":"none"}}`); r.StatusCode != 201 {
		t.Fatalf("write: %d %s", r.StatusCode, body)
	}
	wg.Wait()
	for i, code := range codes {
		if code != 200 {
			t.Fatalf("watcher %d: %d", i, code)
		}
	}
	if r, body := do(t, http.MethodGet, fmt.Sprintf("%s/registry-svc/instances?index=%d&wait=1s", n1, index), ""); r.StatusCode != 200 {
		t.Fatalf("a watcher after the wake-up: %d %s", r.StatusCode, body)
	}
}
