package testcluster

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Large valid writes through a follower all succeed: the follower cuts its
// batches by bytes as well as count, and the leader never commits a Raft
// entry over the command limit (before, 177 of 200 such registrations got
// 413 from the leader's body limit).
func TestLargeWritesThroughAFollowerAllSucceed(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3})
	f := c.Member(follower(c)).URL
	var wg sync.WaitGroup
	codes := make([]int, 200)
	bodies := make([]string, 200)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// 64 tags of 205 bytes: a 13 KB registration.
			tags := make([]string, 0, 64)
			for k := range 64 {
				tags = append(tags, fmt.Sprintf("%s-%03d", strings.Repeat("t", 200), k))
			}
			body := fmt.Sprintf(`{"url":"http://10.3.%d.%d:80","slug":"big","check":{"type":"none"},"tags":[%s]}`,
				i/250, i%250, `"`+strings.Join(tags, `","`)+`"`)
			// A leader change under load answers 503 (nothing or maybe
			// written); the registration is an upsert by URL, so the client
			// sends it again, as a client would. Any other answer stands.
			for try := 0; ; try++ {
				resp, raw := do(t, http.MethodPut, f+"/registry-svc/instance", body)
				codes[i], bodies[i] = resp.StatusCode, raw
				if resp.StatusCode != http.StatusServiceUnavailable || try == 5 {
					break
				}
				time.Sleep(500 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	for i, code := range codes {
		if code != 201 {
			t.Fatalf("registration %d: %d %s", i, code, bodies[i])
		}
	}
	_, raw := do(t, http.MethodGet, f+"/registry-svc/instances?slug=big&consistent", "")
	if n := strings.Count(raw, `"id":"inst-`); n != 200 {
		t.Fatalf("%d of 200 registrations listed", n)
	}
	// A nodeUrl of a megabyte is refused where it enters, not committed.
	resp, body := do(t, http.MethodPut, f+"/registry-svc/instance",
		fmt.Sprintf(`{"url":"http://10.4.0.1:80","nodeUrl":"http://%s:1"}`, strings.Repeat("n", 900_000)))
	if resp.StatusCode != 400 || !strings.Contains(body, `"field":"nodeUrl"`) {
		t.Fatalf("a 900 KB nodeUrl: %d %.200s", resp.StatusCode, body)
	}
}
