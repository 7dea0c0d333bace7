package testcluster

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi"
)

// Every answer has a write deadline, but a blocking read that waits longer
// than it still answers; headers over the limit get a JSON 431.
func TestDeadlinesLetBlockingReadsLiveAndHeadersAreBounded(t *testing.T) {
	c := startCluster(t, Options{Nodes: 1, HTTP: httpapi.Options{WriteTimeout: time.Second}})
	base := c.Member(0).URL
	resp, _ := do(t, http.MethodGet, base+"/registry-svc/instances", "")
	index := resp.Header.Get("X-Registry-Index")
	start := time.Now()
	resp, body := do(t, http.MethodGet, base+"/registry-svc/instances?index="+index+"&wait=2500ms", "")
	if resp.StatusCode != http.StatusOK || time.Since(start) < 2*time.Second || !strings.Contains(body, `"instances"`) {
		t.Fatalf("blocking read past the write timeout: HTTP %d after %v: %s", resp.StatusCode, time.Since(start), body)
	}

	req, _ := http.NewRequest(http.MethodGet, base+"/registry-svc/instances", nil)
	req.Header.Set("X-Big", strings.Repeat("a", httpapi.MaxHeaderBytes))
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	var eb api.ErrorBody
	if err := json.NewDecoder(resp2.Body).Decode(&eb); err != nil || resp2.StatusCode != http.StatusRequestHeaderFieldsTooLarge || eb.Code != api.CodeTooLarge {
		t.Fatalf("oversized headers: HTTP %d, %v, %+v", resp2.StatusCode, err, eb)
	}
}
