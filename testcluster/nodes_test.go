//go:build cgo

package testcluster

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/gossip/collect"
	"github.com/rosterhq/roster/gossip/resource"
	"github.com/rosterhq/roster/httpapi/client"
	"github.com/rosterhq/roster/internal/nvmltest"
	"github.com/rosterhq/roster/node"
)

type nodesAnswer struct {
	Nodes []resource.Node `json:"nodes"`
}

func listNodes(t *testing.T, base, body string) []resource.Node {
	t.Helper()
	resp, raw := do(t, "POST", base+"/registry-svc/nodes", body)
	if resp.StatusCode != 200 {
		t.Fatalf("POST /nodes %s: %d %s", body, resp.StatusCode, raw)
	}
	var a nodesAnswer
	if err := json.Unmarshal([]byte(raw), &a); err != nil {
		t.Fatal(err)
	}
	return a.Nodes
}

func ids(nodes []resource.Node) string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.ID)
	}
	return strings.Join(out, ",")
}

// mockGPUs gives node gpuNode go-nvml's DGX A100 mock (eight GPUs); the
// others sample no GPU.
func mockGPUs(t *testing.T, gpuNode int) func(int, *node.Config) {
	lib, _ := nvmltest.DGXA100()
	return func(i int, cfg *node.Config) {
		if i == gpuNode {
			s := collect.NewWithNVML(collect.Options{DiskPath: cfg.DataDir}, lib)
			t.Cleanup(s.Close)
			cfg.Sampler = s
		}
	}
}

