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
	l := c.Leader()
	f := (l + 1) % 3
	for n := range 20 {
		register(t, c, l, fmt.Sprintf("http://10.2.0.%d:80", n+1), "kept")
	}
	var before uint64
	within(t, 10*time.Second, "the follower to apply all 20", func() error {
		list, meta, err := c.Client(f).ListInstances(t.Context(), api.InstanceFilter{Slug: "kept"}, client.ListOptions{})
		if err != nil || len(list) != 20 {
			return fmt.Errorf("%d instances, %v", len(list), err)
		}
		before = meta.Index
		return nil
	})
	if err := c.Kill(f); err != nil {
		t.Fatal(err)
	}
	c.Isolate(f, Raft) // it restarts but hears no leader
	if err := c.Restart(f); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, _, err := c.Client(f).ListInstances(ctx, api.InstanceFilter{Slug: "kept"}, client.ListOptions{})
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Body.Code != client.CodeCatchingUp {
		t.Fatalf("local read on a restarted, cut-off node: %v, want 503 catching_up", err)
	}
	c.Heal()
	within(t, 20*time.Second, "the restarted node to answer", func() error {
		list, meta, err := c.Client(f).ListInstances(t.Context(), api.InstanceFilter{Slug: "kept"}, client.ListOptions{})
		if err != nil {
			return err
		}
		if meta.Index < before || len(list) != 20 {
			t.Fatalf("after the restart: index %d with %d instances, before it: index %d with 20", meta.Index, len(list), before)
		}
		return nil
	})
}
