package node

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/fsm"
)

// VerifyLeader confirms with a quorum that this node is still the leader, so
// a read that follows is linearizable.
func (n *Node) VerifyLeader(ctx context.Context) error {
	_, err := n.ReadIndex(ctx)
	return err
}

// ReadIndex is Raft's read index, for linearizable reads on any node: an
// index that covers every write acknowledged before the call, confirmed by
// a quorum to come from the current leader. A follower that has applied the
// log up to it may answer a read as the leader would.
//
// Leadership is proven each round by a quorum of voters answering that they
// still follow this node in its term (confirmByQuorum, when the agent has
// set a FollowerCheck), else by committing a barrier in this term. Never by
// raft's VerifyLeader: that one counts any successful heartbeat answer read
// after the check was registered, including an answer to a heartbeat sent
// before this leader froze (a SIGSTOP, a VM pause, a long GC), so a deposed
// leader confirmed itself with its followers' stale answers and served a
// "consistent" read without writes the new leader had acknowledged. Reads
// that arrive together share one round (rounds), so the cost is one
// request per voter (or one small log entry) per round trip, not per read.
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	return n.ReadIndexFor(ctx, "", 0)
}

// ReadIndexFor is ReadIndex for a follower's request: asker is the node
// that asks and voterTerm the Raft term it said it was in when it sent the
// request (0: it said nothing). A voter still in this leader's term when
// it asked, after the reads it asks for began, has voted for no later
// leader before them, so it is one yes of the quorum: with the leader's
// own, a quorum of three voters, and the round's questions to the voters
// are not needed (confirmedByAsker). Otherwise, as ReadIndex.
func (n *Node) ReadIndexFor(ctx context.Context, asker string, voterTerm uint64) (uint64, error) {
	if err := n.waitReady(ctx); err != nil {
		return 0, err
	}
	if index, ok := n.confirmedByAsker(asker, voterTerm); ok {
		return index, nil
	}
	index, err := n.readRounds.Do(ctx)
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return 0, ErrNoLeader
	}
	return index, err
}

// confirmLeadership is one round of ReadIndex: the voters' answers, or a
// barrier committed in this term after which the FSM has applied every
// write acknowledged before the round began.
func (n *Node) confirmLeadership() (uint64, error) {
	if check := n.followerCheck.Load(); check != nil {
		return n.confirmByQuorum(*check)
	}
	return n.confirmByBarrier()
}

// confirmByBarrier proves a round by committing a barrier in this term.
func (n *Node) confirmByBarrier() (uint64, error) {
	// A barrier is a log entry: on a full disk it would fail the append
	// and make this leader step down.
	if err := n.disk.admit(); err != nil {
		return 0, err
	}
	// Bounded by the node's end: a barrier raft queued just before shutting
	// down is never answered.
	if err := n.await(n.ctx, n.raft.Barrier(10*time.Second)); err != nil {
		if errors.Is(err, errGaveUp) {
			return 0, ErrShutdown
		}
		return 0, n.disk.failed(err, mapRaftErr(err))
	}
	return n.fsm.AppliedIndex(), nil
}

// waitReady waits (5 s at most) until this leader has applied what earlier
// leaders committed (its barrier): a read before that could miss an
// acknowledged write. It is woken by the leader loop when the barrier is
// applied, and by any leader change.
func (n *Node) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		ready, moved := n.barrierDone.wait(), n.leaderMoves.wait()
		if !n.IsLeader() {
			return ErrNotLeader
		}
		if n.readyTerm.Load() == n.raft.CurrentTerm() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ErrNoLeader
		case <-ready:
		case <-moved:
		case <-time.After(100 * time.Millisecond): // a dropped observation
		}
	}
}

// RestoreSnapshot replaces the catalog with a snapshot stream (a backup's,
// already checked by the caller, taken at index) through Raft's user
// restore: the leader installs it and followers receive it as any
// snapshot. Raft's log goes on past both its own last index and the
// backup's: the catalog takes the backup's index as its own, and an entry
// at or below it would be skipped as applied (a backup of a cluster that
// had written more than this one left it refusing every write until its
// log caught up). A touch command follows, so that every table's index
// moves past the restore and blocking readers wake. It returns that
// command's index.
func (n *Node) RestoreSnapshot(ctx context.Context, state io.Reader, size int64, index uint64) (uint64, error) {
	if !n.IsLeader() {
		return 0, ErrNotLeader
	}
	if err := n.disk.admit(); err != nil {
		return 0, err
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Size: size, Index: index}
	if err := n.raft.Restore(meta, state, 30*time.Second); err != nil {
		return 0, n.disk.failed(err, mapRaftErr(err))
	}
	if _, err := n.Apply(ctx, &fsm.Command{Type: fsm.CmdTouch}); err != nil {
		return 0, err
	}
	return n.fsm.AppliedIndex(), nil
}

// CommitPoint is this leader's term and Raft commit index, read while it
// leads in that term (ok false otherwise). Its answers to followers carry
// them so that a follower applies up to there at once (LearnCommit)
// instead of on the leader's next append.
func (n *Node) CommitPoint() (term, commit uint64, ok bool) {
	term = n.raft.CurrentTerm()
	if n.raft.State() != raft.Leader {
		return 0, 0, false
	}
	commit = n.raft.CommitIndex()
	if n.raft.State() != raft.Leader || n.raft.CurrentTerm() != term {
		return 0, 0, false // deposed meanwhile: the index may not be this term's leader's
	}
	return term, commit, true
}

// LearnCommit passes a leader's CommitPoint, heard in its answer, to Raft
// (raft.LearnCommit: a follower in that term applies up to it, as far as
// its log is known to match the leader's; anything else ignores it).
// Most answers tell what the leader's appends already did: those do not
// wake Raft's loop.
func (n *Node) LearnCommit(term, commit uint64) {
	if commit > n.raft.CommitIndex() {
		n.raft.LearnCommit(term, commit)
	}
}
