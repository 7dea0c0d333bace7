package testcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/fsm"
	"github.com/rosterhq/roster/httpapi/client"
	"github.com/rosterhq/roster/node"
)

// serverSet is the leader's view: server IDs with their role, and each
// client's upstream.
func serverSet(c *Cluster) (servers map[string]string, upstream map[string]string, err error) {
	l := c.Leader()
	if l < 0 {
		return nil, nil, errors.New("no leader")
	}
	st := c.Agent(l).Node.Status()
	servers, upstream = map[string]string{}, map[string]string{}
	for _, s := range st.Servers {
		servers[s.ID] = s.Suffrage
		if s.Leader {
			servers[s.ID] = "leader"
		}
	}
	for _, cl := range st.Clients {
		if cl.Gossip == "alive" {
			upstream[cl.ID] = cl.Upstream
		}
	}
	return servers, upstream, nil
}

// waitServerSet waits until the leader keeps want servers and every alive
// client streams from a server that does not lead.
func waitServerSet(t *testing.T, c *Cluster, want, clients int) (map[string]string, map[string]string) {
	t.Helper()
	var servers, upstream map[string]string
	within(t, 30*time.Second, "server set", func() (err error) {
		if servers, upstream, err = serverSet(c); err != nil {
			return err
		}
		if len(servers) != want || len(upstream) != clients {
			return fmt.Errorf("%d servers and %d clients, want %d and %d: %v %v", len(servers), len(upstream), want, clients, servers, upstream)
		}
		for id, up := range upstream {
			if r := servers[up]; r == "" || r == "leader" {
				return fmt.Errorf("client %s streams from %q (%s)", id, up, r)
			}
		}
		return nil
	})
	return servers, upstream
}

func index(c *Cluster, id string) int {
	for i := range c.Size() {
		if c.Member(i).Config.NodeID == id {
			return i
		}
	}
	return -1
}

// sameCatalog waits until node i's instances are the leader's, row for row.
func sameCatalog(t *testing.T, c *Cluster, i int) {
	t.Helper()
	within(t, 15*time.Second, fmt.Sprintf("node%d's catalog is the leader's", i+1), func() error {
		l := c.Leader()
		if l < 0 {
			return errors.New("no leader")
		}
		want, _, err := c.Agent(l).Node.FSM().Instances(nil, fsm.InstanceFilter{})
		if err != nil {
			return err
		}
		got, _, err := c.Agent(i).Node.FSM().Instances(nil, fsm.InstanceFilter{})
		if err != nil {
			return err
		}
		if len(got) != len(want) {
			return fmt.Errorf("%d instances, the leader %d", len(got), len(want))
		}
		for k := range want {
			if asJSON(got[k]) != asJSON(want[k]) {
				return fmt.Errorf("row %d: %s, the leader %s", k, asJSON(got[k]), asJSON(want[k]))
			}
		}
		return nil
	})
}

