package testcluster

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/rosterhq/roster/httpapi/client"
)

// isDialErr reports an HTTP request that failed to connect.
func isDialErr(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

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
	h := newLinHistory()
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Second)
	defer cancel()
	done := runLinClients(ctx, clusterTargets(c), clients, keys, 42, h, nil)
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
	<-done

	ops, unknown := h.counts()
	t.Logf("%d operations on %d instances, %d with unknown outcome; leader %d killed and restarted", ops, keys, unknown, l)
	if ops < 100 {
		t.Fatalf("only %d operations recorded", ops)
	}
	if res, info := h.check(); res != porcupine.Ok {
		explainNonLinearizable(t, h, info, "")
		t.Fatalf("history is not linearizable (%s)", res)
	}
}

// linHistory is the operations recorded by every client, for porcupine.
type linHistory struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

func newLinHistory() *linHistory { return &linHistory{start: time.Now()} }

func (h *linHistory) now() int64 { return int64(time.Since(h.start)) }

// add records an operation; one whose outcome is unknown may take effect
// at any later time, so it never returns.
func (h *linHistory) add(client int, op linOp, call int64, out linOut) {
	ret := h.now()
	if out.unknown {
		ret = math.MaxInt64
	}
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: op, Call: call, Output: out, Return: ret})
	h.mu.Unlock()
}

func (h *linHistory) counts() (ops, unknown int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, op := range h.ops {
		if op.Output.(linOut).unknown {
			unknown++
		}
	}
	return len(h.ops), unknown
}

func (h *linHistory) check() (porcupine.CheckResult, porcupine.LinearizationInfo) {
	h.mu.Lock()
	ops := slices.Clone(h.ops)
	h.mu.Unlock()
	return porcupine.CheckOperationsVerbose(registerModel.ToModel(), ops, 120*time.Second)
}

// linTargets are the nodes clients talk to: how many, node i's URL, and
// the ones running now (writes and consistent reads pick one at random).
type linTargets struct {
	size    int
	url     func(i int) string
	running func() []int
	// tls verifies https nodes (nil: plain http).
	tls *tls.Config
	// token is sent as the bearer token ("": none).
	token string
}

// client is an HTTP client of the targets, with a timeout longer than the
// forward hold: a 503 no_leader is certain.
func (n linTargets) client() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: bearer(&http.Transport{TLSClientConfig: n.tls}, n.token)}
}

// bearer sends token with every request through rt ("": none).
func bearer(rt http.RoundTripper, token string) http.RoundTripper {
	if token == "" {
		return rt
	}
	return bearerTransport{rt, token}
}

type bearerTransport struct {
	rt    http.RoundTripper
	token string
}

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.rt.RoundTrip(r)
}

func clusterTargets(c *Cluster) linTargets {
	return linTargets{size: c.Size(), url: func(i int) string { return c.Member(i).URL }, running: c.Running}
}

// runLinClients starts clients that put, delete and ?consistent-read keys
// instances through random running nodes until ctx ends; the returned
// channel closes when all have stopped. With idx set, each client also
// reads locally from its home node (client i -> node i mod size) and
// reports the X-Registry-Index it sees.
func runLinClients(ctx context.Context, nodes linTargets, clients, keys int, seed uint64, h *linHistory, idx *indexWatch) <-chan struct{} {
	hc := nodes.client()
	var wg sync.WaitGroup
	for cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(cl), seed))
			home := cl % nodes.size
			for n := 0; ctx.Err() == nil; n++ {
				op := linOp{key: rng.IntN(keys)}
				switch r := rng.IntN(10); {
				case r < 4:
					op.kind, op.val = "put", fmt.Sprintf("c%d-%d", cl, n)
				case r < 6:
					op.kind = "delete"
				case r < 8 || idx == nil:
					op.kind = "get"
				default:
					if index, ok := localRead(ctx, hc, nodes.url(home)); ok {
						idx.saw(cl, home, index)
					}
					continue
				}
				running := nodes.running()
				if len(running) == 0 {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				node := nodes.url(running[rng.IntN(len(running))])
				call := h.now()
				if out, record := linDo(hc, node, op); record {
					h.add(cl, op, call, out)
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return done
}

// localRead lists the instances on one node without going to the leader
// and returns the X-Registry-Index of the answer.
func localRead(ctx context.Context, hc *http.Client, node string) (uint64, bool) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, node+"/registry-svc/instances", nil)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	index, err := strconv.ParseUint(resp.Header.Get("X-Registry-Index"), 10, 64)
	return index, resp.StatusCode == http.StatusOK && err == nil
}

