package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rosterhq/roster/httpapi/client"
	"github.com/rosterhq/roster/node"
)

// A ?consistent read on a follower asks the leader for a read index (Raft's
// ReadIndex, as etcd does), waits until it has applied the log that far and
// answers from its own replica: the leader does a quorum check per batch of
// reads instead of serving each one. Reads that arrive while a request is
// on its way wait for the next one: an index fetched before a read began
// could miss a write acknowledged in between.

const internalReadIndexPath = "/registry-svc/internal/read-index"

type readIndexAnswer struct {
	Index uint64 `json:"index"`
}

// internalReadIndex answers a follower's read-index request (leader only).
func (s *Server) internalReadIndex(c *gin.Context) {
	if !s.n.IsLeader() {
		s.writeError(c, node.ErrNotLeader)
		return
	}
	index, err := s.n.ReadIndex()
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, readIndexAnswer{Index: index})
}

type readIndexResult struct {
	index uint64
	err   error
}

// readIndexer coalesces a follower's concurrent read-index requests.
type readIndexer struct {
	s        *Server
	mu       sync.Mutex
	waiting  []chan readIndexResult
	inflight bool
}

// get returns a read index fetched after the call began.
func (r *readIndexer) get(ctx context.Context) (uint64, error) {
	ch := make(chan readIndexResult, 1)
	r.mu.Lock()
	r.waiting = append(r.waiting, ch)
	if !r.inflight {
		r.inflight = true
		go r.fetchLoop()
	}
	r.mu.Unlock()
	select {
	case res := <-ch:
		return res.index, res.err
	case <-ctx.Done():
		return 0, node.ErrNoLeader
	}
}

// fetchLoop fetches one index for everyone waiting, until no one is.
func (r *readIndexer) fetchLoop() {
	for {
		r.mu.Lock()
		batch := r.waiting
		r.waiting = nil
		if len(batch) == 0 {
			r.inflight = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		index, err := r.s.fetchReadIndex()
		for _, ch := range batch {
			ch <- readIndexResult{index, err}
		}
	}
}

// fetchReadIndex asks the leader, through elections, for at most the hold
// time. A read is safe to ask again for, whatever went wrong.
func (s *Server) fetchReadIndex() (uint64, error) {
	var index uint64
	var askErr error
	err := s.withLeader(50*time.Millisecond, func(ctx context.Context, leaderURL string) bool {
		index, askErr = s.askReadIndex(ctx, leaderURL)
		if askErr == nil || errors.Is(askErr, errUsualPath) {
			return true
		}
		s.log.Debug("read index: asking the leader again", "leader", leaderURL, "err", askErr)
		return false
	})
	if err != nil {
		return 0, err
	}
	return index, askErr
}

func (s *Server) askReadIndex(ctx context.Context, leaderURL string) (uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(leaderURL, "/")+internalReadIndexPath, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set(forwardedHeader, s.n.ID())
	resp, err := s.fwd.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return 0, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		var a readIndexAnswer
		if err := json.Unmarshal(raw, &a); err != nil || a.Index == 0 {
			return 0, errors.New("unreadable read index")
		}
		return a.Index, nil
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return 0, errUsualPath
	}
	var eb client.ErrorBody
	_ = json.Unmarshal(raw, &eb)
	return 0, client.FromWire(resp.StatusCode, eb)
}

// consistentOnFollower serves a ?consistent read from this follower's
// replica once it has applied the leader's read index. It returns false
// when the read must go through the leader instead.
func (s *Server) consistentOnFollower(c *gin.Context, minIndex uint64, wait time.Duration, cc cached, q query) bool {
	if s.n.IsLeader() || c.GetHeader(forwardedHeader) != "" {
		return false
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.hold)
	defer cancel()
	index, err := s.readIndex.get(ctx)
	switch {
	case errors.Is(err, errUsualPath):
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
