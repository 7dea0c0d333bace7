package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rosterhq/roster/forward"
	"github.com/rosterhq/roster/node"
)

// internalReadIndex answers a follower's read-index request (leader only).
func (s *Server) internalReadIndex(c *gin.Context) {
	if !s.n.IsLeader() {
		s.writeError(c, node.ErrNotLeader)
		return
	}
	index, err := s.n.ReadIndex(c.Request.Context())
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, forward.ReadIndexAnswer{Index: index})
}

// consistentOnFollower serves a ?consistent read from this follower's
// replica once it has applied the leader's read index. It returns false
// when the read must go through the leader instead.
func (s *Server) consistentOnFollower(c *gin.Context, minIndex uint64, wait time.Duration, cc cached, q query) bool {
	if s.n.IsLeader() || c.GetHeader(forward.Header) != "" {
		return false
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.road.Hold())
	defer cancel()
	index, err := s.road.ReadIndex(ctx)
	switch {
	case errors.Is(err, forward.ErrUsualPath):
		return false
	case err != nil:
		s.writeError(c, err)
		return true
	}
	if err := s.n.WaitApplied(ctx, index); err != nil {
		s.writeError(c, node.ErrCatchingUp)
		return true
	}
	if err := s.blockingRead(c, minIndex, wait, cc, q); err != nil {
		s.writeError(c, err)
	}
	return true
}
