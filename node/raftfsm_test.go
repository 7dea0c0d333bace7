package node

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/fsm"
)

// memSink is a raft.SnapshotSink in memory.
type memSink struct{ bytes.Buffer }

func (*memSink) ID() string    { return "mem" }
func (*memSink) Cancel() error { return nil }
func (*memSink) Close() error  { return nil }

// registerCmd registers instance i of slug svc at http://NET.i:80.
func registerCmd(t *testing.T, net string, i int) *fsm.Command {
	t.Helper()
	in := fsm.Instance{URL: fmt.Sprintf("http://%s.%d:80", net, i), Slug: "svc"}
	if err := fsm.NormalizeInstance(&in); err != nil {
		t.Fatal(err)
	}
	return &fsm.Command{Type: fsm.CmdRegisterInstance, Register: &fsm.RegisterCommand{
		Instance: in, NewID: fmt.Sprintf("inst-%d", i), Now: time.Unix(1e9, 0)}}
}

// registrations are the log entries 1..n, each registering one instance
// of slug svc.
func registrations(t *testing.T, n int) []*raft.Log {
	t.Helper()
	var logs []*raft.Log
	for i := 1; i <= n; i++ {
		b, err := registerCmd(t, "10.9.0", i).Encode()
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, &raft.Log{Index: uint64(i), Term: 1, Type: raft.LogCommand, Data: b})
	}
	return logs
}

func instanceCount(t *testing.T, f *fsm.FSM) int {
	t.Helper()
	got, _, err := f.Instances(nil, fsm.InstanceFilter{Slug: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	return len(got)
}

// Raft may install a snapshot older than what the catalog has applied: on
// a client just promoted (its replica stream was ahead), or when a leader
// sends a follower a snapshot again after the follower moved past it.
// Raft applies the entries after the snapshot next; the catalog must take
// the snapshot's index so that they are applied, not skipped as applied
// already (which lost them for good), and local reads wait meanwhile.
func TestAnOlderRaftSnapshotIsFollowedByItsReplay(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	n := &Node{fsm: fsm.New(log), log: log}
	w := raftFSM{n}
	logs := registrations(t, 10)
	w.ApplyBatch(logs[:6])
	older := catalogSnapshot(t, n)
	w.ApplyBatch(logs[6:])

	if err := w.Restore(io.NopCloser(bytes.NewReader(older))); err != nil {
		t.Fatal(err)
	}
	if got := n.fsm.AppliedIndex(); got != 6 {
		t.Fatalf("applied %d after restoring the snapshot of index 6, want 6", got)
	}
	if h := n.replica.hold.Load(); h == nil || h.index != 10 {
		t.Fatalf("local reads held until %+v, want 10 (what the catalog had applied)", h)
	}
	w.ApplyBatch(logs[6:]) // Raft's replay after the snapshot
	if got, c := n.fsm.AppliedIndex(), instanceCount(t, n.fsm); got != 10 || c != 10 {
		t.Fatalf("after the replay: applied %d with %d instances, want 10 and 10", got, c)
	}
}

// registerThrough applies registrations from..to-1 of slug svc through
// Raft on the leader n.
func registerThrough(t *testing.T, n *Node, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, err := n.Apply(t.Context(), registerCmd(t, "10.9.1", i)); err != nil {
			t.Fatal(err)
		}
	}
}

// catalogSnapshot is the catalog's snapshot as Raft would persist it.
func catalogSnapshot(t *testing.T, n *Node) []byte {
	t.Helper()
	snap, err := n.fsm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	return sink.Bytes()
}

// An operator's restore of an older backup is installed by Raft past its
// log (RestoreSnapshot hands it an index after the last one): nothing is
// left to replay, so local reads answer at once from the restored catalog,
// whether or not the touch RestoreSnapshot applies after it gets through
// (a leader that lost its term in between left every node's local reads
// held, catching_up, until the next write).
func TestAnOperatorsRestoreHoldsNoReads(t *testing.T) {
	n := soloLeader(t)
	registerThrough(t, n, 0, 5)
	backup, at := catalogSnapshot(t, n), n.fsm.AppliedIndex()
	registerThrough(t, n, 5, 10)
	// The restore as RestoreSnapshot makes it, without its touch.
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Size: int64(len(backup)), Index: at}
	if err := n.raft.Restore(meta, bytes.NewReader(backup), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if c := instanceCount(t, n.fsm); c != 5 {
		t.Fatalf("%d instances after restoring the backup of 5", c)
	}
	if !n.CaughtUp() {
		t.Fatalf("local reads held after an operator's restore: catalog at %d, Raft applied %d, held %+v",
			n.fsm.AppliedIndex(), n.raft.AppliedIndex(), *n.replica.hold.Load())
	}
}

// A snapshot older than the catalog that Raft is installing (a leader's
// retry): between the catalog's reload and Raft recording the install,
// Raft's applied index still names what the replaced catalog had, and must
// not let local reads through to the older catalog.
func TestAnOlderSnapshotHoldsReadsBeforeRaftRecordsIt(t *testing.T) {
	n := soloLeader(t)
	registerThrough(t, n, 0, 3)
	older := catalogSnapshot(t, n)
	registerThrough(t, n, 3, 6)
	// The catalog goes back as Raft's install makes it go; Raft has not
	// recorded the install yet.
	if err := (raftFSM{n}).Restore(io.NopCloser(bytes.NewReader(older))); err != nil {
		t.Fatal(err)
	}
	if n.CaughtUp() {
		t.Fatalf("local reads let through to the older catalog (%d instances at %d) while Raft says %d",
			instanceCount(t, n.fsm), n.fsm.AppliedIndex(), n.raft.AppliedIndex())
	}
}
