package testcluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi"
	"github.com/rosterhq/roster/node"
)

// contract checks real traffic against the OpenAPI document a node
// serves: every request and every answer, with kin-openapi's validator.
type contract struct {
	doc    *openapi3.T
	router routers.Router

	mu       sync.Mutex
	problems []string
	// seen: per operation ("GET /registry-svc/instances"), the statuses
	// its answers had.
	seen map[string]map[int]bool
}

func init() {
	// Backups and the change stream are JSON lines: each line must be
	// what the schema says.
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", ndjsonDecoder)
}

func ndjsonDecoder(body io.Reader, _ http.Header, schema *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
	var last any = map[string]any{}
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var v any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if err := schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		last = v
	}
	return last, sc.Err()
}

func loadContract(t *testing.T, raw []byte) *contract {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		t.Fatalf("the served document does not load: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("the served document is not valid OpenAPI: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("the document is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	doc.Servers = nil // any node of the test cluster
	// OpenAPI path parameters are one segment; a KV key keeps its
	// slashes. The router (not the document) is told so, in gorilla's
	// syntax; operations are still named by the document's path.
	if kv := doc.Paths.Value(kvPath); kv != nil {
		doc.Paths.Delete(kvPath)
		doc.Paths.Set(kvRoute, kv)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &contract{doc: doc, router: router, seen: map[string]map[int]bool{}}
}

const (
	kvPath  = "/registry-svc/kv/{key}"
	kvRoute = "/registry-svc/kv/{key:.*}"
)

func (k *contract) problem(format string, args ...any) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.problems = append(k.problems, fmt.Sprintf(format, args...))
}

// validating is a RoundTripper that checks each exchange against the
// contract.
type validating struct {
	base http.RoundTripper
	k    *contract
}

func (v *validating) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body.Close()
		req.Body = http.NoBody
		if len(body) > 0 {
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
	}
	what := req.Method + " " + req.URL.RequestURI()
	route, params, err := v.k.router.FindRoute(req)
	if err != nil {
		v.k.problem("%s: no operation in the document (%v)", what, err)
		return v.base.RoundTrip(req)
	}
	check := req.Clone(req.Context())
	check.Body = io.NopCloser(bytes.NewReader(body))
	in := &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	reqErr := openapi3filter.ValidateRequest(req.Context(), in)
	resp, err := v.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	op := req.Method + " " + strings.Replace(route.Path, kvRoute, kvPath, 1)
	v.k.mu.Lock()
	if v.k.seen[op] == nil {
		v.k.seen[op] = map[int]bool{}
	}
	v.k.seen[op][resp.StatusCode] = true
	v.k.mu.Unlock()
	if reqErr != nil && resp.StatusCode < 400 {
		v.k.problem("%s: the document refuses the request (%v) but the node answered %d", what, reqErr, resp.StatusCode)
	}
	if route.Path == "/registry-svc/events" && resp.StatusCode == http.StatusOK {
		// A stream does not end: its lines are checked as they are read
		// (eventLines).
		return resp, nil
	}
	rb, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(rb))
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(rb)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		v.k.problem("%s: answer %d does not match the document: %v\n%s", what, resp.StatusCode, err, clip(rb))
	}
	return resp, nil
}

