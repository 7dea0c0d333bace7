package node

import (
	"io"
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
	if w.n.replica.fed.Load() && w.n.IsServer() {
		w.n.replica.fed.Store(false) // Raft is the source from now on
	}
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

// Restore installs a snapshot Raft sends or starts from. On a client just
// promoted, the replica may be ahead of that snapshot: the catalog takes
// the snapshot's index as its own so that Raft's replay of the entries
// after it is not skipped, and local reads wait (catching_up) until the
// replay is past where the replica was, so they never go back in time.
func (w raftFSM) Restore(rc io.ReadCloser) error {
	w.n.applyMu.Lock()
	defer w.n.applyMu.Unlock()
	if w.n.replica.fed.Swap(false) {
		reached := w.n.fsm.AppliedIndex()
		w.n.replica.hold.Store(reached)
		w.n.log.Info("promoted: installing the leader's snapshot over the replica; local reads wait for Raft's replay",
			"replica_index", reached)
		return w.n.fsm.Reload(rc)
	}
	return w.n.fsm.Restore(rc)
}
