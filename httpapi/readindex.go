package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/forward"
	"github.com/rosterhq/roster/node"
)

// internalReadIndex answers a follower's read-index request (leader only).
func (s *Server) internalReadIndex(c *gin.Context) {
	if !s.n.IsLeader() {
		s.writeError(c, node.ErrNotLeader)
		return
	}
	var voterTerm uint64
	if raw, ok := c.GetQuery(forward.VoterTermParam); ok {
		t, err := strconv.ParseUint(raw, 10, 64)
		if err != nil || t == 0 {
			s.writeError(c, api.Invalid(forward.VoterTermParam, "must be a Raft term (a positive integer), not %q", raw))
			return
		}
		voterTerm = t
	}
	// The asker is the node the request says it comes from: with TLS,
	// gateForwarded has held that name to its certificate.
	index, err := s.n.ReadIndexFor(c.Request.Context(), c.GetHeader(forward.Header), voterTerm)
	if err != nil {
		s.writeError(c, err)
		return
	}
	s.setCommitPoint(c)
	c.JSON(http.StatusOK, forward.ReadIndexAnswer{Index: index})
}

// setCommitPoint tells the follower this leader answers its term and commit
// index (forward.CommitHeader), so that it applies up to there at once.
func (s *Server) setCommitPoint(c *gin.Context) {
	if term, commit, ok := s.n.CommitPoint(); ok {
		c.Writer.Header()[forward.CommitHeader] = []string{forward.FormatCommitPoint(term, commit)}
	}
}

// internalFollowerCheck answers a leader that proves a read index: 204 when
// this server follows the asking node (forward.Header) in ?term=, 409 when
// it does not.
func (s *Server) internalFollowerCheck(c *gin.Context) {
	term, err := strconv.ParseUint(c.Query("term"), 10, 64)
	if err != nil || term == 0 {
		s.writeError(c, api.Invalid("term", "must be a Raft term (a positive integer), not %q", c.Query("term")))
		return
	}
	if err := s.n.Follows(c.GetHeader(forward.Header), term); err != nil {
		s.writeError(c, &api.Error{Code: api.CodeConflict, Message: err.Error()})
		return
	}
	c.Status(http.StatusNoContent)
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
		s.writeError(c, notApplied(err))
		return true
	}
	if err := s.blockingRead(c, minIndex, wait, cc, q); err != nil {
		s.writeError(c, err)
	}
	return true
}

// notApplied is the answer to a read whose index this node did not apply
// in time: catching_up, or shutting_down when the node closed meanwhile.
func notApplied(err error) error {
	if errors.Is(err, node.ErrShutdown) {
		return err
	}
	return node.ErrCatchingUp
}