func clip(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

// TestTheAPIMatchesItsOpenAPIDocument sends real requests to a test
// cluster with TLS and tokens (each route, its success and its errors)
// and validates every request and answer against the document the nodes
// serve; the document and the route table must name the same routes.
func TestTheAPIMatchesItsOpenAPIDocument(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3, TLS: true, ACL: true,
		Configure: func(_ int, cfg *node.Config) { cfg.EventHistory = 8 }})
	ctx := t.Context()
	f := follower(c)
	base := c.Member(f).URL
	tc, err := c.PKI().ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	plain := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: time.Minute}
	resp, err := plain.Get(base + "/registry-svc/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("openapi.json: HTTP %d", resp.StatusCode)
	}
	if embedded, _ := httpapi.OpenAPIJSON(); !bytes.Equal(served, embedded) {
		t.Fatal("the node serves another document than the one in the repository")
	}
	k := loadContract(t, served)
	hc := &http.Client{Transport: &validating{base: &http.Transport{TLSClientConfig: tc}, k: k}, Timeout: time.Minute}

	// sendAt makes one request to a node through the validator and checks
	// its status; send makes it to the follower.
	sendAs := func(node, contentType, method, path, body, token string, want int) string {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, node+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Errorf("%s %s: HTTP %d, want %d: %s", method, path, resp.StatusCode, want, clip(b))
		}
		return string(b)
	}
	sendAt := func(node, method, path, body, token string, want int) string {
		t.Helper()
		return sendAs(node, "application/json", method, path, body, token, want)
	}
	send := func(method, path, body, token string, want int) string {
		t.Helper()
		return sendAt(base, method, path, body, token, want)
	}
	field := func(body, name string) string {
		var m map[string]any
		_ = json.Unmarshal([]byte(body), &m)
		for _, part := range strings.Split(name, ".") {
			switch v := m[part].(type) {
			case map[string]any:
				m = v
			case string:
				return v
			}
		}
		return ""
	}

	// Tokens: the first through bootstrap (201, then 409).
	mgmt := field(send("POST", "/registry-svc/acl/bootstrap", "", "", 201), "secretId")
	if mgmt == "" {
		t.Fatal("bootstrap gave no secret")
	}
	c.UseToken(mgmt)
	send("POST", "/registry-svc/acl/bootstrap", "", "", 409)
	created := send("POST", "/registry-svc/tokens", `{"description":"viewer","permissions":["registry-svc:instance:view"],"ttl":"1h"}`, mgmt, 201)
	viewer, viewerID := field(created, "secretId"), field(created, "accessorId")
	send("POST", "/registry-svc/tokens", `{"permissions":[]}`, mgmt, 400)
	send("POST", "/registry-svc/tokens", `{"permissions":["registry-svc:nope"]}`, mgmt, 400)
	within(t, 10*time.Second, "the viewer token reaches the follower", func() error {
		if _, err := as(t, c, f, viewer).Do(ctx, http.MethodGet, "/registry-svc/token/self", nil, nil); statusOf(err) != http.StatusOK {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	send("GET", "/registry-svc/tokens", "", mgmt, 200)
	send("GET", "/registry-svc/tokens", "", viewer, 403)
	send("GET", "/registry-svc/token/self", "", viewer, 200)
	send("GET", "/registry-svc/token/self", "", "rst_nope", 401)

	// Instances.
	in := send("PUT", "/registry-svc/instance", `{"url":"http://10.7.0.1:8080","slug":"oa","tags":["a","b"],"check":{"type":"tcp","interval":"5s"}}`, mgmt, 201)
	id := field(in, "instance.id")
	ttl := field(send("PUT", "/registry-svc/instance", `{"host":"oa-ttl","port":9000,"slug":"oa","check":{"type":"ttl","ttl":"1m"}}`, mgmt, 201), "instance.id")
	send("PUT", "/registry-svc/instance", `{"host":"h","port":70000}`, mgmt, 400)
	send("PUT", "/registry-svc/instance", `{"url":"http://10.7.0.2:1","bogus":1}`, mgmt, 400)
	send("PUT", "/registry-svc/instance", `{"url":"http://10.7.0.3:1"}`, viewer, 403)
	send("PUT", "/registry-svc/instance", `{"url":"http://10.7.0.3:1"}`, "", 401)
	send("GET", "/registry-svc/instances?slug=oa&tag=a&tag=b", "", viewer, 200)
	send("GET", "/registry-svc/instances?status=Bogus", "", viewer, 400)
	send("GET", "/registry-svc/instances?consistent", "", viewer, 200)
	send("GET", "/registry-svc/instances?index=1&wait=1s", "", viewer, 200)
	send("GET", "/registry-svc/instances?wait=1s", "", viewer, 400)
	send("GET", "/registry-svc/services", "", viewer, 200)
	send("GET", "/registry-svc/services?index=x", "", viewer, 400)
	send("PUT", "/registry-svc/instance/"+id+"/status", `{"status":"Healthy","reason":"checked by hand"}`, mgmt, 200)
	send("PUT", "/registry-svc/instance/"+id+"/status", `{"status":"Nope"}`, mgmt, 400)
	send("PUT", "/registry-svc/instance/nope/status", `{"status":"Healthy"}`, mgmt, 404)
	send("PUT", "/registry-svc/instance/"+ttl+"/heartbeat", "", mgmt, 200)
	send("PUT", "/registry-svc/instance/"+id+"/heartbeat", "", mgmt, 409)
	send("PUT", "/registry-svc/instances/status", fmt.Sprintf(`{"updates":[{"id":%q,"status":"Unhealthy","from":"Healthy","reason":"batch"},{"id":"nope","status":"Healthy"}]}`, id), mgmt, 200)
	send("PUT", "/registry-svc/instances/status", `{"updates":[{"status":"Healthy"}]}`, mgmt, 400)

	// The change stream: the first lines of one of instances and nodes,
	// each checked against the Event schema; and its errors.
	events := k.streamLines(t, hc, base+"/registry-svc/events?kind=instance,node", mgmt)
	send("PUT", "/registry-svc/instance", `{"url":"http://10.7.0.9:8080","slug":"oa-stream"}`, mgmt, 201)
	kinds := map[string]bool{}
	for !kinds["instance"] || !kinds["node"] {
		select {
		case e := <-events:
			kind, _ := e["kind"].(string)
			kinds[kind] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("the stream showed only %v", kinds)
		}
	}
	send("GET", "/registry-svc/events?kind=bogus", "", mgmt, 400)
	send("GET", "/registry-svc/events?kind=node", "", viewer, 403)
	for i := range 10 { // past the history of 8
		send("PUT", "/registry-svc/instance", fmt.Sprintf(`{"url":"http://10.7.1.%d:80","slug":"oa-bulk"}`, i+1), mgmt, 201)
	}
	within(t, 10*time.Second, "an index older than the history is gone", func() error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/registry-svc/events?index=1", nil)
		req.Header.Set("Authorization", "Bearer "+mgmt)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusGone {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	})

	// Definitions.
	send("PUT", "/registry-svc/definition", `{"definition":{"id":"oa-def","image":{"name":"nginx:1","internalPorts":[80]},"envars":[{"key":"A","value":"1"}]}}`, mgmt, 201)
	send("PUT", "/registry-svc/definition", `{}`, mgmt, 400)
	send("GET", "/registry-svc/definitions", "", mgmt, 200)
	send("GET", "/registry-svc/definitions", "", viewer, 403)
	send("DELETE", "/registry-svc/definition/oa-def", "", mgmt, 204)
	send("DELETE", "/registry-svc/definition/oa-def", "", mgmt, 404)

	// Nodes and the cluster.
	list := send("POST", "/registry-svc/nodes", `{}`, mgmt, 200)
	send("POST", "/registry-svc/nodes", `{"hasGpu":false,"ids":["`+c.Member(0).Config.NodeID+`"]}`, mgmt, 200)
	send("POST", "/registry-svc/nodes", `{"minFreeGpuMemoryMiB":-1}`, mgmt, 400)
	send("POST", "/registry-svc/nodes?index=1&wait=1s", ``, mgmt, 200)
	send("POST", "/registry-svc/nodes?wait=1s", `{}`, mgmt, 400)
	if !strings.Contains(list, `"role":"leader"`) {
		t.Errorf("nodes: %s", clip([]byte(list)))
	}
	send("GET", "/registry-svc/node/self", "", mgmt, 200)
	send("DELETE", "/registry-svc/node/nope", "", mgmt, 404)
	send("DELETE", "/registry-svc/node/"+c.Member(c.Leader()).Config.NodeID, "", mgmt, 409)
	send("GET", "/registry-svc/cluster/status", "", mgmt, 200)
	send("GET", "/registry-svc/registrator", "", mgmt, 200)
	send("GET", "/registry-svc/registrator?x=1", "", mgmt, 400)
	ring := send("GET", "/registry-svc/keyring", "", mgmt, 200)
	var kr api.Keyring
	if err := json.Unmarshal([]byte(ring), &kr); err != nil || len(kr.Nodes) == 0 || kr.Nodes[0].Primary == "" {
		t.Fatalf("keyring %s: %v", ring, err)
	}
	send("PUT", "/registry-svc/keyring", fmt.Sprintf(`{"op":"use","keyId":%q}`, kr.Nodes[0].Primary), mgmt, 200)
	send("PUT", "/registry-svc/keyring", `{"op":"bogus"}`, mgmt, 400)

	// The KV tree.
	sendAs(base, "application/octet-stream", "PUT", "/registry-svc/kv/demi/lab42/felix/api/url", "http://pc1:8000", mgmt, 200)
	sendAs(base, "application/octet-stream", "PUT", "/registry-svc/kv/demi/lab42/felix/api/url?cas=0", "x", mgmt, 409)
	sendAs(base, "application/octet-stream", "PUT", "/registry-svc/kv/a//b", "x", mgmt, 400)
	send("PUT", "/registry-svc/kv/demi/lab42/felix/api/json", `{"any":"json"}`, mgmt, 200)
	send("GET", "/registry-svc/kv/demi/lab42/felix/api/url", "", mgmt, 200)
	send("GET", "/registry-svc/kv/demi/lab42/felix/api/url?raw", "", mgmt, 200)
	send("GET", "/registry-svc/kv/demi/lab42/?keys", "", mgmt, 200)
	send("GET", "/registry-svc/kv/demi/?recurse&consistent", "", mgmt, 200)
	send("GET", "/registry-svc/kv/demi/none", "", mgmt, 404)
	send("GET", "/registry-svc/kv/demi/lab42/felix/api/url", "", viewer, 403)
	send("DELETE", "/registry-svc/kv/demi/lab42/felix/api/json", "", mgmt, 200)
	send("DELETE", "/registry-svc/kv/demi/lab42/felix/api/json", "", mgmt, 404)
	send("DELETE", "/registry-svc/kv/demi/?recurse", "", mgmt, 200)

	// Backups.
	backup := send("GET", "/registry-svc/snapshot", "", mgmt, 200)
	restore := func(body string, want int) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, base+"/registry-svc/snapshot", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-ndjson")
		req.Header.Set("Authorization", "Bearer "+mgmt)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("restore: HTTP %d, want %d", resp.StatusCode, want)
		}
	}
	restore(backup, 200)
	restore(`{"roster":"not a backup"}`+"\n", 400)
	send("GET", "/registry-svc/snapshot", "", viewer, 403)

	// Operations.
	send("GET", "/registry-svc/openapi.json", "", "", 200)
	send("GET", "/metrics", "", mgmt, 200)
	send("GET", "/healthz", "", "", 200)
	send("GET", "/health", "", "", 200)
	send("GET", "/readyz", "", "", 200)

	// Every governed route refuses a request without a token (401): the
	// error answer of every route is checked at least once.
	routes := c.Agent(f).Routes()
	for _, r := range routes {
		if r.Permission == "" {
			continue
		}
		path := strings.NewReplacer(":id", "x", "*url", "x", "*key", "x").Replace(r.Path)
		send(r.Method, path, "", "", 401)
	}

	// Removals last: the instance, the token, and a follower that leaves.
	send("DELETE", "/registry-svc/instance/"+id, "", mgmt, 204)
	send("DELETE", "/registry-svc/instance/"+id, "", mgmt, 404)
	send("DELETE", "/registry-svc/token/"+viewerID, "", mgmt, 204)
	send("DELETE", "/registry-svc/token/"+viewerID, "", mgmt, 404)
	// The other follower leaves, and is then removed.
	other := 3 - f - c.Leader()
	sendAt(c.Member(other).URL, "PUT", "/registry-svc/agent/leave", "", mgmt, 202)
	gone := c.Member(other).Config.NodeID
	within(t, 20*time.Second, "the node that left is removed", func() error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, base+"/registry-svc/node/"+gone, nil)
		req.Header.Set("Authorization", "Bearer "+mgmt)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	})

	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range k.problems {
		t.Error(p)
	}
	// The document and the route table name the same routes, and every
	// operation was seen to succeed.
	table := map[string]bool{}
	for _, r := range routes {
		table[r.Method+" "+strings.NewReplacer(":id", "{id}", "*url", "{url}", "*key", "{key}").Replace(r.Path)] = true
	}
	probes := []string{"GET /healthz", "GET /health", "GET /readyz"}
	for path, item := range k.doc.Paths.Map() {
		path = strings.Replace(path, kvRoute, kvPath, 1)
		for method := range item.Operations() {
			op := method + " " + path
			if !table[op] && !slices.Contains(probes, op) {
				t.Errorf("the document has %s, the server has no such route", op)
			}
			delete(table, op)
			ok := false
			for status := range k.seen[op] {
				ok = ok || status < 300
			}
			if !ok {
				t.Errorf("%s was never seen to succeed (statuses %v)", op, k.seen[op])
			}
		}
	}
	for op := range table {
		t.Errorf("the server has %s, the document does not", op)
	}
}

// streamLines opens the change stream (NDJSON) through the validator and
// returns its lines, each checked against the document's StreamLine schema.
func (k *contract) streamLines(t *testing.T, hc *http.Client, url, token string) <-chan map[string]any {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Accept", "application/x-ndjson")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("events: HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	schema := k.doc.Components.Schemas["StreamLine"]
	out := make(chan map[string]any, 64)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 8<<20)
		for sc.Scan() {
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			var v map[string]any
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				k.problem("event line %q: %v", sc.Text(), err)
				continue
			}
			if err := schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
				k.problem("event %s does not match the StreamLine schema: %v", clip(sc.Bytes()), err)
			}
			select {
			case out <- v:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
