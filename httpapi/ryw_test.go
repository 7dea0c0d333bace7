package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rosterhq/roster/node"
)

// floorNode is the part of a node readYourWrites asks: what it answered
// and what it applied. A wait succeeds only if the index is applied
// already (as if the second ran out otherwise).
type floorNode struct {
	Node
	acked, applied atomic.Uint64
	waits          atomic.Int32
}

func (n *floorNode) AckedIndex() uint64   { return n.acked.Load() }
func (n *floorNode) AppliedIndex() uint64 { return n.applied.Load() }
func (n *floorNode) WaitAppliedFor(_ context.Context, idx uint64, _ time.Duration) error {
	n.waits.Add(1)
	if n.applied.Load() >= idx {
		return nil
	}
	return node.ErrApplyWait
}

// Reads of the catalog wait for the writes answered on the leader's word,
// other requests never do; a read that waited in vain (a node cut off from
// the leader) lets the next ones answer at once, until a newer write is
// answered; and a read makes the writes that follow wait for their apply.
func TestReadsWaitForAnsweredWrites(t *testing.T) {
	n := &floorNode{}
	s := &Server{n: n, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	serve := func(method, path string) int32 {
		t.Helper()
		before := n.waits.Load()
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequest(method, path, nil)
		s.readYourWrites(c)
		return n.waits.Load() - before
	}
	n.applied.Store(5)
	if serve("GET", "/registry-svc/instances") != 0 {
		t.Fatal("a read waited with nothing answered")
	}
	n.acked.Store(5)
	if serve("GET", "/registry-svc/instances") != 0 {
		t.Fatal("a read waited for an applied write")
	}
	n.acked.Store(7)
	for _, r := range [][2]string{{"PUT", "/registry-svc/instance"}, {"DELETE", "/registry-svc/instance/x"},
		{"GET", "/registry-svc/internal/replica"}, {"GET", "/healthz"}, {"GET", "/health"}, {"GET", "/metrics"}, {"GET", "/debug/pprof/"}} {
		if serve(r[0], r[1]) != 0 {
			t.Fatalf("%s %s waited", r[0], r[1])
		}
	}
	if serve("POST", "/user-svc/orders") != 1 {
		t.Fatal("a proxied POST did not wait for the answered write")
	}
	// That wait ran out: the node is cut off. Reads answer at once now.
	for _, r := range [][2]string{{"GET", "/registry-svc/instances"}, {"GET", "/user-svc/x"}, {"GET", "/ui/"}} {
		if serve(r[0], r[1]) != 0 {
			t.Fatalf("%s %s waited again for index 7", r[0], r[1])
		}
	}
	n.acked.Store(8)
	if serve("GET", "/registry-svc/instance/x") != 1 {
		t.Fatal("a read did not wait for a newer answered write")
	}
	n.applied.Store(8)
	if serve("HEAD", "/registry-svc/services") != 0 {
		t.Fatal("a read waited once the write was applied")
	}

	// A read just now: the next forwarded write waits for its apply.
	if s.answerOnLeadersWord() {
		t.Fatal("a write would be answered on the leader's word right after a read")
	}
	s.lastRead.Store(time.Now().Add(-time.Second).UnixNano())
	if !s.answerOnLeadersWord() {
		t.Fatal("a write would wait for its apply a second after the last read")
	}
	serve("GET", "/healthz")
	if !s.answerOnLeadersWord() {
		t.Fatal("a health check counted as a read of the catalog")
	}
}
