package testcluster

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi/client"
)

// `make chaos SEED=... DURATION=...` sets these; `make test` runs the short
// campaign: two fixed seeds of 20 s each.
var (
	chaosSeed     = flag.Uint64("chaos.seed", 1, "first seed of TestChaosCampaign; each round takes the next one")
	chaosDuration = flag.Duration("chaos.duration", 40*time.Second, "total fault time of TestChaosCampaign")
	chaosRound    = flag.Duration("chaos.round", 20*time.Second, "fault time of one round (one seed, one cluster)")
	chaosNodes    = flag.Int("chaos.nodes", 3, "servers per round")
	chaosClients  = flag.Int("chaos.clients", 2, "client agents per round, besides the servers")
)

// chaosResult is what one round did and found.
type chaosResult struct {
	seed              uint64
	ops, unknown      int
	localReads        int
	faults            map[string]int
	elections         int
	histories         int // per-instance histories checked, each time
	anomalies         []string
	faultLog          []string
	convergedIn       time.Duration
	restartedAndAgree bool
}

// Rounds of randomized faults (crashes, partitions of every path or of one,
// on servers and client agents alike,
// an isolated leader, a bridge, one-way cuts, slow links) while clients put,
// delete and read instances through every node. After each round: every
// fault is undone, the nodes must converge to the same catalog, the whole
// history with a final read of every instance must be linearizable, and so
// again after a full restart of every node; X-Registry-Index must never go
// backwards on one node, and no term may have two leaders.
func TestChaosCampaign(t *testing.T) {
	rounds := max(1, int(*chaosDuration / *chaosRound))
	var results []chaosResult
	for r := range rounds {
		seed := *chaosSeed + uint64(r)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			res := runChaosRound(t, seed, *chaosRound, *chaosNodes, *chaosClients)
			results = append(results, res)
			for _, a := range res.anomalies {
				t.Errorf("anomaly: %s", a)
			}
			if len(res.anomalies) > 0 {
				t.Logf("faults:\n%s", strings.Join(res.faultLog, "\n"))
			}
		})
	}
	t.Log("\n" + chaosSummary(results))
}

func runChaosRound(t *testing.T, seed uint64, d time.Duration, servers, clientAgents int) chaosResult {
	el := newElectionLog(logger(t))
	// The servers bootstrap; the client agents stream the catalog from
	// them and take reads and writes like any node. A server crashed past
	// the dead-voter window is replaced by a client, and demoted again
	// when it comes back.
	c := startCluster(t, Options{Nodes: servers + clientAgents, Servers: max(servers, 3), Logger: slog.New(el)})
	const keys, clients = 5, 6
	res := chaosResult{seed: seed}
	h := newLinHistory()
	idx := &indexWatch{}
	ctx, cancel := context.WithCancel(t.Context())
	done := runLinClients(ctx, clusterTargets(c), clients, keys, seed, h, idx)

	nem := newNemesis(c, seed)
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		if err := nem.round(); err != nil {
			cancel()
			<-done
			t.Fatalf("fault injection: %v", err)
		}
	}
	cancel()
	<-done
	res.faults, res.faultLog = nem.counts, nem.log
	if err := nem.restore(); err != nil {
		t.Fatalf("restore: %v", err)
	}
	res.ops, res.unknown = h.counts()
	res.localReads = idx.reads
	res.anomalies = append(res.anomalies, idx.anomalies...)

	wctx, wcancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer wcancel()
	fullRestart := func() error {
		c.Stop()
		for i := range c.Size() {
			if err := c.Restart(i); err != nil {
				return err
			}
		}
		return nil
	}
	waitStable := func(ctx context.Context) error { _, err := c.WaitStable(ctx); return err }
	var more []string
	res.convergedIn, res.restartedAndAgree, more = checkAfterFaults(wctx, t, clusterTargets(c), h, keys, waitStable, fullRestart)
	res.anomalies = append(res.anomalies, more...)
	res.histories = 2 * keys

	res.elections, more = el.rec.check()
	res.anomalies = append(res.anomalies, more...)
	t.Logf("seed %d: %d operations (%d unknown), %d local reads, faults %v, %d elections, converged %v after heal",
		seed, res.ops, res.unknown, res.localReads, res.faults, res.elections, res.convergedIn.Round(time.Millisecond))
	return res
}

