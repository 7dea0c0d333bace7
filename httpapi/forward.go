package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rosterhq/roster/forward"
	"github.com/rosterhq/roster/internal/monotonic"
	"github.com/rosterhq/roster/node"
)

// viaLeader runs local on this node if it leads, otherwise replays the
// request (with body, already validated and completed here) on the leader
// through the road (forward.ToLeader: through elections for the hold time,
// never resending a write that may have been applied). local returns
// node.ErrNotLeader when leadership moved under it. Only a resendable
// request (a read) is also tried again after an indeterminate outcome.
func (s *Server) viaLeader(c *gin.Context, body any, resendable bool, local func(ctx context.Context) error) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.road.Hold())
	defer cancel()
	req := forward.Request{Method: c.Request.Method, Path: c.Request.URL.RequestURI(), Auth: c.GetHeader("Authorization")}
	if raw, ok := body.(rawBody); ok {
		req.Body = raw
	} else if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.writeError(c, err)
			return
		}
		req.Body = b
	}
	for {
		if s.n.IsLeader() {
			err := local(ctx)
			if err == nil {
				return
			}
			retry := errors.Is(err, node.ErrNotLeader) || (resendable && errors.Is(err, node.ErrLeadershipLost))
			if !retry || ctx.Err() != nil {
				s.writeError(c, err)
				return
			}
			continue
		}
		if c.GetHeader(forward.Header) != "" {
			s.writeError(c, node.ErrNotLeader) // one hop only
			return
		}
		resp, err := s.road.ToLeader(ctx, req, resendable)
		switch {
		case errors.Is(err, forward.ErrUsualPath):
			continue // this node leads now
		case err != nil && c.Request.Context().Err() != nil:
			return // the client has gone
		case err != nil:
			s.writeError(c, err)
			return
		}
		s.copyAnswer(c, ctx, resp)
		return
	}
}

// copyAnswer gives the client the leader's answer, once this node has
// applied a write the leader acknowledged (read your writes).
func (s *Server) copyAnswer(c *gin.Context, ctx context.Context, resp *forward.Response) {
	if resp.Status < 300 {
		if idx, err := strconv.ParseUint(resp.Header.Get("X-Registry-Index"), 10, 64); err == nil {
			s.awaitApplied(ctx, idx)
		}
	}
	for _, h := range []string{"Content-Type", "X-Registry-Index", "Retry-After"} {
		if v := resp.Header.Get(h); v != "" {
			c.Header(h, v)
		}
	}
	c.Status(resp.Status)
	c.Writer.Write(resp.Body)
	c.Abort()
}

// awaitApplied waits, for a second at most, until this node has applied a
// write the leader acknowledged at idx, so that the client's next local read
// here sees it; false when the second ran out.
func (s *Server) awaitApplied(ctx context.Context, idx uint64) bool {
	if err := s.n.WaitAppliedFor(ctx, idx, time.Second); err != nil {
		s.log.Debug("answering before this node has applied the index", "index", idx, "applied", s.n.AppliedIndex())
		return false
	}
	return true
}

// isDialError reports a failure to connect: nothing reached the other side.
func isDialError(err error) bool { return forward.IsDialError(err) }

// readYourWrites holds a request that reads this node's catalog until the
// node has applied every forwarded write it has answered on the leader's
// word (viaBatch): a client that registers through a follower and then
// lists, gets or calls the instance through the same node sees it. Reads
// are the API's GETs and everything the proxy and the UI serve; Roster's
// own writes go to the leader, and the routes between nodes and the
// node's own health and metrics do not read the catalog. The wait lasts
// until Raft's next append brings the commit (a few milliseconds under
// writes) and at most a second.
func (s *Server) readYourWrites(c *gin.Context) {
	if !readsCatalog(c.Request) {
		return
	}
	// Stored at most once a millisecond: every read passes here, and a
	// store on every one would bounce the word between the cores.
	if now := time.Now().UnixNano(); now-s.lastRead.Load() > int64(time.Millisecond) {
		s.lastRead.Store(now)
	}
	acked := s.n.AckedIndex()
	if acked <= s.n.AppliedIndex() || acked <= s.ackedGaveUp.Load() {
		return
	}
	if !s.awaitApplied(c.Request.Context(), acked) {
		// Cut off from the leader since: later reads answer from what
		// is here at once, as they did when it was the write that
		// waited its second. A newer answered write waits again.
		monotonic.Raise(&s.ackedGaveUp, acked)
	}
}

// readsCatalog reports a request whose answer comes from the catalog.
func readsCatalog(r *http.Request) bool {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/registry-svc/internal/"):
		return false
	case strings.HasPrefix(p, "/registry-svc/"):
		return r.Method == http.MethodGet || r.Method == http.MethodHead
	case p == "/healthz" || p == "/health" || p == "/readyz" || p == "/metrics" || strings.HasPrefix(p, "/debug/"):
		return false
	}
	return true // the proxy and the UI
}

// readsRecently is how long after a read of the catalog a follower still
// waits for its forwarded writes' apply before answering them.
const readsRecently = 250 * time.Millisecond

// answerOnLeadersWord reports whether a forwarded write may be answered
// before this node applies it. It learns the commit only with Raft's next
// append, so the wait is a few milliseconds a write; without readers,
// nobody is served by it (64 clients writing through a follower: a fifth
// more writes, a sixth less CPU a write). While reads come, every one of
// them would wait for the newest answered write instead, all the time
// under a steady stream of writes (64 clients reading a slug on a
// follower while 550 writes/s pass through it: a third fewer reads), so
// the write waits, as it always did.
func (s *Server) answerOnLeadersWord() bool {
	return time.Now().UnixNano()-s.lastRead.Load() > int64(readsRecently)
}