// Node four has go-nvml's DGX A100 mock for GPUs; the others have none.
func TestNodesAPI(t *testing.T) {
	c := startCluster(t, Options{Nodes: 4, StatusInterval: 300 * time.Millisecond, Configure: mockGPUs(t, 3)})
	// node4's GPUs count from its usage samples; their names and totals
	// come in its inventory, a message of its own (gossiped at once, and
	// by push-pull every 5 s should the first copy be lost, as it was once
	// under CI's load): the wait is for both.
	within(t, 30*time.Second, "every node lists four with figures and node4's GPUs", func() error {
		for _, i := range c.Running() {
			nodes := listNodes(t, c.Member(i).URL, "")
			if len(nodes) != 4 {
				return fmt.Errorf("node%d lists %s", i+1, ids(nodes))
			}
			for _, n := range nodes {
				u := n.Usage
				if n.Status != "alive" || u.CPU.Total == 0 || u.Memory.Used == 0 || u.Disk.Total == 0 || n.LastHeartbeat == nil {
					return fmt.Errorf("node%d sees %s as %s with %+v", i+1, n.ID, n.Status, u)
				}
				if want := map[bool]int{true: 8, false: 0}[n.ID == "node4"]; len(n.GPUs) != want {
					return fmt.Errorf("node%d sees %d GPUs on %s", i+1, len(n.GPUs), n.ID)
				}
				for _, g := range n.GPUs {
					if g.Name == "" || g.MemoryTotal == 0 {
						return fmt.Errorf("node%d has no inventory of %s's GPU %+v yet", i+1, n.ID, g)
					}
				}
			}
		}
		return nil
	})
	within(t, 10*time.Second, "one leader, two voters, one non-voter", func() error {
		roles := map[string]int{}
		for _, n := range listNodes(t, c.Member(0).URL, "") {
			roles[n.Role]++
		}
		if roles["leader"] != 1 || roles["voter"] != 2 || roles["nonvoter"] != 1 {
			return fmt.Errorf("roles %v", roles)
		}
		return nil
	})
	for _, i := range c.Running() {
		resp, raw := do(t, "GET", c.Member(i).URL+"/registry-svc/node/self", "")
		var a struct{ Node resource.Node }
		if resp.StatusCode != 200 || json.Unmarshal([]byte(raw), &a) != nil || a.Node.ID != fmt.Sprintf("node%d", i+1) ||
			a.Node.URL != c.Member(i).URL {
			t.Fatalf("node/self of node%d: %d %s", i+1, resp.StatusCode, raw)
		}
	}

	base := c.Member(0).URL
	for body, want := range map[string]string{
		`{"hasGpu":true}`:                 "node4",
		`{"hasGpu":false}`:                "node1,node2,node3",
		`{"minFreeGpuMemoryMiB":40000}`:   "node4", // GPU 0 of the mock uses none of its 40960 MiB
		`{"minFreeGpuMemoryMiB":50000}`:   "",
		`{"ids":["node1","node3"]}`:       "node1,node3",
		`{"availabilityZone":"az2"}`:      "node2",
		`{"region":"nowhere"}`:            "",
		`{}`:                              "node1,node2,node3,node4",
		`{"ids":[],"hasGpu":true}`:        "node4",
		`{"ids":["node4"],"hasGpu":true}`: "node4",
	} {
		if got := ids(listNodes(t, base, body)); got != want {
			t.Errorf("POST /nodes %s: got %q, want %q", body, got, want)
		}
	}
	for body, want := range map[string]string{
		`{"ids":`:                    `"field":"body"`,
		`{"minFreeGpuMemoryMiB":-1}`: `"field":"minFreeGpuMemoryMiB"`,
		`{"bogus":1}`:                `"field":"bogus"`,
		`{"hasGpu":"yes"}`:           `"field":"hasGpu"`,
		`{"ids":[""]}`:               `"field":"ids[0]"`,
	} {
		if resp, raw := do(t, "POST", base+"/registry-svc/nodes", body); resp.StatusCode != 400 || !strings.Contains(raw, want) {
			t.Errorf("POST /nodes %s: %d %s", body, resp.StatusCode, raw)
		}
	}

	// The seed's jq one-liners, run by jq on the answer.
	nodesJSON := func() string {
		_, raw := do(t, "POST", base+"/registry-svc/nodes", "")
		return raw
	}
	monitor := jq(t, nodesJSON(), `.nodes[] | "\(.id) CPU:\(.usage.cpu.percent)% MEM:\(.usage.memory.percent)% DISK:\(.usage.disk.percent)% GPUs:\(.gpus | length)"`)
	if lines := strings.Split(strings.TrimSpace(monitor), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[3], "node4 CPU:") ||
		!strings.HasSuffix(lines[3], "GPUs:8") || !strings.HasSuffix(lines[0], "GPUs:0") || strings.Contains(monitor, "null") {
		t.Errorf("monitor_cluster_resources:\n%s", monitor)
	}
	avail := jq(t, nodesJSON(), `.nodes[] | select(.gpus | length > 0) | .gpus[] | select(.gpuUtilization < 50) | "\(.name) (\(.memoryUsage)MB/\(.memoryTotal)MB used)"`)
	want := "Mock NVIDIA A100-SXM4-40GB (0MB/40960MB used)\nMock NVIDIA A100-SXM4-40GB (1024MB/40960MB used)\n" +
		"Mock NVIDIA A100-SXM4-40GB (2048MB/40960MB used)\nMock NVIDIA A100-SXM4-40GB (3072MB/40960MB used)\n" +
		"Mock NVIDIA A100-SXM4-40GB (4096MB/40960MB used)\n"
	if avail != want {
		t.Errorf("find_available_gpus:\n%s\nwant:\n%s", avail, want)
	}
	metrics := jq(t, nodesJSON(), `{total_nodes: (.nodes | length), total_gpus: ([.nodes[].gpus[]] | length)} | "\(.total_nodes) \(.total_gpus)"`)
	if metrics != "4 8\n" {
		t.Errorf("node metrics: %q", metrics)
	}
	_, self := do(t, "GET", c.Member(3).URL+"/registry-svc/node/self", "")
	res := jq(t, self, `{id: .node.id, url: .node.url, availabilityZone: .node.availabilityZone, cpu: .node.usage.cpu, gpus: .node.gpus | length} | "\(.id) \(.availabilityZone) \(.cpu.total > 0) \(.gpus)"`)
	if res != "node4 az1 true 8\n" {
		t.Errorf("get_node_resources: %q", res)
	}

	// Removal: a live node is a conflict, an unknown one is not found.
	f := c.Member(follower(c)).URL
	victim := c.Member(2)
	for path, want := range map[string]int{
		"/registry-svc/node/" + url.PathEscape(victim.URL):                  409,
		"/registry-svc/node/" + url.PathEscape("http://nowhere:11337"):      404,
		"/registry-svc/node/" + url.PathEscape(victim.URL) + "?force=maybe": 400,
		"/registry-svc/node/" + url.PathEscape(victim.URL) + "?forse=true":  400,
	} {
		if resp, raw := do(t, "DELETE", f+path, ""); resp.StatusCode != want {
			t.Errorf("DELETE %s: %d %s, want %d", path, resp.StatusCode, raw, want)
		}
	}
	if err := c.Kill(2); err != nil {
		t.Fatal(err)
	}
	within(t, 15*time.Second, "node3 dead everywhere", func() error {
		for _, i := range c.Running() {
			for _, n := range listNodes(t, c.Member(i).URL, `{"ids":["node3"]}`) {
				if n.Status != "dead" {
					return fmt.Errorf("node%d sees node3 %s", i+1, n.Status)
				}
			}
		}
		return nil
	})
	f = c.Member(follower(c)).URL
	if resp, raw := do(t, "DELETE", f+"/registry-svc/node/"+url.PathEscape(victim.URL), ""); resp.StatusCode != 204 {
		t.Fatalf("DELETE dead node3 via a follower: %d %s", resp.StatusCode, raw)
	}
	within(t, 10*time.Second, "node3 gone from every list and from Raft", func() error {
		for _, i := range c.Running() {
			if got := ids(listNodes(t, c.Member(i).URL, "")); got != "node1,node2,node4" {
				return fmt.Errorf("node%d lists %s", i+1, got)
			}
			st, err := c.Client(i).ClusterStatus(t.Context())
			if err != nil {
				return err
			}
			if slices.ContainsFunc(st.Servers, func(s client.ServerStatus) bool { return s.ID == "node3" }) {
				return fmt.Errorf("node%d still has node3 in Raft", i+1)
			}
		}
		return nil
	})
	if resp, _ := do(t, "DELETE", f+"/registry-svc/node/"+url.PathEscape(victim.URL), ""); resp.StatusCode != 404 {
		t.Fatalf("second DELETE: %d", resp.StatusCode)
	}

	// Back with the same ID and ports: alive everywhere, back in Raft.
	if err := c.Restart(2); err != nil {
		t.Fatal(err)
	}
	within(t, 20*time.Second, "node3 alive again everywhere", func() error {
		for _, i := range c.Running() {
			nodes := listNodes(t, c.Member(i).URL, `{"ids":["node3"]}`)
			if len(nodes) != 1 || nodes[0].Status != "alive" || nodes[0].Role == "none" {
				return fmt.Errorf("node%d sees node3 as %+v", i+1, nodes)
			}
		}
		return nil
	})

	// force=true on a live node makes it leave. The leader refuses to
	// remove itself that way (it points at roster leave), so the victim is
	// a live node that does not lead, asked through another node.
	leader, err := c.WaitLeader(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	victimIdx := slices.IndexFunc([]int{1, 0, 3}, func(i int) bool { return i != leader })
	forced := []int{1, 0, 3}[victimIdx]
	asked := []int{0, 1, 2, 3}[slices.IndexFunc([]int{0, 1, 2, 3}, func(i int) bool { return i != forced })]
	forcedID := fmt.Sprintf("node%d", forced+1)
	if resp, raw := do(t, "DELETE", c.Member(asked).URL+"/registry-svc/node/"+forcedID+"?force=true", ""); resp.StatusCode != 204 {
		t.Fatalf("forced DELETE of live %s: %d %s", forcedID, resp.StatusCode, raw)
	}
	var left []string
	for i := range 4 {
		if i != forced {
			left = append(left, fmt.Sprintf("node%d", i+1))
		}
	}
	within(t, 15*time.Second, forcedID+" gone after a forced removal", func() error {
		for i := range 4 {
			if i == forced {
				continue
			}
			if got := ids(listNodes(t, c.Member(i).URL, "")); got != strings.Join(left, ",") {
				return fmt.Errorf("node%d lists %s", i+1, got)
			}
		}
		return nil
	})
}

// jq runs the jq program with -r over input.
func jq(t *testing.T, input, program string) string {
	t.Helper()
	path, err := exec.LookPath("jq")
	if err != nil {
		t.Fatalf("jq is needed to check the seed's scripts: %v", err)
	}
	cmd := exec.Command(path, "-r", program)
	cmd.Stdin = strings.NewReader(input)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("jq %s: %v\n%s", program, err, out)
	}
	return string(out)
}
