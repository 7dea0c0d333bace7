package forward

import (
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
)

// While the node is busy, a batch leaves no sooner than the spacing after
// the one before, and the writes of that time leave together; a node that
// is not busy sends at once, even right after a batch.
func TestBusyNodeSpacesItsBatches(t *testing.T) {
	var mu sync.Mutex
	var arrivals []time.Time
	l := newFakeLeader(t, func(w http.ResponseWriter, r *http.Request, req *BatchRequest) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
		echo(w, r, req)
	})
	n := newFakeNode()
	n.setLeader("l", l.URL, false)
	f := newForwarder(t, n, 30*time.Second)
	var busy atomic.Bool
	busy.Store(true)
	const spacing = 2 * time.Second
	f.SpaceWhen(busy.Load, spacing)

	// The first batch after a quiet spell leaves at once.
	if o := outcome(t, submit(f, write(0)), 10*time.Second); o.Err != nil {
		t.Fatal(o.Err)
	}
	// Writes that come within the spacing wait for it, all in one batch.
	var chans []<-chan Outcome
	for i := 1; i <= 9; i++ {
		chans = append(chans, submit(f, write(i)))
	}
	for i, ch := range chans {
		if o := outcome(t, ch, 30*time.Second); o.Err != nil || o.Answer.Status != 201 {
			t.Fatalf("write %d: %+v", i+1, o)
		}
	}
	if b, w := l.batches.Load(), l.writes.Load(); b != 2 || w != 10 {
		t.Fatalf("%d writes in %d batches, want 10 in 2", w, b)
	}
	mu.Lock()
	gap := arrivals[1].Sub(arrivals[0])
	mu.Unlock()
	if gap < spacing-50*time.Millisecond { // the leader's clock: the send may take a little less
		t.Fatalf("the second batch came %v after the first, spacing %v", gap, spacing)
	}

	// Not busy: the next write leaves at once, within the spacing of the
	// last batch.
	busy.Store(false)
	began := time.Now()
	if o := outcome(t, submit(f, write(10)), 30*time.Second); o.Err != nil {
		t.Fatal(o.Err)
	}
	if took := time.Since(began); took >= spacing {
		t.Fatalf("a write on a node that is not busy took %v (spacing %v)", took, spacing)
	}
}

// Close ends a wait for the spacing: the write queued behind it is refused
// at once, not after the spacing.
func TestCloseEndsAWaitForTheSpacing(t *testing.T) {
	l := newFakeLeader(t, echo)
	n := newFakeNode()
	n.setLeader("l", l.URL, false)
	f := New(Config{Node: n, HTTP: &http.Client{}, Hold: 30 * time.Second})
	f.SpaceWhen(func() bool { return true }, time.Hour)
	if o := outcome(t, submit(f, write(0)), 10*time.Second); o.Err != nil {
		t.Fatal(o.Err)
	}
	ch := submit(f, write(1))
	for { // until the write is queued behind the spacing
		f.batch.mu.Lock()
		queued := len(f.batch.queue)
		f.batch.mu.Unlock()
		if queued == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { f.Close(); close(closed) }()
	if o := outcome(t, ch, 10*time.Second); !errors.Is(o.Err, api.ErrShuttingDown) {
		t.Fatalf("the spaced write after Close: %+v", o)
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close still waiting for the spaced sender")
	}
	if b := l.batches.Load(); b != 1 {
		t.Fatalf("%d batches reached the leader, want 1", b)
	}
}
