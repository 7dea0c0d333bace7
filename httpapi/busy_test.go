package httpapi

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hashicorp/go-memdb"

	"github.com/rosterhq/roster/fsm"
)

// The meter's rate is the count over the last window that ended, of at
// least rateWindow; a window still open keeps the rate before it.
func TestRateMeterMeasuresTheLastWindow(t *testing.T) {
	var m rateMeter
	t0 := time.Unix(1000, 0)
	if r := m.perSecond(t0); r != 0 {
		t.Fatalf("first question: %v", r)
	}
	for range 300 {
		m.add()
	}
	if r := m.perSecond(t0.Add(rateWindow / 2)); r != 0 {
		t.Fatalf("inside the first window: %v", r)
	}
	if r := m.perSecond(t0.Add(rateWindow)); r != 3000 {
		t.Fatalf("300 in 100 ms: %v/s, want 3000", r)
	}
	for range 50 {
		m.add()
	}
	if r := m.perSecond(t0.Add(rateWindow + rateWindow/2)); r != 3000 {
		t.Fatalf("the next window still open: %v, want the last rate", r)
	}
	// A quiet spell: the window that ends now is a second long.
	if r := m.perSecond(t0.Add(rateWindow + time.Second)); r != 50 {
		t.Fatalf("50 in a second: %v/s", r)
	}
}

// catalogNode is the part of a node a local read asks: caught up, over a
// real (empty) catalog.
type catalogNode struct {
	Node
	f *fsm.FSM
}

func (n *catalogNode) CaughtUp() bool       { return true }
func (n *catalogNode) FSM() *fsm.FSM        { return n.f }
func (n *catalogNode) AppliedIndex() uint64 { return 0 }

// Plain reads count towards the read rate that makes a node busy; blocking
// reads (?index=), which mostly wait, do not.
func TestPlainReadsMakeTheNodeBusy(t *testing.T) {
	s := &Server{n: &catalogNode{f: fsm.New(nil)}, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		lists: newListCache(), parked: make(chan struct{}, 8), writeTimeout: time.Second}
	read := func(query string) {
		t.Helper()
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		c.Request = httptest.NewRequest("GET", "/registry-svc/services"+query, nil)
		s.readCached(c, cached{}, func(memdb.WatchSet) (uint64, any, error) { return 9, gin.H{}, nil })
		if w.Code != 200 {
			t.Fatalf("read %q: %d %s", query, w.Code, w.Body)
		}
	}
	for range 5 {
		read("")
	}
	read("?index=3&wait=1s")
	if got := s.reads.n.Load(); got != 5 {
		t.Fatalf("%d reads counted, want the 5 plain ones", got)
	}
}

// The busy threshold follows the cores the runtime has now, not those it
// had when the node started (Go changes GOMAXPROCS with a container's CPU
// limit): 1,500 reads a second make a one-core node busy, not a
// four-core one.
func TestBusyFollowsTheCoresNow(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	s := &Server{}
	// Windows set in the future: the rate stays what they measured while
	// the node is asked with the clock's now.
	t0 := time.Now().Add(time.Hour)
	s.reads.perSecond(t0)
	for range 150 {
		s.reads.add()
	}
	s.reads.perSecond(t0.Add(rateWindow)) // the window that ends: 1,500/s
	runtime.GOMAXPROCS(1)
	if !s.busyReading() {
		t.Fatalf("1,500 reads/s on one core: not busy (threshold %v)", busyReadRate())
	}
	runtime.GOMAXPROCS(4)
	if s.busyReading() {
		t.Fatalf("1,500 reads/s on four cores: busy (threshold %v)", busyReadRate())
	}
}
