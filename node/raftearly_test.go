package node

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// The Raft library is hashicorp/raft with one change (third_party/raft):
// a leader sends new entries to its followers while it writes them to its
// own log, instead of after. These tests hold a leader's log write and
// watch what the cluster does meanwhile, on real raft instances over the
// library's in-memory transport.

// gatedStore is a log store whose writes can be held (until released) or
// failed.
type gatedStore struct {
	*raft.InmemStore
	mu      sync.Mutex
	hold    chan struct{} // non-nil: StoreLogs waits for it to close
	fail    error
	holding chan struct{} // closed when a write starts waiting
}

func (g *gatedStore) StoreLogs(logs []*raft.Log) error {
	g.mu.Lock()
	hold, fail, holding := g.hold, g.fail, g.holding
	g.mu.Unlock()
	if fail != nil {
		return fail
	}
	if hold != nil {
		close(holding)
		<-hold
	}
	return g.InmemStore.StoreLogs(logs)
}

func (g *gatedStore) StoreLog(l *raft.Log) error { return g.StoreLogs([]*raft.Log{l}) }

// holdNext makes the next write wait until the returned release is called;
// started is closed once that write waits.
func (g *gatedStore) holdNext() (started <-chan struct{}, release func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	hold, holding := make(chan struct{}), make(chan struct{})
	g.hold, g.holding = hold, holding
	var once sync.Once
	return holding, func() {
		once.Do(func() {
			g.mu.Lock()
			g.hold = nil
			g.mu.Unlock()
			close(hold)
		})
	}
}

func (g *gatedStore) failWith(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fail = err
}

// listFSM keeps the commands it applied.
type listFSM struct {
	mu   sync.Mutex
	cmds []string
}

func (f *listFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = append(f.cmds, string(l.Data))
	return nil
}

func (f *listFSM) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.cmds...)
}

func (f *listFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, errors.New("no snapshots here") }
func (f *listFSM) Restore(io.ReadCloser) error         { return errors.New("no snapshots here") }

type testRaft struct {
	r      *raft.Raft
	store  *gatedStore
	logs   *raft.LogCache
	fsm    *listFSM
	trans  *raft.InmemTransport
	cfg    *raft.Config
	stable *raft.InmemStore
	snaps  *raft.InmemSnapshotStore
}

// startRafts starts n voters over in-memory transports, as node.go builds
// its log (a LogCache over the store).
func startRafts(t *testing.T, n int) []*testRaft {
	t.Helper()
	return startRaftsWith(t, n, 50*time.Millisecond, func(tr *raft.InmemTransport) raft.Transport { return tr })
}

// startRaftsWith is startRafts with Raft's heartbeat, election and lease
// timeouts at timeout and each raft's transport wrapped.
func startRaftsWith(t *testing.T, n int, timeout time.Duration, wrap func(*raft.InmemTransport) raft.Transport) []*testRaft {
	t.Helper()
	var trans []*raft.InmemTransport
	var servers []raft.Server
	for i := range n {
		addr, tr := raft.NewInmemTransport(raft.ServerAddress(fmt.Sprintf("r%d", i)))
		trans = append(trans, tr)
		servers = append(servers, raft.Server{ID: raft.ServerID(addr), Address: addr})
	}
	for _, a := range trans {
		for _, b := range trans {
			a.Connect(b.LocalAddr(), b)
		}
	}
	var out []*testRaft
	for i := range n {
		cfg := raft.DefaultConfig()
		cfg.LocalID = servers[i].ID
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = timeout, timeout, timeout
		cfg.CommitTimeout = 5 * time.Millisecond
		cfg.Logger = hclog.NewNullLogger()
		store := &gatedStore{InmemStore: raft.NewInmemStore()}
		logs, err := raft.NewLogCache(128, store)
		if err != nil {
			t.Fatal(err)
		}
		stable := raft.NewInmemStore()
		snaps := raft.NewInmemSnapshotStore()
		if err := raft.BootstrapCluster(cfg, logs, stable, snaps, trans[i], raft.Configuration{Servers: servers}); err != nil {
			t.Fatal(err)
		}
		fsm := &listFSM{}
		r, err := raft.NewRaft(cfg, fsm, logs, stable, snaps, wrap(trans[i]))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &testRaft{r: r, store: store, logs: logs, fsm: fsm, trans: trans[i], cfg: cfg, stable: stable, snaps: snaps})
	}
	t.Cleanup(func() {
		for _, tr := range out {
			_ = tr.r.Shutdown().Error()
		}
	})
	return out
}

