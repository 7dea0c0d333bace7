package testcluster

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/httpapi"
)

// An outsider's attempts to aim the proxy and the checks inward, to loop
// the proxy through the agent, and to write from a web page: each is
// refused and the catalog keeps what it had.
func TestProxyCannotBeTurnedInward(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3, HTTP: httpapi.Options{ProxyConcurrency: 2}})
	n1 := c.Member(0).URL
	secret := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/secret.txt" {
			fmt.Fprint(w, "TOP SECRET")
			return
		}
		fmt.Fprintf(w, "app %s", r.URL.Path)
	}))
	defer secret.Close()
	register := func(body string) (int, string) {
		t.Helper()
		resp, raw := do(t, "PUT", n1+"/registry-svc/instance", body)
		return resp.StatusCode, raw
	}
	if code, raw := register(fmt.Sprintf(`{"url":%q,"slug":"app","status":"Healthy","check":{"type":"none"}}`, secret.URL)); code != 201 {
		t.Fatalf("register app: %d %s", code, raw)
	}
	count := func() int {
		_, raw := do(t, "GET", n1+"/registry-svc/instances", "")
		return strings.Count(raw, `"id":"inst-`)
	}
	before := count()

	for _, tc := range []struct{ body, want string }{
		{`{"url":"http://169.254.169.254/latest/meta-data","slug":"x"}`, "link-local"},
		{`{"url":"http://[fe80::1]:80","slug":"x"}`, "link-local"},
		{`{"url":"http://0.0.0.0:22","slug":"x"}`, "unspecified"},
		{`{"url":"http://224.0.0.1:80","slug":"x"}`, "multicast"},
		{`{"url":"gopher://127.0.0.1:70","slug":"x"}`, "scheme"},
		{`{"url":"file:///etc/passwd","slug":"x"}`, "url"},
		{`{"url":"javascript:alert(1)","slug":"x"}`, "url"},
		{fmt.Sprintf(`{"url":%q,"slug":"x"}`, n1), "node node1"},
		{fmt.Sprintf(`{"url":%q,"slug":"x"}`, strings.Replace(n1, "127.0.0.1", "[::ffff:127.0.0.1]", 1)), "node node1"},
		{fmt.Sprintf(`{"url":%q,"slug":"x"}`, strings.Replace(c.Member(2).URL, "127.0.0.1", "localhost", 1)), "node node3"},
		{fmt.Sprintf(`{"url":%q,"slug":"x"}`, strings.Replace(c.Member(2).URL, "127.0.0.1", "LocalHost.", 1)), "node node3"},
		{fmt.Sprintf(`{"url":%q,"slug":"x"}`, strings.Replace(strings.Replace(n1, "127.0.0.1", "[0:0:0:0:0:ffff:7f00:1]", 1), "http:", "HTTP:", 1)), "node node1"},
		{`{"url":"HTTP://169.254.169.254/latest","slug":"x"}`, "link-local"},
		{`{"url":"http://[::ffff:169.254.169.254]/latest","slug":"x"}`, "link-local"},
		{`{"url":"http://[0:0:0:0:0:0:0:0]:22","slug":"x"}`, "unspecified"},
		{`{"scheme":"http","ip":"169.254.169.254","port":80,"slug":"x"}`, "link-local"},
		{fmt.Sprintf(`{"url":%q,"slug":"registry-svc"}`, secret.URL), "reserved"},
		{fmt.Sprintf(`{"url":%q,"slug":"healthz"}`, secret.URL), "reserved"},
		{fmt.Sprintf(`{"url":%q,"slug":"x","details":"a\n[ERR] forged"}`, secret.URL), "control character"},
	} {
		if code, raw := register(tc.body); code != 400 || !strings.Contains(raw, tc.want) {
			t.Errorf("%s: %d %s, want 400 naming %q", tc.body, code, raw, tc.want)
		}
	}

	// Paths that leave the slug's prefix, plain or encoded.
	for _, p := range []string{"/app/../secret.txt", "/app/%2e%2e/secret.txt", "/app/%2E%2e/secret.txt", "/app/%252e%252e/secret.txt",
		"/app/..%2fsecret.txt", "/app/..%5csecret.txt"} {
		req, _ := http.NewRequest("GET", n1, nil)
		req.URL.Opaque = "//" + req.URL.Host + p // sent as written, like curl --path-as-is
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || strings.Contains(string(body), "SECRET") {
			t.Errorf("GET %s: %d %s", p, resp.StatusCode, body)
		}
	}
	if resp, body := do(t, "GET", n1+"/app/page", ""); resp.StatusCode != 200 || body != "app /app/page" {
		t.Fatalf("a plain proxied GET: %d %q", resp.StatusCode, body)
	}

	// An instance whose address forwards to the agent itself: the request
	// ends at its second pass with 508, and the agent keeps answering.
	fwd, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer fwd.Close()
	go func() {
		for {
			in, err := fwd.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", strings.TrimPrefix(n1, "http://"))
			if err != nil {
				in.Close()
				continue
			}
			go func() { io.Copy(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
	if code, raw := register(fmt.Sprintf(`{"url":"http://%s","slug":"loopy","status":"Healthy","check":{"type":"none"}}`, fwd.Addr())); code != 201 {
		t.Fatalf("register the forwarder: %d %s", code, raw)
	}
	start := time.Now()
	if resp, body := do(t, "GET", n1+"/loopy/x", ""); resp.StatusCode != http.StatusLoopDetected || !strings.Contains(body, "loop_detected") {
		t.Errorf("a proxy loop: %d %s", resp.StatusCode, body)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the loop took %v to end", took)
	}
	if resp, _ := do(t, "GET", n1+"/healthz", ""); resp.StatusCode != 200 {
		t.Errorf("healthz after the loop: %d", resp.StatusCode)
	}

	// At most ProxyConcurrency requests per slug in flight on a node.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer slow.Close()
	if code, raw := register(fmt.Sprintf(`{"url":%q,"slug":"slow","status":"Healthy","check":{"type":"none"}}`, slow.URL)); code != 201 {
		t.Fatalf("register slow: %d %s", code, raw)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); do(t, "GET", n1+"/slow/x", "") }()
	}
	time.Sleep(300 * time.Millisecond)
	if resp, body := do(t, "GET", n1+"/slow/x", ""); resp.StatusCode != 503 || !strings.Contains(body, `"busy"`) {
		t.Errorf("a third request to a slug at its limit: %d %s", resp.StatusCode, body)
	}
	close(release)
	wg.Wait()

	// A web page's write: another origin, or a body that is not JSON.
	req, _ := http.NewRequest("PUT", n1+"/registry-svc/instance", strings.NewReader(`{"url":"http://10.1.1.1:80","slug":"evil"}`))
	req.Header.Set("Origin", "http://evil.example")
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 403 {
		t.Errorf("a cross-origin write: %v %v", resp, err)
	}
	// DNS rebinding: a page on evil.example whose name now resolves to the
	// node sends an Origin equal to its Host.
	req, _ = http.NewRequest("PUT", n1+"/registry-svc/instance", strings.NewReader(`{"url":"http://10.1.1.1:80","slug":"evil"}`))
	port := n1[strings.LastIndex(n1, ":")+1:]
	req.Host = "evil.example:" + port
	req.Header.Set("Origin", "http://evil.example:"+port)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 403 {
		t.Errorf("a write from a rebound name: %v %v", resp, err)
	}
	req, _ = http.NewRequest("PUT", n1+"/registry-svc/instance", strings.NewReader(`{"url":"http://10.1.1.2:80","slug":"own","check":{"type":"none"}}`))
	req.Header.Set("Origin", n1)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 201 {
		t.Errorf("a write from the node's own origin: %v %v", resp, err)
	}
	req, _ = http.NewRequest("PUT", n1+"/registry-svc/instance", strings.NewReader(`{"url":"http://10.1.1.1:80","slug":"evil"}`))
	req.Header.Set("Content-Type", "text/plain")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 400 {
		t.Errorf("a text/plain write: %v %v", resp, err)
	}
	if got := count(); got != before+3 { // loopy, slow and own
		t.Errorf("%d instances, want %d", got, before+3)
	}
}
