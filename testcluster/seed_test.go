package testcluster

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi/client"
)

// buildRoster builds the roster binary the way `make build` does.
func buildRoster(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "roster")
	out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func mustFreeBase(t *testing.T, n int) int {
	t.Helper()
	base, err := FreeBasePort(n)
	if err != nil {
		t.Fatal(err)
	}
	return base
}

// seedShell runs bash with the seed's functions loaded, `oo` being roster.
type seedShell struct {
	t   *testing.T
	bin string
	dir string
	// env points the CLI at the cluster's CA and operator certificate.
	env []string
}

func (s seedShell) run(addr, script string) string {
	s.t.Helper()
	cmd := exec.Command("bash", "-c", `set -o pipefail
oo() { "$ROSTER_BIN" "$@"; }
source testdata/seed_functions.sh
`+script)
	cmd.Dir = "."
	cmd.Env = append(append(cleanEnv(os.Environ()), s.env...), "ROSTER_BIN="+s.bin, "ROSTER_ADDR="+addr, "SEED_DIR="+s.dir, "TERM=dumb")
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("bash: %v\nscript:\n%s\noutput:\n%s", err, script, out)
	}
	return string(out)
}

func mustContain(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s: missing %q in:\n%s", what, w, out)
		}
	}
}

// The seed's CLI commands, HTTP examples and shell functions, with roster
// in place of oo, against a cluster of three agent processes.
func TestSeedUsageAgainstProcessCluster(t *testing.T) {
	t.Run("open", func(t *testing.T) { seedUsage(t, false) })
	// With tokens on, the scripts run unchanged with ROSTER_TOKEN set to a
	// token holding the permissions they use (not the management token).
	t.Run("acl", func(t *testing.T) { seedUsage(t, true) })
}

