package testcluster

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi/client"
)

// An isolated leader steps down; the majority elects another and takes
// writes through either of its nodes; the isolated node takes none (it
// answers "no leader", a promise that nothing was written) and catches up
// after the heal.
func TestIsolatedLeaderStepsDownAndMajorityServes(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3})
	old := c.Leader()
	register(t, c, old, "http://10.1.0.1:80", "before")
	c.Isolate(old, AllLayers)

	var next int
	within(t, 20*time.Second, "a new leader on the majority side", func() error {
		for _, i := range c.Running() {
			if i != old && c.Agent(i).Node.IsLeader() {
				next = i
				return nil
			}
		}
		return errors.New("no leader among the majority")
	})
	within(t, 10*time.Second, "the isolated leader to step down", func() error {
		if c.Agent(old).Node.IsLeader() {
			return errors.New("still leader")
		}
		return nil
	})
	for _, i := range c.Running() {
		if i != old {
			registerThroughFailover(t, c, i, fmt.Sprintf("http://10.1.1.%d:80", i+1), "during")
		}
	}
	_, err := c.Client(old).RegisterInstance(t.Context(), client.RegisterRequest{URL: "http://10.1.2.1:80", Slug: "during"})
	if !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("write on the isolated node: %v, want unavailable (no leader)", err)
	}

	c.Heal()
	within(t, 20*time.Second, "the isolated node to catch up", func() error {
		list, _, err := c.Client(old).ListInstances(t.Context(), api.InstanceFilter{Slug: "during"}, client.ListOptions{})
		if err != nil {
			return err
		}
		if len(list) != 2 {
			return fmt.Errorf("%d of 2 instances", len(list))
		}
		return nil
	})
	t.Logf("leader node%d isolated, node%d took over", old+1, next+1)
}

// A restarted node that cannot reach the cluster does not answer local
// reads from the older state it replays first: it says it is catching up,
// and once it can reach the leader it answers with an index at least as
// high as before the restart (the chaos campaign found it answering index 1).
func TestRestartedNodeDoesNotReadBackInTime(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3})
	restartedCutOffNeverReadsBack(t, c, (c.Leader()+1)%3, Raft, "10.2.0")
}

// restartedCutOffNeverReadsBack registers 20 instances (URLs under the
// net, e.g. "10.2.0"), waits until node i lists them, kills it and
// restarts it cut off on the layers cut, and checks that its local read
// then says catching_up and, once healed, answers every instance at an
// index at least as high as before.
func restartedCutOffNeverReadsBack(t *testing.T, c *Cluster, i int, cut Layer, net string) {
	t.Helper()
	const slug, want = "kept", 20
	for n := range want {
		register(t, c, c.Leader(), fmt.Sprintf("http://%s.%d:80", net, n+1), slug)
	}
	read := func(ctx context.Context) ([]*api.Instance, client.Meta, error) {
		return c.Client(i).ListInstances(ctx, api.InstanceFilter{Slug: slug}, client.ListOptions{})
	}
	var before uint64
	within(t, 10*time.Second, fmt.Sprintf("node%d to list all %d", i+1, want), func() error {
		list, meta, err := read(t.Context())
		if err != nil || len(list) != want {
			return fmt.Errorf("%d instances, %v", len(list), err)
		}
		before = meta.Index
		return nil
	})
	if err := c.Kill(i); err != nil {
		t.Fatal(err)
	}
	c.Isolate(i, cut) // it restarts hearing no leader, or no server at all
	if err := c.Restart(i); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	list, meta, err := read(ctx)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Body.Code != client.CodeCatchingUp {
		t.Fatalf("local read on node%d, restarted and cut off: %d instances at index %d (%v), want 503 catching_up (index before: %d)",
			i+1, len(list), meta.Index, err, before)
	}
	c.Heal()
	within(t, 30*time.Second, fmt.Sprintf("the restarted node%d to answer", i+1), func() error {
		list, meta, err := read(t.Context())
		if err != nil {
			return err
		}
		if meta.Index < before || len(list) != want {
			t.Fatalf("after the restart: index %d with %d instances, before it: index %d with %d", meta.Index, len(list), before, want)
		}
		return nil
	})
}
