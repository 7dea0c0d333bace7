package testcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi/client"
)

func logger(t testing.TB) *slog.Logger {
	if os.Getenv("ROSTER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return nil
}

func startCluster(t testing.TB, o Options) *Cluster {
	t.Helper()
	o.Dir = t.TempDir()
	if o.Logger == nil {
		o.Logger = logger(t)
	}
	c, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := c.WaitStable(ctx); err != nil {
		t.Fatalf("cluster did not form: %v", err)
	}
	return c
}

func within(t testing.TB, d time.Duration, what string, f func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	if err := Eventually(ctx, f); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func follower(c *Cluster) int {
	l := c.Leader()
	for _, i := range c.Running() {
		if i != l {
			return i
		}
	}
	return -1
}

func register(t *testing.T, c *Cluster, i int, url, slug string) *api.Instance {
	t.Helper()
	return registerChecked(t, c, i, client.RegisterRequest{URL: url, Slug: slug})
}

// registerThroughFailover registers as a careful client does during an
// election: an indeterminate answer is not resent blindly (it may have been
// applied) but checked with a consistent read first.
func registerThroughFailover(t *testing.T, c *Cluster, i int, url, slug string) *api.Instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	for {
		in, err := c.Client(i).RegisterInstance(ctx, client.RegisterRequest{URL: url, Slug: slug})
		if err == nil {
			return in
		}
		if !errors.Is(err, client.ErrIndeterminate) && !errors.Is(err, client.ErrUnavailable) || ctx.Err() != nil {
			t.Fatalf("register %s on node%d: %v", url, i+1, err)
		}
		t.Logf("register %s: %v; checking before trying again", url, err)
		list, _, rerr := c.Client(i).ListInstances(ctx, api.InstanceFilter{Slug: slug}, client.ListOptions{Consistent: true})
		for _, got := range list {
			if rerr == nil && got.URL == url {
				return got
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hasURLs checks node i's local replica holds every URL.
func hasURLs(c *Cluster, i int, urls ...string) error {
	list, _, err := c.Client(i).ListInstances(context.Background(), api.InstanceFilter{}, client.ListOptions{})
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, in := range list {
		have[in.URL] = true
	}
	for _, u := range urls {
		if !have[u] {
			return fmt.Errorf("node%d lacks %s (has %d instances)", i+1, u, len(list))
		}
	}
	return nil
}

func TestThreeNodesReplicateForwardFailoverAndRestart(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3})

	// A write on a follower is forwarded and readable everywhere.
	f := follower(c)
	in := register(t, c, f, "http://user-service:8080", "user-svc")
	if in.ID == "" || in.NodeURL != c.Member(f).URL || in.Status != api.StatusUnknown {
		t.Fatalf("stored instance: %+v", in)
	}
	for i := range 3 {
		within(t, 5*time.Second, "replication", func() error { return hasURLs(c, i, in.URL) })
		list, meta, err := c.Client(i).ListInstances(t.Context(), api.InstanceFilter{Slug: "user-svc"}, client.ListOptions{Consistent: true})
		if err != nil || len(list) != 1 || meta.Index < in.ModifyIndex || !meta.KnownLeader {
			t.Fatalf("consistent read on node%d: %v %v %+v", i+1, list, err, meta)
		}
	}

	// kill the leader: a survivor elects a new one and takes writes.
	old := c.Leader()
	if err := c.Kill(old); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	survivor := (old + 1) % 3
	in2 := registerThroughFailover(t, c, survivor, "http://after-failover:1", "user-svc")
	t.Logf("leader kill -> first successful write through a survivor: %v", time.Since(killed).Round(time.Millisecond))

	// The killed node restarts with its data and catches up.
	if err := c.Restart(old); err != nil {
		t.Fatal(err)
	}
	within(t, 15*time.Second, "restarted node catches up", func() error { return hasURLs(c, old, in.URL, in2.URL) })

	// Stop all three, start all three: nothing acknowledged is lost.
	c.Stop()
	for i := range 3 {
		if err := c.Restart(i); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := c.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		within(t, 15*time.Second, "full restart keeps data", func() error { return hasURLs(c, i, in.URL, in2.URL) })
	}
	st := c.Agent(c.Leader()).Node.Status()
	if st.Voters != 3 || len(st.Servers) != 3 {
		t.Fatalf("configuration shrank across restarts: %+v", st.Servers)
	}
}

func TestFiveNodesKeepThreeVotersAndReplaceADeadOne(t *testing.T) {
	c := startCluster(t, Options{Nodes: 5, DeadVoterWindow: 2 * time.Second})
	voters := func() (map[string]bool, int, error) {
		st := c.Agent(c.Leader()).Node.Status()
		v, total := map[string]bool{}, 0
		for _, s := range st.Servers {
			total++
			if s.Suffrage == "voter" {
				v[s.ID] = true
			}
		}
		if total != 5 || len(v) != 3 {
			return v, total, fmt.Errorf("%d servers, %d voters", total, len(v))
		}
		return v, total, nil
	}
	within(t, 20*time.Second, "5 servers, 3 voters", func() error { _, _, err := voters(); return err })

	// Kill a voter that is not the leader, for good.
	v, _, _ := voters()
	victim := -1
	for i := range 5 {
		if v[c.Member(i).Config.NodeID] && i != c.Leader() {
			victim = i
			break
		}
	}
	if err := c.Kill(victim); err != nil {
		t.Fatal(err)
	}
	victimID := c.Member(victim).Config.NodeID
	within(t, 30*time.Second, "dead voter replaced by a non-voter", func() error {
		l := c.Leader()
		if l < 0 {
			return errors.New("no leader")
		}
		st := c.Agent(l).Node.Status()
		n := 0
		for _, s := range st.Servers {
			if s.ID == victimID {
				return fmt.Errorf("%s still in the configuration as %s", victimID, s.Suffrage)
			}
			if s.Suffrage == "voter" {
				n++
			}
		}
		if n != 3 {
			return fmt.Errorf("%d voters", n)
		}
		return nil
	})
	register(t, c, follower(c), "http://after-replacement:1", "x")
}
