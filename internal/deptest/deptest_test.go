package deptest

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/rosterhq/roster"

// layer of every package of the module: a package may import only packages
// of a lower layer (internal/* helpers are layer 0 and import nothing of
// ours but each other). A new package must be placed here, on purpose.
var layer = map[string]int{
	"api":               0,
	"internal/faultnet": 0, "internal/logbridge": 0, "internal/nvmltest": 0, "internal/deptest": 0, "internal/rounds": 0, "internal/httpbody": 0, "internal/jsonw": 0, "internal/monotonic": 0, "internal/oneshot": 0, "internal/oneshot/oneshottest": 0,
	"certs":           1, // the CA and certificates (crypto and api only)
	"gossip/resource": 0,
	"fsm":             1, "gossip/collect": 1, "gossip": 2,
	"node":           3,
	"node/health":    4, // the health checks
	"forward":        4, // the road to the leader
	"httpapi/client": 5, "httpapi": 6, "registrator": 6,
	"agent":       7,
	"testcluster": 8, "bench": 9, "cli": 10,
	"": 11, // main
	// examples/demi/server is the DeMi example's stand-in service: a main
	// of its own that imports nothing of the project.
	"examples/demi/server": 0,
}

// forbidden are outside packages a package must never link, directly or
// not: the client stays free of the engine, the state machine of the
// network, gossip of Raft, the engine of HTTP and the command line.
var forbidden = map[string][]string{
	"api":            {"github.com/hashicorp/", "github.com/gin-gonic/", "net/http"},
	"httpapi/client": {"github.com/hashicorp/raft", "github.com/hashicorp/go-memdb", "github.com/hashicorp/memberlist", "github.com/gin-gonic/"},
	"fsm":            {"github.com/gin-gonic/", "github.com/hashicorp/memberlist"},
	"gossip":         {"github.com/hashicorp/raft"},
	"node":           {"github.com/gin-gonic/", "github.com/spf13/cobra", module + "/httpapi"},
	"forward":        {"github.com/gin-gonic/", "github.com/hashicorp/memberlist", module + "/node"},
	// The registrator writes through the HTTP API like any client.
	"registrator": {"github.com/hashicorp/raft", "github.com/hashicorp/go-memdb", "github.com/gin-gonic/", module + "/node", module + "/fsm"},
}

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func rel(path string) (string, bool) {
	if path == module {
		return "", true
	}
	r, ok := strings.CutPrefix(path, module+"/")
	return r, ok
}

func TestImportsRunOneWay(t *testing.T) {
	for _, p := range listPackages(t) {
		name, _ := rel(p.ImportPath)
		mine, known := layer[name]
		if !known {
			t.Errorf("package %q has no layer in deptest: place it in ARCHITECTURE.md's order", name)
			continue
		}
		for _, imp := range p.Imports {
			dep, ours := rel(imp)
			if !ours {
				continue
			}
			if theirs := layer[dep]; theirs >= mine && !(strings.HasPrefix(name, "internal/") && strings.HasPrefix(dep, "internal/")) {
				t.Errorf("%s (layer %d) imports %s (layer %d): imports run one way", name, mine, dep, theirs)
			}
		}
		if name != "testcluster" && name != "cli" && name != "bench" && slices.Contains(p.Imports, module+"/testcluster") {
			t.Errorf("%s imports testcluster", name)
		}
		if slices.Contains(p.Imports, "testing") {
			t.Errorf("production code of %s imports testing", name)
		}
	}
}

func TestNoForbiddenDependencies(t *testing.T) {
	for _, p := range listPackages(t) {
		name, _ := rel(p.ImportPath)
		// The state machine must not speak HTTP itself (raft, which it
		// implements an interface of, links net/http on its own account).
		if name == "fsm" && slices.Contains(p.Imports, "net/http") {
			t.Errorf("fsm imports net/http")
		}
		for _, bad := range forbidden[name] {
			for _, d := range p.Deps {
				if d == bad || strings.HasPrefix(d, bad) {
					t.Errorf("%s links %s", name, d)
				}
			}
		}
	}
}