// explainNonLinearizable logs, for each instance whose history fails, the
// end of the longest linearizable prefix and the operations that could not
// follow it, with times in ms since the start.
// explainNonLinearizable logs, for each key that does not linearize, where
// its longest linearizable prefix ends and the first operations left out,
// and draws the history with porcupine into an HTML file in dir (the
// system's temp dir when empty: a failing campaign's file outlives it).
func explainNonLinearizable(t *testing.T, h *linHistory, info porcupine.LinearizationInfo, dir string) {
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
	h.mu.Lock()
	perKey := map[int][]porcupine.Operation{}
	for _, op := range h.ops {
		k := op.Input.(linOp).key
		perKey[k] = append(perKey[k], op)
	}
	h.mu.Unlock()
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
		key := longest[0].Input.(linOp).key
		all := perKey[key]
		if len(longest) == len(all) {
			continue // this key linearizes
		}
		done := map[string]bool{}
		for _, op := range longest {
			done[describe(op)] = true
		}
		t.Logf("key %d does NOT linearize: %d of %d operations do; the last of them:", key, len(longest), len(all))
		for _, op := range longest[max(0, len(longest)-6):] {
			t.Logf("   %s", describe(op))
		}
		// The operations left out, earliest first: the culprit is among
		// the first few.
		var rest []porcupine.Operation
		for _, op := range all {
			if !done[describe(op)] {
				rest = append(rest, op)
			}
		}
		slices.SortFunc(rest, func(a, b porcupine.Operation) int { return cmp.Compare(a.Call, b.Call) })
		t.Logf("key %d: the first operations that no linearization takes:", key)
		for _, op := range rest[:min(len(rest), 10)] {
			t.Logf("   %s", describe(op))
		}
	}
	// The whole history, drawn by porcupine, for a closer look.
	if f, err := os.CreateTemp(dir, "roster-nonlinearizable-*.html"); err == nil {
		f.Close()
		if err := porcupine.VisualizePath(registerModel.ToModel(), info, f.Name()); err == nil {
			t.Logf("porcupine's visualization of the history: %s", f.Name())
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
		req.Header.Set("Content-Type", "application/json")
	case "delete":
		req, _ = http.NewRequest(http.MethodDelete, node+"/registry-svc/instance/"+id, nil)
	default:
		req, _ = http.NewRequest(http.MethodGet, node+"/registry-svc/instances?consistent&id="+id, nil)
	}
	resp, err := hc.Do(req)
	if err != nil {
		// Refused at dial (a stopped node): never sent, no effect.
		// Anything later may have reached the cluster.
		return linOut{unknown: true}, op.kind != "get" && !isDialErr(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	switch {
	case resp.StatusCode >= 500 || (resp.StatusCode >= 300 && resp.StatusCode != http.StatusNotFound):
		// not_leader and no_leader promise that nothing was written (the
		// history checks the promise); any other failure of a write may
		// follow a write that happened. A read that failed tells nothing.
		var eb client.ErrorBody
		_ = json.Unmarshal(raw, &eb)
		noEffect := eb.Code == client.CodeNotLeader || eb.Code == client.CodeNoLeader
		return linOut{unknown: true}, op.kind != "get" && !noEffect
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

// The checker itself: a read of a value nobody wrote is caught, and the
// explanation names the key and the operation no linearization takes.
func TestLinearizabilityCheckCatchesAStaleRead(t *testing.T) {
	h := newLinHistory()
	call := h.now()
	h.add(0, linOp{key: 1, kind: "put", val: "a"}, call, linOut{})
	call = h.now()
	h.add(1, linOp{key: 1, kind: "get"}, call, linOut{val: "a"})
	if res, _ := h.check(); res != porcupine.Ok {
		t.Fatalf("a read of the last write: %v", res)
	}
	call = h.now()
	h.add(1, linOp{key: 1, kind: "get"}, call, linOut{val: "never written"})
	res, info := h.check()
	if res != porcupine.Illegal {
		t.Fatalf("a read of a value nobody wrote passed: %v", res)
	}
	explainNonLinearizable(t, h, info, t.TempDir())
}