func leaderOf(t *testing.T, rs []*testRaft) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for i, tr := range rs {
			if tr.r.State() == raft.Leader {
				return i
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no leader in 10 s")
	return -1
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not in 10 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// While the leader's write of an entry is held, the followers receive and
// store it; the write is answered only once the leader's own write is done
// (its loop waits for it), and then every replica applies it.
func TestTheLeaderReplicatesWhileItWrites(t *testing.T) {
	rs := startRafts(t, 3)
	l := leaderOf(t, rs)
	if err := rs[l].r.Barrier(5 * time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	want := rs[l].r.LastIndex() + 1
	started, release := rs[l].store.holdNext()
	defer release() // a failed test must not leave the leader's loop waiting
	f := rs[l].r.Apply([]byte("held"), 10*time.Second)
	answered := make(chan error, 1)
	go func() { answered <- f.Error() }()
	<-started
	for i, tr := range rs {
		if i == l {
			continue
		}
		waitFor(t, fmt.Sprintf("follower %d stores entry %d while the leader's write is held", i, want), func() bool {
			var e raft.Log
			return tr.store.GetLog(want, &e) == nil && string(e.Data) == "held"
		})
	}
	var onLeader raft.Log
	if err := rs[l].store.GetLog(want, &onLeader); err == nil {
		t.Fatal("the leader's store has the entry before its write was released")
	}
	select {
	case err := <-answered:
		t.Fatalf("the write was answered (%v) before the leader's own write was done", err)
	case <-time.After(100 * time.Millisecond):
	}
	release()
	if err := <-answered; err != nil {
		t.Fatal(err)
	}
	for i, tr := range rs {
		waitFor(t, fmt.Sprintf("replica %d applies the entry", i), func() bool {
			c := tr.fsm.list()
			return len(c) > 0 && c[len(c)-1] == "held"
		})
	}
}

// A leader whose log write fails may have sent the entry already: the
// write's outcome is unknown (ErrLeadershipLost, with the disk's error
// kept), the leader steps down, and the replicas end up with the same log
// whichever way the entry went.
func TestALeaderWhoseWriteFailsSaysTheOutcomeIsUnknown(t *testing.T) {
	rs := startRafts(t, 3)
	l := leaderOf(t, rs)
	if err := rs[l].r.Apply([]byte("before"), 5*time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	full := &os.PathError{Op: "write", Path: "raft.db", Err: syscall.ENOSPC}
	rs[l].store.failWith(full)
	err := rs[l].r.Apply([]byte("failed"), 5*time.Second).Error()
	if !errors.Is(err, raft.ErrLeadershipLost) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("a failed log write answered %v; want ErrLeadershipLost carrying ENOSPC", err)
	}
	if mapped := mapRaftErr(err); !errors.Is(mapped, ErrLeadershipLost) {
		t.Fatalf("node maps it to %v, want indeterminate", mapped)
	}
	waitFor(t, "the leader steps down", func() bool { return rs[l].r.State() != raft.Leader })
	rs[l].store.failWith(nil)
	l2 := leaderOf(t, rs)
	if err := rs[l2].r.Apply([]byte("after"), 5*time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every replica applies the same log", func() bool {
		a := rs[0].fsm.list()
		for _, tr := range rs[1:] {
			if !slices.Equal(a, tr.fsm.list()) {
				return false
			}
		}
		return len(a) > 0 && a[len(a)-1] == "after"
	})
	cmds := rs[0].fsm.list()
	if !slices.Contains(cmds, "before") {
		t.Fatalf("replicas applied %q", cmds)
	}
	t.Logf("replicas applied %q (the failed write went either way)", cmds)
}

// The log cache serves announced entries before they are stored, and
// announces nothing it cannot hold whole (the leader then writes first, as
// upstream does); a failed write empties it.
func TestTheLogCacheAnnouncesWhatItCanHold(t *testing.T) {
	store := &gatedStore{InmemStore: raft.NewInmemStore()}
	c, err := raft.NewLogCache(2, store)
	if err != nil {
		t.Fatal(err)
	}
	logs := []*raft.Log{{Index: 1, Data: []byte("a")}, {Index: 2, Data: []byte("b")}, {Index: 3, Data: []byte("c")}}
	var got raft.Log
	if c.Announce(logs) || c.GetLog(1, &got) == nil {
		t.Fatal("three entries announced in a cache of two")
	}
	if !c.Announce(logs[:2]) || c.GetLog(2, &got) != nil || string(got.Data) != "b" {
		t.Fatalf("two announced entries: %q", got.Data)
	}
	if store.GetLog(2, &got) == nil {
		t.Fatal("announcing stored the entry")
	}
	// The leader's compaction deletes older entries meanwhile: announced
	// ones stay (else its replicators would send a snapshot instead).
	if err := c.DeleteRange(0, 0); err != nil || c.GetLog(2, &got) != nil {
		t.Fatalf("deleting an older range dropped an announced entry: %v", err)
	}
	if err := c.DeleteRange(2, 2); err != nil || c.GetLog(2, &got) == nil {
		t.Fatalf("a deleted entry is still served: %v", err)
	}
	c.Announce(logs[:2])
	store.failWith(errors.New("disk gone"))
	if c.StoreLogs(logs[:2]) == nil {
		t.Fatal("the failed write succeeded")
	}
	if c.GetLog(2, &got) == nil {
		t.Fatal("an announced entry that was never stored is still served")
	}
}
