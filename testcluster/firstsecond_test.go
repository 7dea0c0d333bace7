package testcluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi/client"
)

func probeRegistration(i int) client.RegisterRequest {
	return client.RegisterRequest{Slug: "probe", URL: fmt.Sprintf("http://10.77.%d.%d:8080", i/250, i%250), Check: &api.Check{Type: api.CheckNone}}
}

// firstLeader polls every node until one reports a leader, and returns the
// leader's index and the voters of its first configuration.
func firstLeader(ctx context.Context, c *ProcCluster) (int, int, error) {
	for {
		for i := range c.Size() {
			st, err := c.Client(i).ClusterStatus(ctx)
			if err != nil || st.LeaderID == "" || st.LeaderID != st.NodeID {
				continue
			}
			return i, st.Voters, nil
		}
		select {
		case <-ctx.Done():
			return -1, 0, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// With --bootstrap-expect 3, every one of the three is a voter from the
// first election on: losing any one of them at once (the leader or not)
// leaves a cluster that elects a leader and writes. Before, the smallest ID
// bootstrapped alone and promoted the others seconds later, and a leader
// killed in that window left two survivors that never elected again.
func TestBootstrapExpectSurvivesLosingAnyFirstMember(t *testing.T) {
	bin := buildRoster(t)
	// -1 is whichever node won the first election.
	for _, choice := range []int{-1, 0, 1, 2} {
		name := fmt.Sprintf("kill node%d", choice+1)
		if choice < 0 {
			name = "kill the first leader"
		}
		t.Run(name, func(t *testing.T) {
			c, err := StartProcesses(ProcOptions{Binary: bin, Nodes: 3, Dir: t.TempDir(), BasePort: mustFreeBase(t, 9)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Stop(10 * time.Second)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			leader, voters, err := firstLeader(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			elected := time.Now()
			victim := choice
			if victim < 0 {
				victim = leader
			}
			if err := c.Kill(victim); err != nil {
				t.Fatal(err)
			}
			killedAfter := time.Since(elected)
			if voters != 3 {
				t.Fatalf("the first leader's configuration held %d voters, not 3", voters)
			}
			survivor := (victim + 1) % 3
			start := time.Now()
			err = Eventually(ctx, func() error {
				_, err := c.Client(survivor).RegisterInstance(ctx, probeRegistration(victim))
				return err
			})
			if err != nil {
				t.Fatalf("node%d killed %v after node%d won the first election: no write through node%d: %v",
					victim+1, killedAfter, leader+1, survivor+1, err)
			}
			t.Logf("node%d (leader node%d) killed %v after the first election; a write through node%d succeeded %v later",
				victim+1, leader+1, killedAfter.Round(time.Millisecond), survivor+1, time.Since(start).Round(time.Millisecond))
			// Once gossip has the victim dead, the survivors say how little
			// fault tolerance is left.
			err = Eventually(ctx, func() error {
				st, err := c.Client(survivor).ClusterStatus(ctx)
				if err != nil {
					return err
				}
				if ft := st.FaultTolerance; !ft.Degraded || ft.Tolerance != 0 || ft.Wanted != 1 {
					return fmt.Errorf("want degraded, 0 of 1: %+v", ft)
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
}

// A leader that freezes (SIGSTOP) keeps its connections open. A write in
// flight to it answers indeterminate once a new leader is known, and the
// next write goes to the new leader: one election, not the 7 s hold. The
// resumed old leader serves no stale ?consistent read, and no acknowledged
// write is lost.
func TestFrozenLeaderCostsOneElection(t *testing.T) {
	bin := buildRoster(t)
	c, err := StartProcesses(ProcOptions{Binary: bin, Nodes: 3, Dir: t.TempDir(), BasePort: mustFreeBase(t, 9)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(10 * time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	leader, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	follower := (leader + 1) % 3

	// A ?consistent read through the other follower, sent as the leader
	// pauses: its read index request is stuck at the frozen leader until
	// a newer leader is known, then asked of that one.
	other := (leader + 2) % 3
	type timedRead struct {
		took time.Duration
		err  error
	}
	readDone := make(chan timedRead, 1)

	// A sequential client writes through the follower while the leader is
	// paused under it.
	var acked []string
	var firstAfter, indeterminate time.Duration
	var paused time.Time
	stopped := false
	for i := 0; ctx.Err() == nil; i++ {
		if i == 20 {
			go func() {
				time.Sleep(2 * time.Millisecond) // while write 20 is on its way
				c.Pause(leader)
				start := time.Now()
				_, _, err := c.Client(other).ListInstances(ctx, api.InstanceFilter{Slug: "probe"}, client.ListOptions{Consistent: true})
				readDone <- timedRead{time.Since(start), err}
			}()
			paused, stopped = time.Now().Add(2*time.Millisecond), true
		}
		in, err := c.Client(follower).RegisterInstance(ctx, probeRegistration(i))
		var ae *client.APIError
		switch {
		case err == nil:
			acked = append(acked, in.ID)
			if stopped && time.Now().After(paused) && firstAfter == 0 && i > 20 {
				firstAfter = time.Since(paused)
			}
		case errors.As(err, &ae) && ae.Body.Code == client.CodeIndeterminate:
			indeterminate = time.Since(paused)
		case errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable:
		default:
			t.Fatalf("write %d: %v", i, err)
		}
		if firstAfter > 0 {
			break
		}
	}
	defer c.Resume(leader)
	if firstAfter == 0 {
		t.Fatal("no write succeeded after the pause")
	}
	t.Logf("leader node%d paused: indeterminate answer after %v, first acknowledged write after %v",
		leader+1, indeterminate.Round(time.Millisecond), firstAfter.Round(time.Millisecond))
	// The hold time is 7 s: a write stuck behind the frozen leader would
	// take that long. An election with local timings takes about 1 s.
	if firstAfter > 5*time.Second {
		t.Errorf("first write %v after the pause: the frozen leader held it", firstAfter)
	}
	if r := <-readDone; r.err != nil || r.took > 5*time.Second {
		t.Errorf("consistent read through node%d across the pause: %v after %v", other+1, r.err, r.took)
	} else {
		t.Logf("consistent read through node%d across the pause answered in %v", other+1, r.took.Round(time.Millisecond))
	}

	// Ask the frozen leader for a consistent read before it resumes: it
	// will take it while it still believes it leads.
	type answer struct {
		ids []string
		err error
	}
	stale := make(chan answer, 1)
	go func() {
		rows, _, err := c.Client(leader).ListInstances(ctx, api.InstanceFilter{Slug: "probe"}, client.ListOptions{Consistent: true})
		var ids []string
		for _, r := range rows {
			ids = append(ids, r.ID)
		}
		stale <- answer{ids, err}
	}()
	time.Sleep(200 * time.Millisecond)
	if err := c.Resume(leader); err != nil {
		t.Fatal(err)
	}
	a := <-stale
	if a.err == nil && !slices.Contains(a.ids, acked[len(acked)-1]) {
		t.Fatalf("the resumed old leader answered a consistent read without the last acknowledged write (%d rows)", len(a.ids))
	}
	t.Logf("consistent read on the resumed old leader: %d rows, err %v", len(a.ids), a.err)

	// Every acknowledged write is there, on every node.
	for i := range 3 {
		err := Eventually(ctx, func() error {
			rows, _, err := c.Client(i).ListInstances(ctx, api.InstanceFilter{Slug: "probe"}, client.ListOptions{Consistent: true})
			if err != nil {
				return err
			}
			have := map[string]bool{}
			for _, r := range rows {
				have[r.ID] = true
			}
			for _, id := range acked {
				if !have[id] {
					return fmt.Errorf("node%d lacks acknowledged %s", i+1, id)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
