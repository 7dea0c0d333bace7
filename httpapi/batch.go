package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/forward"
	"github.com/rosterhq/roster/fsm"
	"github.com/rosterhq/roster/node"
)

// internalWrites applies a follower's batch as one Raft entry (leader only;
// it is never forwarded again).
func (s *Server) internalWrites(c *gin.Context) {
	if !s.n.IsLeader() {
		s.writeError(c, node.ErrNotLeader)
		return
	}
	var req forward.BatchRequest
	if err := decodeStrict(c, &req, false); err != nil {
		s.writeError(c, err)
		return
	}
	if len(req.Writes) == 0 || len(req.Writes) > fsm.MaxBatch {
		s.writeError(c, api.Invalid("writes", "must hold 1 to %d writes, not %d", fsm.MaxBatch, len(req.Writes)))
		return
	}
	answers := make([]forward.Answer, len(req.Writes))
	var cmds []fsm.Command
	var slots []int // cmds[k] answers answers[slots[k]]
	now := time.Now().UTC()
	for i, w := range req.Writes {
		cmd, err := s.batchCommand(w, now)
		if err != nil {
			answers[i] = errorAnswer(err)
			continue
		}
		cmds = append(cmds, cmd)
		slots = append(slots, i)
	}
	if len(cmds) > 0 {
		res, err := s.n.Apply(c.Request.Context(), &fsm.Command{Type: fsm.CmdBatch, Batch: cmds})
		if err != nil {
			s.writeError(c, err) // the whole batch: not leader, indeterminate, ...
			return
		}
		for k, r := range res.([]fsm.BatchResult) {
			answers[slots[k]] = resultAnswer(r)
		}
	}
	setIndex(c, s.n.AppliedIndex())
	c.JSON(http.StatusOK, forward.BatchResponse{Results: answers})
}

// batchCommand checks one write again (it is outside input here too) and
// turns it into a command.
func (s *Server) batchCommand(w forward.Write, now time.Time) (fsm.Command, error) {
	switch {
	case w.Register != nil && w.Deregister == "":
		in, err := registration(*w.Register, s.n.SelfURL())
		if err != nil {
			return fsm.Command{}, err
		}
		return fsm.Command{Type: fsm.CmdRegisterInstance, Register: &fsm.RegisterCommand{
			Instance: in, NewID: node.NewID("inst"), Now: now, DefaultCheck: s.defaultCheck(in.URL),
		}}, nil
	case w.Register == nil && w.Deregister != "":
		if err := fsm.ValidateID("deregister", w.Deregister); err != nil {
			return fsm.Command{}, err
		}
		return fsm.Command{Type: fsm.CmdDeregisterInstance, ID: w.Deregister}, nil
	}
	return fsm.Command{}, api.Invalid("writes", "each write needs exactly one of register and deregister")
}

func errorAnswer(err error) forward.Answer {
	status, body, _ := toWire(err)
	return forward.Answer{Status: status, Error: &body}
}

func resultAnswer(r fsm.BatchResult) forward.Answer {
	if r.Err != nil {
		return errorAnswer(r.Err)
	}
	if in, ok := r.Row.(*api.Instance); ok {
		return forward.Answer{Status: http.StatusCreated, Instance: in}
	}
	return forward.Answer{Status: http.StatusNoContent}
}

// viaBatch sends a write that landed on a follower to the leader in this
// node's next batch (forward.Submit) and answers it. It returns false when
// the write must take the usual path (viaLeader): on the leader, for a
// request that was itself forwarded, or when the batch found this node
// leading.
func (s *Server) viaBatch(c *gin.Context, w forward.Write) bool {
	if s.n.IsLeader() || c.GetHeader(forward.Header) != "" {
		return false
	}
	out := s.road.Submit(w)
	switch {
	case errors.Is(out.Err, forward.ErrUsualPath):
		return false
	case out.Err != nil:
		s.writeError(c, out.Err)
		return true
	}
	a := out.Answer
	if out.Index > 0 {
		// Refused writes wait too: the index they carry must not be ahead
		// of this node's next local read.
		s.awaitApplied(c.Request.Context(), out.Index)
		setIndex(c, out.Index)
	}
	switch {
	case a.Error != nil:
		if a.Status == http.StatusServiceUnavailable {
			c.Header("Retry-After", "1")
		}
		c.AbortWithStatusJSON(a.Status, a.Error)
	case a.Instance != nil:
		c.JSON(a.Status, gin.H{"instance": a.Instance})
	default:
		c.Status(a.Status)
	}
	return true
}
