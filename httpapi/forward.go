package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rosterhq/roster/forward"
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
// here sees it.
func (s *Server) awaitApplied(ctx context.Context, idx uint64) {
	if err := s.n.WaitAppliedFor(ctx, idx, time.Second); err != nil {
		s.log.Debug("answering a forwarded write before applying it here", "index", idx, "applied", s.n.AppliedIndex())
	}
}

// isDialError reports a failure to connect: nothing reached the other side.
func isDialError(err error) bool { return forward.IsDialError(err) }
