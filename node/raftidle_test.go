package node

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// The Raft library (third_party/raft) sends a follower a commit-timeout
// append only when it has something to say: entries the follower lacks, or
// a commit index it has not acknowledged (upstream sends one every
// CommitTimeout, 1-2x, which at Roster's 5 ms kept an idle cluster busy).

// countingTransport counts the appends that carry entries or a commit
// index (not heartbeats, which carry neither) on their way to its raft.
type countingTransport struct {
	*raft.InmemTransport
	in      chan raft.RPC
	appends atomic.Int64
}

func countAppends(tr *raft.InmemTransport, stop <-chan struct{}) *countingTransport {
	c := &countingTransport{InmemTransport: tr, in: make(chan raft.RPC)}
	go func() {
		for {
			select {
			case rpc := <-tr.Consumer():
				if a, ok := rpc.Command.(*raft.AppendEntriesRequest); ok && (a.LeaderCommitIndex > 0 || len(a.Entries) > 0) {
					c.appends.Add(1)
				}
				select {
				case c.in <- rpc:
				case <-stop:
					return
				}
			case <-stop:
				return
			}
		}
	}()
	return c
}

func (c *countingTransport) Consumer() <-chan raft.RPC { return c.in }

func TestAnIdleLeaderSendsNoEmptyAppends(t *testing.T) {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	var counters []*countingTransport
	rs := startRaftsWith(t, 3, 50*time.Millisecond, func(tr *raft.InmemTransport) raft.Transport {
		c := countAppends(tr, stop)
		counters = append(counters, c)
		return c
	})
	l := leaderOf(t, rs)
	if err := rs[l].r.Apply([]byte("a"), 5*time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	f := (l + 1) % 3
	waitFor(t, "the follower applies the write (it learned the commit index without another write)", func() bool {
		return slices.Equal(rs[f].fsm.list(), []string{"a"})
	})
	time.Sleep(100 * time.Millisecond) // a send may still be answered
	// A window counts only if the leader kept its term throughout: these
	// rafts' 50 ms timeouts can call an election on a loaded machine, and
	// a new leader has entries to send.
	for try := 0; ; try++ {
		term := rs[l].r.CurrentTerm()
		before, start := counters[f].appends.Load(), time.Now()
		time.Sleep(500 * time.Millisecond)
		sent, idle := counters[f].appends.Load()-before, time.Since(start)
		if rs[l].r.State() != raft.Leader || rs[l].r.CurrentTerm() != term {
			if try == 10 {
				t.Fatal("the leader lost its term in 10 windows of 500 ms")
			}
			l = leaderOf(t, rs)
			f = (l + 1) % 3
			time.Sleep(100 * time.Millisecond)
			continue
		}
		// Upstream: one every 5-10 ms, 50-100 here. Now one a
		// HeartbeatTimeout (50 ms in these tests) at most, for a follower
		// that restarted unseen.
		if most := int64(idle/(50*time.Millisecond)) + 3; sent > most {
			t.Fatalf("an idle leader sent a follower %d appends in %v, want at most %d", sent, idle.Round(time.Millisecond), most)
		}
		return
	}
}

// A follower that restarts forgets the commit index (raft keeps it in
// memory only); the leader must tell it again although nothing new is
// written, or it never applies what was committed before.
func TestARestartedFollowerLearnsTheCommitIndexWithoutAWrite(t *testing.T) {
	rs := startRafts(t, 3)
	l := leaderOf(t, rs)
	for _, cmd := range []string{"a", "b"} {
		if err := rs[l].r.Apply([]byte(cmd), 5*time.Second).Error(); err != nil {
			t.Fatal(err)
		}
	}
	f := (l + 1) % 3
	waitFor(t, "the follower applies both", func() bool { return len(rs[f].fsm.list()) == 2 })
	time.Sleep(100 * time.Millisecond) // idle: the leader knows the follower has the commit index

	restarted := restartRaft(t, rs, f)
	waitFor(t, "the restarted follower applies both again", func() bool {
		return slices.Equal(restarted.fsm.list(), []string{"a", "b"})
	})
}

// restartRaft stops rs[i] and starts it again on its log and stable store
// with an empty state machine, on a new transport at the same address.
func restartRaft(t *testing.T, rs []*testRaft, i int) *testRaft {
	t.Helper()
	old := rs[i]
	if err := old.r.Shutdown().Error(); err != nil {
		t.Fatal(err)
	}
	addr := old.trans.LocalAddr()
	_ = old.trans.Close()
	_, tr := raft.NewInmemTransport(addr)
	for j, o := range rs {
		if j != i {
			o.trans.Disconnect(addr) // closes the pipelines to the old one
			o.trans.Connect(addr, tr)
			tr.Connect(o.trans.LocalAddr(), o.trans)
		}
	}
	logs, err := raft.NewLogCache(128, old.store)
	if err != nil {
		t.Fatal(err)
	}
	fsm := &listFSM{}
	r, err := raft.NewRaft(old.cfg, fsm, logs, old.stable, old.snaps, tr)
	if err != nil {
		t.Fatal(err)
	}
	n := &testRaft{r: r, store: old.store, logs: logs, fsm: fsm, trans: tr, cfg: old.cfg, stable: old.stable, snaps: old.snaps}
	rs[i] = n
	return n
}