// checkAfterFaults runs the checks that follow a campaign, once every fault
// is undone: the cluster forms, all nodes converge to one catalog, and the
// history with a final ?consistent read of every instance is linearizable;
// then every node is stopped and started again on its data, and the same
// must hold, with the same catalog.
func checkAfterFaults(ctx context.Context, t *testing.T, nodes linTargets, h *linHistory, keys int,
	waitStable func(context.Context) error, fullRestart func() error) (convergedIn time.Duration, sameAfterRestart bool, anomalies []string) {
	if err := waitStable(ctx); err != nil {
		t.Fatalf("cluster did not recover after the faults: %v", err)
	}
	healed := time.Now()
	digest, err := waitConverged(ctx, nodes)
	if err != nil {
		anomalies = append(anomalies, "after heal: "+err.Error())
	}
	convergedIn = time.Since(healed)
	anomalies = append(anomalies, finalReads(t, nodes, h, keys, "after heal")...)

	if err := fullRestart(); err != nil {
		t.Fatalf("full restart: %v", err)
	}
	if err := waitStable(ctx); err != nil {
		t.Fatalf("cluster did not form after a full restart: %v", err)
	}
	again, err := waitConverged(ctx, nodes)
	switch {
	case err != nil:
		anomalies = append(anomalies, "after full restart: "+err.Error())
	case again != digest:
		anomalies = append(anomalies, fmt.Sprintf("full restart changed the catalog:\nbefore:\n%s\nafter:\n%s", digest, again))
	default:
		sameAfterRestart = true
	}
	anomalies = append(anomalies, finalReads(t, nodes, h, keys, "after full restart")...)
	return convergedIn, sameAfterRestart, anomalies
}

// waitConverged waits until every node's local catalog is the same and
// returns it.
func waitConverged(ctx context.Context, nodes linTargets) (string, error) {
	var digest string
	// One client per node for the whole wait: a new one per poll would
	// leave a kept-alive connection behind each time.
	clients := make([]*client.Client, nodes.size)
	for i := range clients {
		cl, err := client.New(nodes.url(i))
		if err != nil {
			return "", err
		}
		cl.UseTLS(nodes.tls)
		cl.Token = nodes.token
		clients[i] = cl
	}
	err := Eventually(ctx, func() error {
		var first string
		for i, cl := range clients {
			insts, _, err := cl.ListInstances(ctx, api.InstanceFilter{}, client.ListOptions{})
			if err != nil {
				return fmt.Errorf("node%d: %w", i+1, err)
			}
			d := catalogDigest(insts)
			if i == 0 {
				first = d
			} else if d != first {
				return fmt.Errorf("node%d's catalog differs from node1's:\n%s\n--- node1:\n%s", i+1, d, first)
			}
		}
		digest = first
		return nil
	})
	return digest, err
}

// finalReads reads every instance with ?consistent after the faults, adds
// the reads to the history and checks it: an acknowledged write that was
// lost, or a deleted instance that came back, makes it non-linearizable.
func finalReads(t *testing.T, nodes linTargets, h *linHistory, keys int, when string) []string {
	hc := nodes.client()
	for k := range keys {
		op := linOp{key: k, kind: "get"}
		node := nodes.url(rand.IntN(nodes.size))
		for try := 0; ; try++ {
			call := h.now()
			out, ok := linDo(hc, node, op)
			if ok && !out.unknown {
				h.add(-1, op, call, out)
				break
			}
			if try == 50 {
				return []string{fmt.Sprintf("%s: instance %d could not be read", when, k)}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	res, info := h.check()
	if res == porcupine.Ok {
		return nil
	}
	explainNonLinearizable(t, h, info, "")
	return []string{fmt.Sprintf("%s: history with the final reads is not linearizable (%s)", when, res)}
}

// chaosSummary is the campaign's table: one row per round and a total.
func chaosSummary(rs []chaosResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-6s %8s %8s %8s %7s %10s %10s %9s  %s\n", "seed", "ops", "unknown", "local", "faults", "elections", "histories", "anomalies", "converged")
	var tot chaosResult
	tot.faults = map[string]int{}
	for _, r := range rs {
		nf := 0
		for k, v := range r.faults {
			nf += v
			tot.faults[k] += v
		}
		fmt.Fprintf(&b, "%-6d %8d %8d %8d %7d %10d %10d %9d  %v\n", r.seed, r.ops, r.unknown, r.localReads, nf, r.elections, r.histories, len(r.anomalies), r.convergedIn.Round(time.Millisecond))
		tot.ops += r.ops
		tot.unknown += r.unknown
		tot.localReads += r.localReads
		tot.elections += r.elections
		tot.histories += r.histories
		tot.anomalies = append(tot.anomalies, r.anomalies...)
	}
	nf := 0
	for _, v := range tot.faults {
		nf += v
	}
	fmt.Fprintf(&b, "%-6s %8d %8d %8d %7d %10d %10d %9d\n", "total", tot.ops, tot.unknown, tot.localReads, nf, tot.elections, tot.histories, len(tot.anomalies))
	var kinds []string
	for _, k := range slices.Sorted(maps.Keys(tot.faults)) {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, tot.faults[k]))
	}
	fmt.Fprintf(&b, "faults: %s\n", strings.Join(kinds, ", "))
	return b.String()
}
