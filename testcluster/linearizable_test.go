package testcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// linOp is one operation on one instance (the key): put a tag, delete, or a
// ?consistent read of its tag.
type linOp struct {
	key  int
	kind string // put, delete, get
	val  string // put: the tag written
}

// linOut is what the cluster answered. unknown: the operation may or may
// not have taken effect (5xx, timeout, broken connection).
type linOut struct {
	unknown bool
	found   bool   // delete: 204 rather than 404
	val     string // get: the tag read, "" when absent
}

// registerModel is one instance as a register: its tag, or "" when it is
// not registered. Unknown outcomes branch.
var registerModel = porcupine.NondeterministicModel{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[int][]porcupine.Operation{}
		for _, op := range h {
			k := op.Input.(linOp).key
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range byKey {
			out = append(out, ops)
		}
		return out
	},
	Init: func() []any { return []any{""} },
	Step: func(state, input, output any) []any {
		s, in, out := state.(string), input.(linOp), output.(linOut)
		switch in.kind {
		case "put":
			if out.unknown {
				return []any{s, in.val}
			}
			return []any{in.val}
		case "delete":
			switch {
			case out.unknown:
				return []any{s, ""}
			case out.found == (s != ""):
				return []any{""}
			}
			return nil
		}
		if out.val == s {
			return []any{s}
		}
		return nil
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(linOp), output.(linOut)
		return fmt.Sprintf("%s(%d,%q) -> %+v", in.kind, in.key, in.val, out)
	},
}

// Concurrent clients write, delete and read (?consistent) a few instances
// through every node while the leader is killed and brought back; the
// history must be linearizable per instance.
func TestLinearizableUnderLeaderLoss(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3})
	const keys, clients = 4, 6
	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) }
	hc := &http.Client{Timeout: 3 * time.Second}
	var mu sync.Mutex
	var history []porcupine.Operation
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	for cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(cl), 42))
			for n := 0; ctx.Err() == nil; n++ {
				running := c.Running()
				node := c.Member(running[rng.IntN(len(running))]).URL
				op := linOp{key: rng.IntN(keys)}
				switch r := rng.IntN(10); {
				case r < 4:
					op.kind, op.val = "put", fmt.Sprintf("c%d-%d", cl, n)
				case r < 6:
					op.kind = "delete"
				default:
					op.kind = "get"
				}
				call := now()
				out, record := linDo(hc, node, op)
				ret := now()
				if !record {
					continue // a read that failed, or a write refused before it was sent
				}
				if out.unknown {
					ret = math.MaxInt64 // it may take effect at any later time
				}
				mu.Lock()
				history = append(history, porcupine.Operation{ClientId: cl, Input: op, Call: call, Output: out, Return: ret})
				mu.Unlock()
			}
		}()
	}
	// The fault: kill the leader a third of the way in, restart it later.
	time.Sleep(2500 * time.Millisecond)
	l := c.Leader()
	if err := c.Kill(l); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	if err := c.Restart(l); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	ops, unknown := len(history), 0
	for _, op := range history {
		if op.Output.(linOut).unknown {
			unknown++
		}
	}
	t.Logf("%d operations on %d instances, %d with unknown outcome; leader %d killed and restarted", ops, keys, unknown, l)
	if ops < 100 {
		t.Fatalf("only %d operations recorded", ops)
	}
	res, info := porcupine.CheckOperationsVerbose(registerModel.ToModel(), history, 60*time.Second)
	if res != porcupine.Ok {
		explainNonLinearizable(t, info)
		t.Fatalf("history is not linearizable (%s)", res)
	}
}

// explainNonLinearizable logs, for each instance whose history fails, the
// end of the longest linearizable prefix and the operations that could not
// follow it, with times in ms since the start.
func explainNonLinearizable(t *testing.T, info porcupine.LinearizationInfo) {
	t.Helper()
	ms := func(ns int64) string {
		if ns == math.MaxInt64 {
			return "?"
		}
		return fmt.Sprintf("%.1f", float64(ns)/1e6)
	}
	describe := func(op porcupine.Operation) string {
		return fmt.Sprintf("[%s, %s] client %d %s", ms(op.Call), ms(op.Return), op.ClientId,
			registerModel.DescribeOperation(op.Input, op.Output))
	}
	for _, partials := range info.PartialLinearizationsOperations() {
		var longest []porcupine.Operation
		for _, p := range partials {
			if len(p) > len(longest) {
				longest = p
			}
		}
		if len(longest) == 0 {
			continue
		}
		done := map[string]bool{}
		for _, op := range longest {
			done[describe(op)] = true
		}
		t.Logf("key %d: %d operations linearize; the last ones:", longest[0].Input.(linOp).key, len(longest))
		for _, op := range longest[max(0, len(longest)-6):] {
			t.Logf("   %s", describe(op))
		}
	}
}

// linDo runs one operation. record is false when the operation certainly
// had no effect and returned nothing worth checking.
func linDo(hc *http.Client, node string, op linOp) (linOut, bool) {
	id := fmt.Sprintf("lin-%d", op.key)
	var req *http.Request
	switch op.kind {
	case "put":
		body := fmt.Sprintf(`{"id":%q,"url":"http://10.77.0.%d:80","tags":[%q],"check":{"type":"none"}}`, id, op.key+1, op.val)
		req, _ = http.NewRequest(http.MethodPut, node+"/registry-svc/instance", strings.NewReader(body))
	case "delete":
		req, _ = http.NewRequest(http.MethodDelete, node+"/registry-svc/instance/"+id, nil)
	default:
		req, _ = http.NewRequest(http.MethodGet, node+"/registry-svc/instances?consistent&id="+id, nil)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return linOut{unknown: true}, op.kind != "get"
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	switch {
	case resp.StatusCode >= 500 || (resp.StatusCode >= 300 && resp.StatusCode != http.StatusNotFound):
		// 5xx may follow a write that happened (an idempotent write is
		// retried through an election); a read that failed tells nothing.
		return linOut{unknown: true}, op.kind != "get"
	case op.kind == "put":
		return linOut{}, true
	case op.kind == "delete":
		return linOut{found: resp.StatusCode == http.StatusNoContent}, true
	}
	var list struct {
		Instances []struct {
			Tags []string `json:"tags"`
		} `json:"instances"`
	}
	if json.Unmarshal(raw, &list) != nil || len(list.Instances) > 1 {
		return linOut{}, false
	}
	if len(list.Instances) == 1 && len(list.Instances[0].Tags) == 1 {
		return linOut{val: list.Instances[0].Tags[0]}, true
	}
	return linOut{}, true
}
