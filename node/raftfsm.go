package node

import (
	"io"
	"math"
	"sort"

	"github.com/hashicorp/raft"
)

// raftFSM is the catalog as Raft drives it. A node's catalog has two
// possible sources: Raft while the node is a server, and a replica stream
// while it is a client agent (replica.go). Both carry the same committed
// log, so an entry either one already applied is skipped when the other
// brings it again (a demoted server's Raft may still apply the last
// entries it had; a promoted client's Raft replays the log from its start).
// applyMu keeps the two from applying at the same time.
type raftFSM struct{ n *Node }

var _ raft.BatchingFSM = raftFSM{}

func (w raftFSM) Apply(l *raft.Log) any { return w.ApplyBatch([]*raft.Log{l})[0] }

func (w raftFSM) ApplyBatch(logs []*raft.Log) []any {
	w.n.applyMu.Lock()
	defer w.n.applyMu.Unlock()
	applied := w.n.fsm.AppliedIndex()
	if len(logs) == 0 || logs[0].Index > applied {
		return w.n.fsm.ApplyBatch(logs)
	}
	out := make([]any, len(logs))
	first := sort.Search(len(logs), func(i int) bool { return logs[i].Index > applied })
	if first < len(logs) {
		copy(out[first:], w.n.fsm.ApplyBatch(logs[first:]))
	}
	return out
}

func (w raftFSM) Snapshot() (raft.FSMSnapshot, error) { return w.n.fsm.Snapshot() }

// Restore installs a snapshot Raft sends or starts from. Raft applies the
// entries after the snapshot's index next, so the catalog takes that index
// as its own (Reload) even when it is below what this node had applied;
// keeping the higher index would skip those entries for good. A snapshot
// older than the catalog comes to a client just promoted (its replica
// stream was ahead of the leader's snapshot), to a follower a leader sends
// a snapshot again after it had moved past it (a retry, or a compaction
// racing the replica stream), and with an operator's restore of an older
// backup (node.RestoreSnapshot moves Raft's log past it). Local reads
// then wait (catching_up) until Raft has applied past where the node was
// (CaughtUp), so they never go back in time: the replay of a promoted
// client, at once for an operator's restore, which Raft installs after its
// log. X-Registry-Index keeps the higher indexes meanwhile (fsm's restore
// keeps them).
func (w raftFSM) Restore(rc io.ReadCloser) error {
	w.n.applyMu.Lock()
	defer w.n.applyMu.Unlock()
	// The hold is in place before the catalog goes back: a reader never
	// sees the older one. It is let go at once if the snapshot is newer.
	reached := w.n.fsm.AppliedIndex()
	if reached > 0 {
		h := &readHold{index: reached, raftAt: math.MaxUint64} // Raft unknown yet: the catalog must get there
		if r := w.n.raftUp.Load(); r != nil {
			h.raftAt = r.AppliedIndex()
		}
		w.n.replica.hold.Store(h)
	}
	if err := w.n.fsm.Reload(rc); err != nil {
		return err
	}
	if at := w.n.fsm.AppliedIndex(); at < reached {
		w.n.log.Info("installed a Raft snapshot older than the catalog (a promoted client's replica, or an operator's restore); local reads wait for Raft's replay",
			"snapshot_index", at, "catalog_index", reached)
	}
	return nil
}
