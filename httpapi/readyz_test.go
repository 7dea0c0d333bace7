package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/rosterhq/roster/api"
)

// statusNode is the part of a node readyz asks: its status and whether its
// local reads are held.
type statusNode struct {
	Node
	st       api.ClusterStatus
	caughtUp bool
}

func (n *statusNode) Status() api.ClusterStatus { return n.st }
func (n *statusNode) CaughtUp() bool            { return n.caughtUp }

// readyz says not ready while local reads are held after a restart (a
// load balancer would otherwise send reads that wait, then fail with
// catching_up), and ready once they are not.
func TestReadyzWaitsForLocalReads(t *testing.T) {
	n := &statusNode{st: api.ClusterStatus{LeaderID: "node1", CommitIndex: 40, AppliedIndex: 38}}
	s := &Server{n: n, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ask := func() (int, map[string]any) {
		t.Helper()
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		c.Request = httptest.NewRequest("GET", "/readyz", nil)
		s.readyz(c)
		var body map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("readyz answered %q: %v", w.Body.String(), err)
		}
		return w.Code, body
	}
	code, body := ask()
	if code != http.StatusServiceUnavailable || body["ready"] != false || !strings.HasPrefix(body["reason"].(string), "catching up") {
		t.Fatalf("holding local reads: readyz answered %d %v, want 503 catching up", code, body)
	}
	if body["applied"] != float64(38) || body["commit"] != float64(40) {
		t.Fatalf("holding local reads: readyz says applied %v, commit %v; want 38 and 40", body["applied"], body["commit"])
	}
	n.caughtUp = true
	if code, body := ask(); code != http.StatusOK || body["ready"] != true || body["leader"] != "node1" {
		t.Fatalf("caught up: readyz answered %d %v, want 200 ready", code, body)
	}
	n.st.LeaderID = ""
	if code, body := ask(); code != http.StatusServiceUnavailable || body["reason"] != "no known leader" {
		t.Fatalf("no leader: readyz answered %d %v", code, body)
	}
}