// Nine agents keep three servers: six are client agents that stream the
// catalog from the two followers, answer reads locally (read-your-writes,
// ?consistent) and forward writes; when a server dies, a client takes its
// place and the cluster stays writable.
func TestClientAgentsServeAndOneReplacesADeadServer(t *testing.T) {
	c := startCluster(t, Options{Nodes: 9, Servers: 3, TLS: true})
	servers, upstream := waitServerSet(t, c, 3, 6)
	ctx := t.Context()

	var ids []string
	for k := range 18 {
		cl := index(c, slices.Sorted(mapKeys(upstream))[k%6])
		in := register(t, c, cl, fmt.Sprintf("http://10.9.0.%d:8080", k+1), "web")
		ids = append(ids, in.ID)
		// Read your writes on the client that took it.
		got, _, err := c.Client(cl).ListInstances(ctx, api.InstanceFilter{Slug: "web"}, client.ListOptions{})
		if err != nil || len(got) != k+1 {
			t.Fatalf("client node%d after its write %d: %d instances, %v", cl+1, k+1, len(got), err)
		}
	}
	// A consistent read on another client sees every write.
	other := index(c, slices.Sorted(mapKeys(upstream))[5])
	got, _, err := c.Client(other).ListInstances(ctx, api.InstanceFilter{Slug: "web"}, client.ListOptions{Consistent: true})
	if err != nil || len(got) != len(ids) {
		t.Fatalf("consistent read on client node%d: %d of %d, %v", other+1, len(got), len(ids), err)
	}
	for i := range c.Size() {
		sameCatalog(t, c, i)
	}

	// Kill a follower server with clients on it.
	var victim string
	for id, up := range upstream {
		if servers[up] != "leader" {
			victim = up
			_ = id
			break
		}
	}
	if err := c.Kill(index(c, victim)); err != nil {
		t.Fatal(err)
	}
	var promoted string
	within(t, 40*time.Second, "a client replaces the dead server", func() error {
		now, _, err := serverSet(c)
		if err != nil {
			return err
		}
		if _, still := now[victim]; still || len(now) != 3 {
			return fmt.Errorf("servers %v", now)
		}
		for id, role := range now {
			if _, was := servers[id]; !was {
				if role != "voter" {
					return fmt.Errorf("%s is %s", id, role)
				}
				promoted = id
			}
		}
		return nil
	})
	p := index(c, promoted)
	in := register(t, c, p, "http://10.9.1.1:8080", "web")
	for _, i := range c.Running() {
		sameCatalog(t, c, i)
	}
	if st := c.Agent(p).Node.Status(); st.Role != "voter" || st.Upstream != "" {
		t.Fatalf("promoted node%d: role %q, upstream %q", p+1, st.Role, st.Upstream)
	}
	waitServerSet(t, c, 3, 5)
	if got, _, err := c.Client(other).ListInstances(ctx, api.InstanceFilter{ID: in.ID}, client.ListOptions{Consistent: true}); err != nil || len(got) != 1 {
		t.Fatalf("the promoted server's write on a client: %d, %v", len(got), err)
	}

	// The clients that moved off the dead server return to the one they
	// prefer, a follower of their own zone, now the promoted client:
	// without that every client would stay on the surviving follower.
	azOf := func(id string) string { return c.Member(index(c, id)).Config.AZ }
	within(t, 2*rebalanceWait, "clients back on their zone's follower", func() error {
		now, up, err := serverSet(c)
		if err != nil {
			return err
		}
		for cl, srv := range up {
			for s, role := range now {
				if role != "leader" && azOf(s) == azOf(cl) && azOf(srv) != azOf(cl) {
					return fmt.Errorf("client %s (%s) streams from %s (%s), not from %s of its zone", cl, azOf(cl), srv, azOf(srv), s)
				}
			}
		}
		return nil
	})

	// The dead server comes back: its Raft configuration, from before its
	// removal, still lists it. The leader adds it again so that the log
	// tells it, and it ends a client that streams the catalog.
	v := index(c, victim)
	if err := c.Restart(v); err != nil {
		t.Fatal(err)
	}
	within(t, 60*time.Second, "the removed server returns as a client", func() error {
		now, up, err := serverSet(c)
		if err != nil {
			return err
		}
		if _, still := now[victim]; still || len(now) != 3 {
			return fmt.Errorf("servers %v", now)
		}
		if r := now[up[victim]]; r == "" || r == "leader" {
			return fmt.Errorf("%s streams from %q", victim, up[victim])
		}
		if c.Agent(v).Node.IsServer() {
			return fmt.Errorf("%s still holds itself a server", victim)
		}
		return nil
	})
	sameCatalog(t, c, v)
}

