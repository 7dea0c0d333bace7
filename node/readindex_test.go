package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rosterhq/roster/fsm"
)

// waitLeads waits until the lone node n leads and has applied its barrier.
func waitLeads(t *testing.T, n *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := n.waitReadyWithin(ctx); err != nil {
		t.Fatalf("the lone node did not lead: %v", err)
	}
}

// soloLeader is a lone node on a fresh data dir, leading, closed when the
// test ends.
func soloLeader(t *testing.T) *Node {
	t.Helper()
	n, err := Open(soloConfig(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	waitLeads(t, n)
	return n
}

func (n *Node) waitReadyWithin(ctx context.Context) error {
	for {
		if err := n.waitReady(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Consistent reads commit barriers, which raft applies without the FSM.
// A node restarted on a log that ends with them must still count as caught
// up once its FSM holds the last write: before, every local read after a
// full cluster restart waited out its deadline.
func TestARestartOnALogEndingInBarriersCatchesUp(t *testing.T) {
	dir := t.TempDir()
	cfg := soloConfig(t, dir)
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitLeads(t, n)
	def := &fsm.Definition{ID: "nginx-svc", Image: &fsm.ImageSpec{Name: "nginx:alpine", InternalPorts: []uint16{80}},
		Ports: []fsm.PortMapping{{Internal: 80, Host: 8080}}}
	if _, err := n.Apply(t.Context(), &fsm.Command{Type: fsm.CmdSaveDefinition, Definition: def}); err != nil {
		t.Fatal(err)
	}
	written := n.fsm.AppliedIndex()
	for range 3 {
		index, err := n.ReadIndex(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if index < written {
			t.Fatalf("read index %d is below the acknowledged write at %d", index, written)
		}
	}
	last := n.raft.LastIndex()
	if last <= written {
		t.Fatalf("the log ends at %d, the write at %d: the reads committed no barrier", last, written)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	n, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if got := n.catchUpIndex(min(n.bootIndex, n.raft.LastIndex())); got != written {
		t.Fatalf("catch-up target %d, want the write at %d (the log ends at %d with barriers)", got, written, last)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := n.WaitCaughtUp(ctx); err != nil {
		t.Fatalf("restarted node never caught up: %v (applied %d, boot index %d)", err, n.fsm.AppliedIndex(), n.bootIndex)
	}
}

// A wait for an index the node will never apply because it closes ends
// with ErrShutdown when it closes, not when the caller's time runs out: an
// agent stopped under ?consistent reads would otherwise hold them until
// its HTTP server cut them off.
func TestWaitAppliedEndsWhenTheNodeCloses(t *testing.T) {
	n := soloLeader(t)
	done := make(chan error, 1)
	go func() { done <- n.WaitApplied(t.Context(), n.fsm.AppliedIndex()+1000) }()
	time.Sleep(20 * time.Millisecond)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrShutdown) {
			t.Fatalf("wait on a closed node: %v, want ErrShutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still waiting 10s after the node closed")
	}
	if err := n.WaitApplied(t.Context(), n.fsm.AppliedIndex()+1); !errors.Is(err, ErrShutdown) {
		t.Fatalf("wait after Close: %v, want ErrShutdown", err)
	}
}

// WaitAppliedFor answers at once for an index already applied, when the
// index is applied while it waits, and with ErrApplyWait when its time is
// up first.
func TestWaitAppliedForEndsAtTheIndexOrItsTime(t *testing.T) {
	n := soloLeader(t)
	applied := n.fsm.AppliedIndex()
	if err := n.WaitAppliedFor(t.Context(), applied, time.Nanosecond); err != nil {
		t.Fatalf("an applied index: %v", err)
	}
	began := time.Now()
	if err := n.WaitAppliedFor(t.Context(), applied+1000, 50*time.Millisecond); err != ErrApplyWait {
		t.Fatalf("an index never written: %v, want ErrApplyWait", err)
	}
	if waited := time.Since(began); waited < 50*time.Millisecond {
		t.Fatalf("gave up after %v, before its 50ms", waited)
	}
	done := make(chan error, 1)
	go func() { done <- n.WaitAppliedFor(t.Context(), applied+1, time.Minute) }()
	def := &fsm.Definition{ID: "nginx-svc", Image: &fsm.ImageSpec{Name: "nginx:alpine", InternalPorts: []uint16{80}},
		Ports: []fsm.PortMapping{{Internal: 80, Host: 8080}}}
	if _, err := n.Apply(t.Context(), &fsm.Command{Type: fsm.CmdSaveDefinition, Definition: def}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("an index applied while it waited: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still waiting 10s after the index was applied")
	}
}