func seedUsage(t *testing.T, acl bool) {
	bin := buildRoster(t)
	// Instances registered without a check get the agents' default; a
	// minute keeps the seed's made-up hosts Unknown for this whole test.
	// The seed's scripts take node URLs apart as http:// URLs (sed
	// 's|http://||'), as 1Backend serves them: this cluster runs without
	// TLS, on loopback. The CLI over TLS is exercised by the keyring test.
	c, err := StartProcesses(ProcOptions{Binary: bin, Nodes: 3, Dir: t.TempDir(), BasePort: mustFreeBase(t, 9),
		Args: []string{"--check-interval", "1m"}, Insecure: true, ACL: acl})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(10 * time.Second)
	ctx := t.Context()
	if _, err := c.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	sh := seedShell{t: t, bin: bin, dir: t.TempDir()}
	if acl {
		if _, err := c.BootstrapACL(ctx); err != nil {
			t.Fatal(err)
		}
		// Without a token the CLI is refused.
		if out, err := exec.Command(bin, "--addr", c.URL(0), "instances", "ls").CombinedOutput(); err == nil || !strings.Contains(string(out), "401") {
			t.Fatalf("instances ls without a token: %v\n%s", err, out)
		}
		tok, err := c.Client(0).CreateToken(ctx, api.CreateTokenRequest{Description: "the seed's scripts", Permissions: []string{
			api.PermInstanceView, api.PermInstanceEdit, api.PermInstanceDelete, api.PermInstanceStatus,
			api.PermDefinitionView, api.PermDefinitionEdit, api.PermDefinitionDelete, api.PermNodeView, api.PermNodeDelete,
		}})
		if err != nil {
			t.Fatal(err)
		}
		sh.env = append(sh.env, "ROSTER_TOKEN="+tok.SecretID)
	}
	n1, n2, n3 := c.URL(0), c.URL(1), c.URL(2)

	// Instances behind real HTTP servers: /health answers, and one of them
	// lists its dependencies.
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") }))
	defer live.Close()
	deps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `{"dependencies": ["database", "redis"]}`)
	}))
	defer deps.Close()
	dead := "http://127.0.0.1:1" // nothing listens on port 1

	// The seed's registration forms, through different nodes (nodeUrl
	// defaults to the node that took the request).
	sh.run(n1, `oo put /registry-svc/instance --url="`+live.URL+`" --slug="user-svc" --status=Healthy`)
	sh.run(n2, `oo put /registry-svc/instance --url="`+dead+`" --slug="user-svc" --status=Unhealthy`)
	// Its status is its owner's word (check none): the cleanup script below
	// must find an Unhealthy instance that still answers /health.
	sh.run(n3, `oo put /registry-svc/instance --url="`+deps.URL+`" --slug="order-svc" --status=Unhealthy --check='{"type": "none"}'`)
	out := sh.run(n1, `setup_dev_services
oo put /registry-svc/instance --id="inst_custom_123" --url="http://api-service:8080" --deploymentId="depl_abc123"
oo put /registry-svc/instance --scheme="https" --host="api.example.com" --port=443 --path="/v1"
oo put /registry-svc/instance --scheme="http" --ip="192.168.1.100" --port=8080
oo get /registry-svc/instances?deploymentId=depl_abc123 | jq -r '.instances[].id'
oo get /registry-svc/instances?host=api.example.com | jq -r '.instances[].url'
oo get /registry-svc/instances?slug=user-svc | jq -r '.instances | length'
oo get "/registry-svc/instances?nodeUrl=`+n2+`" | jq -r '.instances[].url'
oo get /registry-svc/instances | jq -c '[.instances[] | select(.status == "Healthy") | .url]'`)
	mustContain(t, "registration and discovery", out, "inst_custom_123\n", "https://api.example.com:443/v1\n", "\n2\n",
		dead+"\n", `["`+live.URL+`"]`)

	// monitor_instances, one round (the seed loops forever: sleep ends it).
	out = sh.run(n2, `( sleep() { exit 0; }; monitor_instances )`)
	mustContain(t, "monitor_instances", out, "=== Instance Health Status", "✅ user-svc ("+live.URL+")",
		"❌ user-svc ("+dead+")", "❌ order-svc ("+deps.URL+")", "❓ N/A (http://localhost:3001) - Unknown", "---")

	// registry_dashboard, one frame. Definitions first: the seed's files.
	writeSeedDefinitions(t, sh.dir)
	out = sh.run(n3, `cd "$SEED_DIR"
oo definitions save nginx-service.yaml
oo definitions save api-service.yaml
oo def save custom-app.yaml
oo put /registry-svc/definition --definition='{"id": "my-svc", "image": {"name": "nginx:latest", "internalPorts": [80]}}'
oo definitions list; oo definitions ls; oo def ls -o json | jq -r '.definitions[].id'`)
	mustContain(t, "definitions", out, "Saved definition nginx-svc", "Saved definition api-svc", "Saved definition custom-app",
		"nginx-svc", "api-svc\ncustom-app\nmy-svc\nnginx-svc\n")
	// Statuses are the health checks' word: the first probe of each runs
	// within a couple of seconds of registration, the next a minute later,
	// and one of the seed's made-up addresses may well accept connections
	// where this runs. So the dashboard is compared with the catalog read
	// just before and just after it, retried if a first probe landed in
	// between.
	var byStatus map[api.Status]int
	for try := 0; ; try++ {
		byStatus = statusCounts(t, c.Client(0))
		out = sh.run(n1, `( sleep() { exit 0; }; clear() { :; }; registry_dashboard )`)
		if after := statusCounts(t, c.Client(0)); fmt.Sprint(after) == fmt.Sprint(byStatus) || try == 5 {
			break
		}
		time.Sleep(time.Second)
	}
	if byStatus[api.StatusHealthy] < 1 || byStatus[api.StatusUnhealthy] != 2 {
		t.Errorf("statuses after the first checks: %v; want live Healthy, dead and deps Unhealthy", byStatus)
	}
	mustContain(t, "registry_dashboard", out, " Nodes: 3", " Instances: 9", " Definitions: 4",
		fmt.Sprintf(" ✅ Healthy: %d\n", byStatus[api.StatusHealthy]), " ❌ Unhealthy: 2",
		fmt.Sprintf(" ❓ Unknown: %d\n", byStatus[api.StatusUnknown]), " user-svc: 2 instances", " order-svc: 1 instances", " unknown: 6 instances",
		"node1: CPU ", "node3: CPU ", "| GPUs 0")

	// monitor_service_mesh: topology and per-node counts (all three nodes
	// are on 127.0.0.1, so the lines differ only in their counts).
	out = sh.run(n2, `monitor_service_mesh`)
	mustContain(t, "monitor_service_mesh", out, "user-svc -> "+live.URL+" [Healthy] on 127.0.0.1",
		"order-svc -> "+deps.URL+" [Unhealthy] on 127.0.0.1", "=== Node Distribution ===")
	counts := regexp.MustCompile(`(?m)^127\.0\.0\.1: (\d+) instances$`).FindAllStringSubmatch(out, -1)
	if got := fmt.Sprint(counts); len(counts) != 3 || !strings.Contains(got, "[127.0.0.1: 7 instances 7]") ||
		!strings.Contains(got, "[127.0.0.1: 1 instances 1]") {
		t.Errorf("node distribution: want 7, 1 and 1 instances, got %v in:\n%s", got, out)
	}

	// map_service_dependencies: the first instance of each slug is asked
	// for /dependencies.
	out = sh.run(n1, `map_service_dependencies`)
	mustContain(t, "map_service_dependencies", out, "Service: order-svc\n Instances:\n - "+deps.URL+"\n Dependencies:\n - database ✅\n - redis ✅",
		"Service: user-svc\n Instances:\n - "+dead+"\n - "+live.URL)

	// cleanup_dead_instances: the Unhealthy instance that does not answer
	// goes; the one that answers /health stays.
	out = sh.run(n3, `cleanup_dead_instances`)
	mustContain(t, "cleanup_dead_instances", out, "Removing dead instance: ", "("+dead+")", "Removed instance ",
		"recovered: "+deps.URL)
	out = sh.run(n3, `oo i ls; echo; oo instances list -o json | jq -r '.instances[].url'`)
	urls := "\n" + out[strings.Index(out, "\n\n")+1:]
	if strings.Contains(urls, "\n"+dead+"\n") || !strings.Contains(urls, "\n"+deps.URL+"\n") || !strings.Contains(out, "INSTANCE ID") {
		t.Errorf("after cleanup:\n%s", out)
	}

	// Node views: the seed's resource one-liners and connectivity test.
	out = sh.run(n2, `monitor_cluster_resources; find_available_gpus; get_node_resources | jq -r '"\(.id) \(.gpus) \(.cpu.total > 0)"'
oo post /registry-svc/nodes | jq -r '.nodes[].url' | while read -r node_url; do test_node_connectivity "$node_url"; done
oo nodes list; oo nodes ls; oo n ls`)
	mustContain(t, "node views", out, "node1 CPU:", "node3 CPU:", "GPUs:0", "node2 0 true", "Testing node: "+n3,
		"✅ Node responds", "NODE ID", "ROLE")
	switch {
	case !acl && strings.Contains(out, "❌"):
		t.Errorf("a node failed the connectivity test:\n%s", out)
	case !acl:
		mustContain(t, "node views", out, "✅ Registry API accessible")
	case strings.Count(out, "❌ Registry API failed") != 3 || strings.Contains(out, "❌ Node"):
		// The seed's connectivity function curls /registry-svc/node/self
		// without a token: with tokens on, that call alone is refused.
		t.Errorf("with tokens, only the tokenless registry curl should fail:\n%s", out)
	}

	// Removal verbs: instances by ID, definitions by ID, nodes by URL.
	out = sh.run(n1, `id=$(oo get /registry-svc/instances?slug=order-svc | jq -r '.instances[0].id')
oo instances remove "$id"; oo instances rm inst_custom_123
oo put /registry-svc/instance --url=http://x:1 | jq -r .instance.id | xargs "$ROSTER_BIN" i rm
oo definitions remove nginx-svc; oo def rm my-svc
oo get /registry-svc/definitions | jq -r '[.definitions[].id] | join(",")'`)
	mustContain(t, "removal", out, "Removed instance inst_custom_123", "Removed definition nginx-svc", "api-svc,custom-app\n")

	// The seed's first cleanup_dead_instances removes a dead node's
	// instances; then the node itself goes.
	sh.run(n3, `oo put /registry-svc/instance --url=http://on-node3:1 --slug=n3svc`)
	// node1's local read below must already hold it: node3 may be the
	// leader, and once it is killed node1 learns of the commit only from
	// the next leader.
	sh.run(n1, `for i in $(seq 100); do oo get '/registry-svc/instances?slug=n3svc' | jq -e '.instances | length == 1' >/dev/null && break; sleep 0.05; done`)
	if err := c.Kill(2); err != nil {
		t.Fatal(err)
	}
	// The wait ends at the first "dead": 30 s is room for CI's load, under
	// which the detection once took longer than 10 s (likely Lifeguard,
	// memberlist's awareness of a slow local node, stretching timeouts).
	// The removal is the leader's to decide, by its own gossip view, which
	// may learn of the death a moment after node1 (CI once saw the 409
	// "is alive" right after node1 listed node3 dead): it is tried again
	// for up to 5 s, as an operator's script would.
	out = sh.run(n1, `source testdata/seed_node_cleanup.sh
cleanup_dead_instances "`+n3+`"
for i in $(seq 150); do oo post /registry-svc/nodes | jq -e '.nodes[] | select(.id == "node3" and .status == "dead")' >/dev/null && break; sleep 0.2; done
for i in $(seq 25); do removed=$(oo nodes remove "`+n3+`" 2>&1) && break; sleep 0.2; done
echo "$removed"
oo n ls -o json | jq -r '[.nodes[].id] | join(",")'`)
	mustContain(t, "node cleanup", out, "Cleaning up instances from dead node: "+n3, "Removing instance: ",
		"Removed node "+n3, "node1,node2\n")
}

