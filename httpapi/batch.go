package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/fsm"
	"github.com/rosterhq/roster/httpapi/client"
	"github.com/rosterhq/roster/node"
)

// Writes that land on a follower reach the leader in batches: while a few
// batches are on their way, the writes of other clients queue here and
// leave together in the next one, and the leader logs each batch as one
// Raft entry. A lone client's write still leaves at once. This is group
// commit on the forwarding path: one HTTP exchange, one log entry, one
// decode per replica for many writes instead of one each.

// internalWritesPath takes a follower's batch on the leader.
const internalWritesPath = "/registry-svc/internal/writes"

// maxBatchSenders is how many batches one follower has in flight at once.
const maxBatchSenders = 2

// batchWrite is one forwarded write: a registration (already validated and
// completed by the follower) or the ID of an instance to deregister.
type batchWrite struct {
	Register   *client.RegisterRequest `json:"register,omitempty"`
	Deregister string                  `json:"deregister,omitempty"`
}

type batchRequest struct {
	Writes []batchWrite `json:"writes"`
}

// batchAnswer is what the client of one write gets: 201 with the instance,
// 204, or an error body.
type batchAnswer struct {
	Status   int               `json:"status"`
	Instance *api.Instance     `json:"instance,omitempty"`
	Error    *client.ErrorBody `json:"error,omitempty"`
}

type batchResponse struct {
	Results []batchAnswer `json:"results"`
}

// internalWrites applies a follower's batch as one Raft entry (leader only;
// it is never forwarded again).
func (s *Server) internalWrites(c *gin.Context) {
	if !s.n.IsLeader() {
		s.writeError(c, node.ErrNotLeader)
		return
	}
	var req batchRequest
	if err := decodeStrict(c, &req, false); err != nil {
		s.writeError(c, err)
		return
	}
	if len(req.Writes) == 0 || len(req.Writes) > fsm.MaxBatch {
		s.writeError(c, api.Invalid("writes", "must hold 1 to %d writes, not %d", fsm.MaxBatch, len(req.Writes)))
		return
	}
	answers := make([]batchAnswer, len(req.Writes))
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
	c.JSON(http.StatusOK, batchResponse{Results: answers})
}