// rebalanceWait is how long a client streams from a server before it looks
// for the one it prefers (node.rebalanceAfter).
const rebalanceWait = 30 * time.Second

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// A client's replica follows writes through restarts of every server (the
// leader's too): its change stream shows exactly the leader's changes, none
// missing, none twice, and its catalog ends as the leader's.
func TestAClientReplicaSurvivesServerRestarts(t *testing.T) {
	c := startCluster(t, Options{Nodes: 5, Servers: 3})
	_, upstream := waitServerSet(t, c, 3, 2)
	clients := slices.Sorted(mapKeys(upstream))
	watcher, writer := index(c, clients[0]), index(c, clients[1])
	clientEvents := follow(t, c, watcher, "index=1")

	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var writes []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		for k := 0; ctx.Err() == nil; k++ {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			in, err := c.Client(writer).RegisterInstance(wctx, client.RegisterRequest{URL: fmt.Sprintf("http://10.8.%d.%d:80", k/200, k%200+1), Slug: "svc"})
			cancel()
			if err == nil {
				writes = append(writes, in.ID)
				if k%3 == 0 {
					dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					_ = c.Client(writer).DeleteInstance(dctx, in.ID)
					cancel()
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	for _, id := range []string{"node2", "node3", "node1"} { // node1 leads after bootstrap often; restart it last
		i := index(c, id)
		time.Sleep(700 * time.Millisecond)
		if err := c.Kill(i); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if err := c.Restart(i); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		if _, err := c.WaitStable(wctx); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	time.Sleep(500 * time.Millisecond)
	stop()
	wg.Wait()
	if len(writes) < 20 {
		t.Fatalf("only %d writes went through", len(writes))
	}
	sameCatalog(t, c, watcher)

	// Replaying the client's stream from the empty catalog gives the
	// leader's catalog: a change missed or applied twice would show.
	replayed := map[string]string{}
	seen := map[string]bool{}
	var last uint64
	changes := 0
	for quiet := false; !quiet; {
		select {
		case e, ok := <-clientEvents:
			if !ok {
				t.Fatal("the client's change stream ended")
			}
			if e.Kind != api.EventInstance {
				continue
			}
			key := fmt.Sprint(e.Index, e.Op, e.ID)
			if e.Index < last || seen[key] {
				t.Fatalf("change %s after index %d", key, last)
			}
			seen[key], last = true, e.Index
			changes++
			if e.Op == api.EventDelete {
				delete(replayed, e.ID)
			} else {
				replayed[e.ID] = asJSON(e.Instance)
			}
		case <-time.After(2 * time.Second):
			quiet = true
		}
	}
	want, _, err := c.Agent(c.Leader()).Node.FSM().Instances(nil, fsm.InstanceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(replayed) != len(want) {
		t.Fatalf("the client's stream replays to %d instances, the leader holds %d", len(replayed), len(want))
	}
	for _, in := range want {
		if replayed[in.ID] != asJSON(in) {
			t.Fatalf("instance %s replays as %s, the leader holds %s", in.ID, replayed[in.ID], asJSON(in))
		}
	}
	t.Logf("%d writes, %d changes streamed to the client through three server restarts", len(writes), changes)
}

func asJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// With a log that compacts early, a client promoted to server installs the
// leader's snapshot, older than its replica: its reads wait rather than go
// back (X-Registry-Index never falls on it), and its catalog ends as the
// leader's; a client that fell behind the log gets a whole catalog.
func TestAClientPromotedOverACompactedLogNeverGoesBack(t *testing.T) {
	c := startCluster(t, Options{Nodes: 5, Servers: 3, Configure: func(_ int, cfg *node.Config) {
		cfg.SnapshotThreshold, cfg.TrailingLogs = 16, 4
	}})
	_, upstream := waitServerSet(t, c, 3, 2)
	clients := slices.Sorted(mapKeys(upstream))
	// Behind the log: one client stops while the log moves on and compacts.
	late := index(c, clients[1])
	if err := c.Kill(late); err != nil {
		t.Fatal(err)
	}
	for k := range 120 {
		register(t, c, c.Leader(), fmt.Sprintf("http://10.7.0.%d:80", k+1), "svc")
	}
	if err := c.Restart(late); err != nil {
		t.Fatal(err)
	}
	sameCatalog(t, c, late)

	// Watch both clients' index through the promotion of one of them.
	stop := make(chan struct{})
	var mu sync.Mutex
	var wentBack []string
	reads := 0
	var watchers sync.WaitGroup
	for _, id := range clients {
		w := index(c, id)
		watchers.Add(1)
		go func() {
			defer watchers.Done()
			var last uint64
			most := 0
			for {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				got, m, err := c.Client(w).ListInstances(t.Context(), api.InstanceFilter{Slug: "svc"}, client.ListOptions{})
				if err != nil {
					continue // catching_up while Raft replays: allowed
				}
				mu.Lock()
				reads++
				// Only registrations here: neither the index nor the count
				// may fall.
				if m.Index < last || len(got) < most {
					wentBack = append(wentBack, fmt.Sprintf("node%d: index %d after %d, %d instances after %d", w+1, m.Index, last, len(got), most))
				}
				last, most = max(last, m.Index), max(most, len(got))
				mu.Unlock()
			}
		}()
	}
	servers, _, _ := serverSet(c)
	var victim string
	for id, role := range servers {
		if role != "leader" {
			victim = id
			break
		}
	}
	if err := c.Kill(index(c, victim)); err != nil {
		t.Fatal(err)
	}
	within(t, 40*time.Second, "a client replaces the dead server", func() error {
		for _, id := range clients {
			if r := c.Agent(index(c, id)).Node.Role(); r == "voter" {
				return nil
			}
		}
		return errors.New("no client is a voter yet")
	})
	register(t, c, c.Leader(), "http://10.7.1.1:80", "svc")
	for _, i := range c.Running() {
		sameCatalog(t, c, i)
	}
	close(stop)
	watchers.Wait()
	if len(wentBack) > 0 {
		t.Fatalf("X-Registry-Index went back: %v", wentBack)
	}
	if reads == 0 {
		t.Fatal("no read answered on the clients")
	}
	t.Logf("%d reads on the clients through the promotion, none back in time", reads)
}

// A client agent restarted while it cannot reach any server answers no
// local read from the catalog it starts with: catching_up, and once it
// can reach them, an index at least as high as before (the chaos campaign
// found a restarted client answering index 1 after 5337: it read before
// it had learnt of a server).
func TestARestartedClientDoesNotReadBackInTime(t *testing.T) {
	c := startCluster(t, Options{Nodes: 4, Servers: 3})
	_, upstream := waitServerSet(t, c, 3, 1)
	restartedCutOffNeverReadsBack(t, c, index(c, slices.Sorted(mapKeys(upstream))[0]), AllLayers, "10.9.0")
}
