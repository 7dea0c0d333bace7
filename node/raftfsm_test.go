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

// registrations are the log entries 1..n, each registering one instance
// of slug svc.
func registrations(t *testing.T, n int) []*raft.Log {
	t.Helper()
	var logs []*raft.Log
	for i := 1; i <= n; i++ {
		in := fsm.Instance{URL: fmt.Sprintf("http://10.9.0.%d:80", i), Slug: "svc"}
		if err := fsm.NormalizeInstance(&in); err != nil {
			t.Fatal(err)
		}
		cmd := fsm.Command{Type: fsm.CmdRegisterInstance, Register: &fsm.RegisterCommand{
			Instance: in, NewID: fmt.Sprintf("inst-%d", i), Now: time.Unix(1e9, 0)}}
		b, err := cmd.Encode()
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
	snap, err := w.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	w.ApplyBatch(logs[6:])

	if err := w.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if got := n.fsm.AppliedIndex(); got != 6 {
		t.Fatalf("applied %d after restoring the snapshot of index 6, want 6", got)
	}
	if h := n.replica.hold.Load(); h != 10 {
		t.Fatalf("local reads held until %d, want 10 (what the catalog had applied)", h)
	}
	w.ApplyBatch(logs[6:]) // Raft's replay after the snapshot
	if got, c := n.fsm.AppliedIndex(), instanceCount(t, n.fsm); got != 10 || c != 10 {
		t.Fatalf("after the replay: applied %d with %d instances, want 10 and 10", got, c)
	}
}