// writeSeedDefinitions writes the seed's three definition files, indented
// as YAML (the seed's page lost the indentation).
func writeSeedDefinitions(t *testing.T, dir string) {
	files := map[string]string{
		"nginx-service.yaml": `# nginx-service.yaml
id: "nginx-svc"
image:
  name: "nginx:alpine"
  internalPorts: [80]
ports:
  - internal: 80
    host: 8080
envars:
  - key: "NGINX_HOST"
    value: "localhost"
  - key: "NGINX_PORT"
    value: "80"
`,
		"api-service.yaml": `# api-service.yaml
id: "api-svc"
image:
  name: "mycompany/api-server:v1.2.0"
  internalPorts: [8080, 9090]
ports:
  - internal: 8080
    host: 8080
  - internal: 9090
    host: 9090
envars:
  - key: "DATABASE_URL"
    value: "postgresql://localhost:5432/mydb"
  - key: "REDIS_URL"
    value: "redis://localhost:6379"
  - key: "LOG_LEVEL"
    value: "info"
apiSpecs:
  - url: "http://api-server:8080/openapi.json"
    protocolType: "OpenAPI"
    version: "3.0.0"
    metadata:
      title: "My API Service"
      description: "REST API for my application"
clients:
  - language: "javascript"
    url: "https://npmjs.com/package/my-api-client"
  - language: "go"
    url: "https://github.com/mycompany/api-client-go"
`,
		"custom-app.yaml": `# source-based-service.yaml
id: "custom-app"
repository:
  url: "https://github.com/mycompany/custom-service.git"
  version: "v2.1.0"
  buildContext: "backend"
  containerFile: "docker/Dockerfile.prod"
  internalPorts: [3000]
envars:
  - key: "NODE_ENV"
    value: "production"
  - key: "PORT"
    value: "3000"
apiSpecs:
  - url: "/api/openapi.yaml"
    protocolType: "OpenAPI"
    version: "3.0.0"
`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func statusCounts(t *testing.T, cl *client.Client) map[api.Status]int {
	t.Helper()
	list, _, err := cl.ListInstances(t.Context(), api.InstanceFilter{}, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[api.Status]int{}
	for _, in := range list {
		out[in.Status]++
	}
	return out
}
