package testcluster

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The seed's Proxy Svc routing: /{slug}/... goes to an instance of the slug,
// Healthy first, Unknown only when none is Healthy, never Unhealthy.
func TestProxyRoutesBySlug(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3})
	f := c.Member(follower(c)).URL
	backend := func(name string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s %s", name, r.Method, r.URL.RequestURI())
		}))
		t.Cleanup(s.Close)
		return s
	}
	a, b, u, sick := backend("a"), backend("b"), backend("u"), backend("sick")
	register := func(url, status string) {
		t.Helper()
		// Statuses here are the test's word, not a health check's.
		body := fmt.Sprintf(`{"url":%q,"slug":"user-svc","status":%q,"check":{"type":"none"}}`, url, status)
		if resp, raw := do(t, "PUT", f+"/registry-svc/instance", body); resp.StatusCode != 201 {
			t.Fatalf("register %s: %d %s", url, resp.StatusCode, raw)
		}
	}
	register(a.URL, "Healthy")
	register(b.URL, "Healthy")
	register(u.URL, "Unknown")
	register(sick.URL, "Unhealthy")
	seen := map[string]int{}
	for range 6 {
		resp, body := do(t, "GET", f+"/user-svc/api/users?page=2", "")
		if resp.StatusCode != 200 || !strings.HasSuffix(body, " GET /user-svc/api/users?page=2") {
			t.Fatalf("proxied GET: %d %q", resp.StatusCode, body)
		}
		seen[strings.Fields(body)[0]]++
	}
	if seen["a"] != 3 || seen["b"] != 3 {
		t.Fatalf("want round robin over the two Healthy instances, got %v", seen)
	}

	// A Healthy instance that is down: GETs still succeed on the other.
	register(a.URL, "Unhealthy")
	register("http://127.0.0.1:1", "Healthy")
	for range 4 {
		if resp, body := do(t, "GET", f+"/user-svc/x", ""); resp.StatusCode != 200 || !strings.HasPrefix(body, "b ") {
			t.Fatalf("GET with a dead Healthy instance: %d %q", resp.StatusCode, body)
		}
	}
	// Non-idempotent requests are not retried: a POST may meet the dead one.
	codes := map[int]int{}
	for range 4 {
		resp, _ := do(t, "POST", f+"/user-svc/orders", `{"n":1}`)
		codes[resp.StatusCode]++
	}
	if codes[200] == 0 || codes[502] == 0 || codes[200]+codes[502] != 4 {
		t.Fatalf("POSTs: %v, want some 200 and some 502", codes)
	}

	// No Healthy instance: Unknown ones serve; none usable: 503.
	register(b.URL, "Unhealthy")
	register("http://127.0.0.1:1", "Unhealthy")
	if resp, body := do(t, "GET", f+"/user-svc/health", ""); resp.StatusCode != 200 || body != "u GET /user-svc/health" {
		t.Fatalf("Unknown fallback: %d %q", resp.StatusCode, body)
	}
	register(u.URL, "Stopping")
	if resp, body := do(t, "GET", f+"/user-svc/health", ""); resp.StatusCode != 503 || !strings.Contains(body, `"code":"no_instance"`) ||
		resp.Header.Get("Retry-After") == "" {
		t.Fatalf("no usable instance: %d %q", resp.StatusCode, body)
	}
	if resp, body := do(t, "GET", f+"/nobody-svc/x", ""); resp.StatusCode != 404 || !strings.Contains(body, "no instance has slug") {
		t.Fatalf("unknown slug: %d %q", resp.StatusCode, body)
	}
	if resp, _ := do(t, "GET", f+"/registry-svc/nothing", ""); resp.StatusCode != 404 {
		t.Fatalf("reserved prefix proxied: %d", resp.StatusCode)
	}
}
