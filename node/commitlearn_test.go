package node

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// A follower told the leader's commit point (raft.LearnCommit, which
// Roster's followers hear in the leader's answers) applies the entries it
// holds without waiting for the leader's next append, and only those it
// knows to be the leader's.

// commitMute passes appends on to its raft, with the leader's commit index
// taken out while muted, and refuses those that carry entries while cut
// (heartbeats still pass, so the follower keeps its leader and term): the
// follower then learns of commits only through LearnCommit.
type commitMute struct {
	*raft.InmemTransport
	in         chan raft.RPC
	muted, cut atomic.Bool
}

func muteCommits(tr *raft.InmemTransport, stop <-chan struct{}) *commitMute {
	m := &commitMute{InmemTransport: tr, in: make(chan raft.RPC)}
	go func() {
		for {
			var rpc raft.RPC
			select {
			case rpc = <-tr.Consumer():
			case <-stop:
				return
			}
			if a, ok := rpc.Command.(*raft.AppendEntriesRequest); ok {
				if m.cut.Load() && len(a.Entries) > 0 {
					rpc.Respond(&raft.AppendEntriesResponse{}, raft.ErrTransportShutdown) // the pipeline reads a response either way
					continue
				}
				if m.muted.Load() {
					quiet := *a // the leader's request is its own: change a copy
					quiet.LeaderCommitIndex = 0
					rpc.Command = &quiet
				}
			}
			select {
			case m.in <- rpc:
			case <-stop:
				return
			}
		}
	}()
	return m
}

func (m *commitMute) Consumer() <-chan raft.RPC { return m.in }

// startMuted starts three rafts whose followers can be muted, and returns
// them with the leader, one follower and that follower's switch, once all
// three have applied a first write and the follower, muted, holds a second
// write it does not know to be committed.
func startMuted(t *testing.T) (rs []*testRaft, l, f int, mute *commitMute) {
	t.Helper()
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	var mutes []*commitMute
	// Timeouts of 500 ms, not the 50 ms of the other raft tests: an
	// election on a loaded machine would let the muted follower lead and
	// apply on its own, and the tests assert it does not.
	rs = startRaftsWith(t, 3, 500*time.Millisecond, func(tr *raft.InmemTransport) raft.Transport {
		m := muteCommits(tr, stop)
		mutes = append(mutes, m)
		return m
	})
	l = leaderOf(t, rs)
	if err := rs[l].r.Apply([]byte("first"), 5*time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	f = (l + 1) % 3
	waitFor(t, "the follower applies the first write", func() bool { return slices.Equal(rs[f].fsm.list(), []string{"first"}) })
	mutes[f].muted.Store(true)
	writeUntold(t, rs, l, f, "second")
	return rs, l, f, mutes[f]
}

// writeUntold commits cmd on the leader and waits until follower f has
// stored it (muted, it does not learn that it is committed).
func writeUntold(t *testing.T, rs []*testRaft, l, f int, cmd string) {
	t.Helper()
	if err := rs[l].r.Apply([]byte(cmd), 5*time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the follower stores "+cmd, func() bool { return rs[f].r.LastIndex() >= rs[l].r.LastIndex() })
}

// stillNot fails if the follower's list changes from want within 150 ms.
func stillNot(t *testing.T, tr *testRaft, want []string, why string) {
	t.Helper()
	deadline := time.Now().Add(150 * time.Millisecond)
	for time.Now().Before(deadline) {
		if got := tr.fsm.list(); !slices.Equal(got, want) {
			t.Fatalf("%s: the follower applied %q, want %q", why, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAFollowerAppliesACommitPointItIsTold(t *testing.T) {
	rs, l, f, _ := startMuted(t)
	// Without the commit index it holds the entry and applies nothing.
	stillNot(t, rs[f], []string{"first"}, "no commit index reached it")

	term, commit := rs[l].r.CurrentTerm(), rs[l].r.CommitIndex()
	rs[f].r.LearnCommit(term-1, commit) // another term's leader: not this log's
	stillNot(t, rs[f], []string{"first"}, "told an earlier term's commit point")

	rs[f].r.LearnCommit(term, commit)
	waitFor(t, "the follower applies the second write once told", func() bool {
		return slices.Equal(rs[f].fsm.list(), []string{"first", "second"})
	})
	if got := rs[f].r.CommitIndex(); got != commit {
		t.Fatalf("the follower's commit index is %d, want %d", got, commit)
	}

	writeUntold(t, rs, l, f, "third")
	rs[f].r.LearnCommit(term+1, rs[l].r.CommitIndex()) // a term it is not in
	stillNot(t, rs[f], []string{"first", "second"}, "told a later term's commit point")
}

// A commit point past what the follower has received from the leader
// applies only what it has: the rest waits for the leader's appends (the
// library would stop the node on an entry it cannot read).
func TestAFollowerAppliesOnlyWhatTheLeaderSentIt(t *testing.T) {
	rs, l, f, mute := startMuted(t)
	mute.cut.Store(true) // the third write never reaches it
	for _, cmd := range []string{"third", "fourth"} {
		if err := rs[l].r.Apply([]byte(cmd), 5*time.Second).Error(); err != nil {
			t.Fatal(err)
		}
	}
	term, commit := rs[l].r.CurrentTerm(), rs[l].r.CommitIndex()
	rs[f].r.LearnCommit(term, commit+100)
	waitFor(t, "the follower applies the write it holds", func() bool {
		return slices.Equal(rs[f].fsm.list(), []string{"first", "second"})
	})
	stillNot(t, rs[f], []string{"first", "second"}, "told a commit point past its log")
	if rs[f].r.State() == raft.Shutdown {
		t.Fatal("the follower stopped")
	}
	mute.cut.Store(false)
	mute.muted.Store(false)
	waitFor(t, "the follower applies the rest from the leader", func() bool {
		return slices.Equal(rs[f].fsm.list(), []string{"first", "second", "third", "fourth"})
	})
}