// batchCommand checks one write again (it is outside input here too) and
// turns it into a command.
func (s *Server) batchCommand(w batchWrite, now time.Time) (fsm.Command, error) {
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

func errorAnswer(err error) batchAnswer {
	status, body, _ := toWire(err)
	return batchAnswer{Status: status, Error: &body}
}

func resultAnswer(r fsm.BatchResult) batchAnswer {
	if r.Err != nil {
		return errorAnswer(r.Err)
	}
	if in, ok := r.Row.(*api.Instance); ok {
		return batchAnswer{Status: http.StatusCreated, Instance: in}
	}
	return batchAnswer{Status: http.StatusNoContent}
}

// batchOutcome is what a queued write learns: its answer (with the index to
// report), a failure of its whole batch, or that it must take the usual
// path (this node became the leader, or the leader predates batches).
type batchOutcome struct {
	answer batchAnswer
	index  uint64
	err    error
	direct bool
}

// viaBatch sends a write that landed on a follower to the leader in this
// node's next batch and answers it. It returns false when the write must
// take the usual path (viaLeader): on the leader, for a request that was
// itself forwarded, or when the batch found this node leading.
func (s *Server) viaBatch(c *gin.Context, w batchWrite) bool {
	if s.n.IsLeader() || c.GetHeader(forwardedHeader) != "" {
		return false
	}
	out := s.batch.submit(w)
	switch {
	case out.direct:
		return false
	case out.err != nil:
		s.writeError(c, out.err)
		return true
	}
	a := out.answer
	if out.index > 0 {
		// Refused writes wait too: the index they carry must not be ahead
		// of this node's next local read.
		s.awaitApplied(c.Request.Context(), out.index)
		setIndex(c, out.index)
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

type pendingWrite struct {
	w    batchWrite
	done chan batchOutcome
}

// forwarder queues a follower's writes for the leader.
type forwarder struct {
	s       *Server
	mu      sync.Mutex
	queue   []*pendingWrite
	senders int
}

// submit queues w and waits for its outcome. Every queued write gets one:
// senders answer everything they take.
func (f *forwarder) submit(w batchWrite) batchOutcome {
	p := &pendingWrite{w: w, done: make(chan batchOutcome, 1)}
	f.mu.Lock()
	f.queue = append(f.queue, p)
	if f.senders < maxBatchSenders {
		f.senders++
		go f.sender()
	}
	f.mu.Unlock()
	return <-p.done
}

// sender sends batches until the queue is empty.
func (f *forwarder) sender() {
	for {
		f.mu.Lock()
		n := min(len(f.queue), fsm.MaxBatch)
		if n == 0 {
			f.senders--
			f.queue = nil // let the old backing array go
			f.mu.Unlock()
			return
		}
		batch := f.queue[:n:n]
		f.queue = f.queue[n:]
		f.mu.Unlock()
		f.s.sendBatch(batch)
	}
}

// sendBatch takes a batch to the leader, through elections, for at most the
// hold time; the rules are forward's: resend only what certainly was not
// written.
func (s *Server) sendBatch(batch []*pendingWrite) {
	answerAll := func(o batchOutcome) {
		for _, p := range batch {
			p.done <- o
		}
	}
	req := batchRequest{Writes: make([]batchWrite, len(batch))}
	for i, p := range batch {
		req.Writes[i] = p.w
	}
	body, err := json.Marshal(req)
	if err != nil {
		answerAll(batchOutcome{err: err})
		return
	}
	err = s.withLeader(100*time.Millisecond, func(ctx context.Context, leaderURL string) bool {
		out, done := s.postBatch(ctx, leaderURL, body, len(batch))
		if !done {
			return false
		}
		for i, p := range batch {
			o := batchOutcome{err: out.err, direct: out.direct, index: out.index, answer: out.whole}
			if out.results != nil {
				o.answer = out.results[i]
			}
			p.done <- o
		}
		return true
	})
	switch {
	case errors.Is(err, errUsualPath):
		answerAll(batchOutcome{direct: true})
	case err != nil:
		answerAll(batchOutcome{err: err})
	}
}

// postedBatch is the leader's answer to a batch: one answer per write, or
// one for all of them (whole: an error body the leader sent; err: a
// failure on the way).
type postedBatch struct {
	results []batchAnswer
	whole   batchAnswer
	index   uint64
	err     error
	direct  bool
}

// postBatch sends one batch. done is false when nothing was written and it
// may be sent again (the leader could not be reached, or was no longer the
// leader).
func (s *Server) postBatch(ctx context.Context, leaderURL string, body []byte, writes int) (out postedBatch, done bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(leaderURL, "/")+internalWritesPath, bytes.NewReader(body))
	if err != nil {
		return postedBatch{err: err}, true
	}
	req.Header.Set(forwardedHeader, s.n.ID())
	req.Header.Set("Content-Type", "application/json")
	if ctx.Err() != nil {
		return out, false // the leader moved before anything was sent
	}
	resp, err := s.fwd.Do(req)
	if err != nil {
		if isDialError(err) {
			return out, false
		}
		// Sent, perhaps applied: indeterminate. A leader that froze ends
		// here as soon as another one is known (untilLeaderMoves).
		s.log.Warn("forwarding a batch to the leader failed", "leader", leaderURL, "writes", writes, "err", err,
			"leader_moved", leaderMoved(ctx))
		return postedBatch{err: node.ErrLeadershipLost}, true
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return postedBatch{err: node.ErrLeadershipLost}, true
	}
	switch resp.StatusCode {
	case http.StatusOK:
		var br batchResponse
		if err := json.Unmarshal(raw, &br); err != nil || len(br.Results) != writes {
			s.log.Error("leader answered a batch with an unreadable body", "leader", leaderURL, "err", err)
			return postedBatch{err: node.ErrLeadershipLost}, true
		}
		// Each client waits for this node to apply its own write (viaBatch):
		// the sender goes on to the next batch at once.
		index, _ := strconv.ParseUint(resp.Header.Get("X-Registry-Index"), 10, 64)
		return postedBatch{results: br.Results, index: index}, true
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		// A leader from before batched forwarding: nothing was written;
		// each write goes on its own.
		return postedBatch{direct: true}, true
	}
	var eb api.ErrorBody
	_ = json.Unmarshal(raw, &eb)
	if err := client.FromWire(resp.StatusCode, eb); errors.Is(err, api.ErrNotLeader) || errors.Is(err, api.ErrNoLeader) {
		return out, false // nothing was written: send it to whoever leads now
	}
	if eb.Code == "" {
		eb = client.ErrorBody{Error: "leader answered " + resp.Status, Code: client.CodeInternal}
	}
	return postedBatch{whole: batchAnswer{Status: resp.StatusCode, Error: &eb}}, true
}
