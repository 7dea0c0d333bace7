package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
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
	if err := decodeStrictUpTo(c, &req, false, forward.MaxBatchBody); err != nil {
		s.writeError(c, err)
		return
	}
	if len(req.Writes) == 0 || len(req.Writes) > fsm.MaxBatch {
		s.writeError(c, api.Invalid("writes", "must hold 1 to %d writes, not %d", fsm.MaxBatch, len(req.Writes)))
		return
	}
	s.metrics.batches.Observe(float64(len(req.Writes)))
	answers := make([]forward.Answer, len(req.Writes))
	var group [][]byte // the encoded commands of the next Raft entry
	var slots []int    // group[k] answers answers[slots[k]]
	size := 0
	now := time.Now().UTC()
	format := s.n.LogFormat() // one for the whole batch: EncodeBatch needs it
	// apply commits the group as one Raft entry. After a failure the rest
	// of the batch is not applied and its writes get that error; the ones
	// committed before keep their answers.
	var failed error
	applied := false
	apply := func() {
		if len(group) > 0 && failed == nil {
			res, err := s.n.ApplyEncoded(c.Request.Context(), fsm.EncodeBatch(group, format))
			if err != nil {
				failed = err
			} else {
				applied = true
				for k, r := range res.([]fsm.BatchResult) {
					answers[slots[k]] = resultAnswer(r)
				}
			}
		}
		if failed != nil {
			for _, i := range slots {
				answers[i] = errorAnswer(failed)
			}
		}
		group, slots, size = nil, nil, 0
	}
	// The writes' encodings are packed into one buffer, reused by the
	// next batch: EncodeBatch copies them into the Raft entry.
	arena := arenas.Get().(*[]byte)
	defer putArena(arena)
	for i, w := range req.Writes {
		cmd, err := s.batchCommand(w, now)
		var enc []byte
		if err == nil {
			enc, *arena, err = encodeWrite(*arena, &cmd, format.Part())
		}
		if err != nil {
			answers[i] = errorAnswer(err)
			continue
		}
		// One Raft entry never exceeds fsm.MaxCommandSize: a batch whose
		// writes would is cut into several entries.
		if size+len(enc) > batchEntryBudget {
			apply()
		}
		group, slots, size = append(group, enc), append(slots, i), size+len(enc)
	}
	apply()
	if failed != nil && !applied {
		s.writeError(c, failed) // nothing was applied: the whole batch fails alike
		return
	}
	buf := arenas.Get().(*[]byte) // written out before the handler returns
	defer putArena(buf)
	body, err := forward.AppendBatchResponse((*buf)[:0], answers)
	if err != nil {
		s.writeError(c, err)
		return
	}
	*buf = body
	setIndex(c, s.n.AppliedIndex())
	s.setCommitPoint(c)
	writeJSON(c, http.StatusOK, body)
}

// batchEntryBudget is what the writes of one Raft entry may take, leaving
// room for the batch's framing under fsm.MaxCommandSize.
const batchEntryBudget = fsm.MaxCommandSize - 4096

// encodeWrite encodes a command once, for its size and for the batch
// (fsm.EncodeBatch), at the end of arena; one over the budget is refused
// (413) rather than committed for every replica to skip. enc is the
// command's bytes, arena the buffer grown by them.
func encodeWrite(arena []byte, cmd *fsm.Command, f fsm.Format) (enc, grown []byte, err error) {
	start := len(arena)
	grown, err = cmd.AppendEncoded(arena, f)
	if err != nil {
		return nil, arena[:start], err
	}
	if n := len(grown) - start; n > batchEntryBudget {
		return nil, arena[:start], &api.Error{Code: api.CodeTooLarge, Message: fmt.Sprintf("the write encodes to %d bytes; one write may take at most %d", n, batchEntryBudget)}
	}
	// Capped: nothing appended to enc can reach the next write's bytes.
	return grown[start:len(grown):len(grown)], grown, nil
}

// arenas are the buffers internalWrites packs a batch's writes and its
// answer into.
var arenas = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// putArena keeps an arena for the next batch, unless a rare large one
// grew it past 256 KB.
func putArena(a *[]byte) {
	if cap(*a) <= 256<<10 {
		*a = (*a)[:0]
		arenas.Put(a)
	}
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
			Instance: in, NewID: node.NewInstanceID(), Now: now, DefaultCheck: s.defaultCheck(&in),
		}, Auth: w.Auth, Quota: s.quota}, nil
	case w.Register == nil && w.Deregister != "":
		if err := fsm.ValidateID("deregister", w.Deregister); err != nil {
			return fsm.Command{}, err
		}
		return fsm.Command{Type: fsm.CmdDeregisterInstance, ID: w.Deregister, Auth: w.Auth}, nil
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
		return forward.Answer{Status: http.StatusCreated, Row: in}
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
		// The answer must not be ahead of this node's next local read
		// (refused writes too: the index they carry). Either the write
		// waits for its apply here, or, while nobody reads this node's
		// catalog, it is answered on the leader's word and the next read
		// waits (answerOnLeadersWord, readYourWrites). Only the second
		// makes reads wait: while a write waits, reads go on.
		if s.answerOnLeadersWord() || !s.awaitApplied(c.Request.Context(), out.Index) {
			s.n.AckForwarded(out.Index)
		}
		setIndex(c, out.Index)
	}
	switch {
	case a.Error != nil:
		if a.Status == http.StatusServiceUnavailable {
			c.Header("Retry-After", "1")
		}
		c.AbortWithStatusJSON(a.Status, a.Error)
	case a.Instance != nil:
		// The leader's bytes as they came: {"instance": row}, as c.JSON
		// would have written it after a decode and an encode.
		writeJSON(c, a.Status, instancePrefix, a.Instance, instanceSuffix)
	default:
		c.Status(a.Status)
	}
	return true
}
