package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi/client"
	"github.com/rosterhq/roster/node"
)

// forwardedHeader marks a request forwarded by a follower; a node that gets
// one and is not the leader answers 503 instead of forwarding again.
const forwardedHeader = "X-Registry-Forwarded-By"

// viaLeader runs local on this node if it leads, otherwise forwards the
// request (with body, already validated and completed here) to the leader's
// HTTP URL. Through an election it retries until the hold time runs out.
// local returns node.ErrNotLeader when leadership moved under it. Only a
// resendable request (a read) is also retried when its outcome was
// indeterminate. A write never is, even an upsert: its first try may have
// been applied, and applying it again after another client's write to the
// same row would undo that write (the linearizability test caught it). The
// client gets 503 "indeterminate" and decides.
func (s *Server) viaLeader(c *gin.Context, body any, resendable bool, local func(ctx context.Context) error) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.hold)
	defer cancel()
	for {
		changed := s.n.LeaderChanged()
		if s.n.IsLeader() {
			err := local(ctx)
			if err == nil {
				return
			}
			retry := errors.Is(err, node.ErrNotLeader) || (resendable && errors.Is(err, node.ErrLeadershipLost))
			if !retry {
				s.writeError(c, err)
				return
			}
		} else if c.GetHeader(forwardedHeader) != "" {
			s.writeError(c, node.ErrNotLeader) // one hop only
			return
		} else if id, url := s.n.Leader(); url != "" && id != s.n.ID() {
			if s.forward(ctx, c, id, url, body, resendable) {
				return
			}
		}
		select {
		case <-ctx.Done():
			if c.Request.Context().Err() == nil {
				s.writeError(c, node.ErrNoLeader)
			}
			return
		case <-changed: // a new leader (or an election): look again at once
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// forward replays the request on the leader and copies its answer back. It
// returns false when the leader could not take it and nothing was written
// (connection refused, or the leader itself has no leader): the caller
// retries. A failure after the request may have reached the leader is
// answered as indeterminate, never retried: the write may have happened.
//
// The request ends as soon as this node learns of a leader other than
// leaderID (untilLeaderMoves): a write to a leader that froze answers
// indeterminate then, and a read goes to the new leader. An empty leaderID
// sends to a node that is not the leader (a heartbeat's owner).
func (s *Server) forward(hold context.Context, c *gin.Context, leaderID, leaderURL string, body any, resendable bool) bool {
	ctx := hold
	if leaderID != "" {
		var stop context.CancelFunc
		ctx, stop = s.untilLeaderMoves(hold, leaderID)
		defer stop()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.writeError(c, err)
			return true
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, c.Request.Method, strings.TrimSuffix(leaderURL, "/")+c.Request.URL.RequestURI(), rd)
	if err != nil {
		s.writeError(c, err)
		return true
	}
	req.Header.Set(forwardedHeader, s.n.ID())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth := c.GetHeader("Authorization"); auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if leaderMoved(ctx) {
		return false // nothing sent yet
	}
	resp, err := s.fwd.Do(req)
	if err != nil {
		if isDialError(err) {
			s.log.Debug("leader unreachable, retrying", "leader", leaderURL, "err", err)
			return false
		}
		if hold.Err() == nil && (resendable || c.Request.Method == http.MethodGet) {
			return false // safe to send again until the hold ends
		}
		s.log.Warn("forwarding to leader failed", "leader", leaderURL, "err", err, "leader_moved", leaderMoved(ctx))
		if c.Request.Method == http.MethodGet {
			s.writeError(c, node.ErrNoLeader)
		} else {
			s.writeError(c, node.ErrLeadershipLost)
		}
		return true
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		if c.Request.Method == http.MethodGet && hold.Err() == nil {
			return false
		}
		s.writeError(c, node.ErrLeadershipLost)
		return true
	}
	if resp.StatusCode == http.StatusServiceUnavailable {
		var eb api.ErrorBody
		if json.Unmarshal(raw, &eb) == nil {
			err := client.FromWire(resp.StatusCode, eb)
			if errors.Is(err, api.ErrNotLeader) || errors.Is(err, api.ErrNoLeader) || (resendable && errors.Is(err, api.ErrIndeterminate)) {
				return false // the leader moved on; nothing was written, or sending again is harmless
			}
		}
	}
	s.readYourWrite(hold, resp)
	for _, h := range []string{"Content-Type", "X-Registry-Index", "Retry-After"} {
		if v := resp.Header.Get(h); v != "" {
			c.Header(h, v)
		}
	}
	c.Status(resp.StatusCode)
	c.Writer.Write(raw)
	c.Abort()
	return true
}

// readYourWrite holds a forwarded write's answer until this node has applied
// it (for at most a second), so a client that writes through a follower and
// then reads from it sees its own write.
func (s *Server) readYourWrite(ctx context.Context, resp *http.Response) {
	if resp.StatusCode >= 300 {
		return
	}
	idx, err := strconv.ParseUint(resp.Header.Get("X-Registry-Index"), 10, 64)
	if err != nil {
		return
	}
	s.awaitApplied(ctx, idx)
}

// awaitApplied waits, for a second at most, until this node has applied a
// write the leader acknowledged at idx, so that the client's next local read
// here sees it.
func (s *Server) awaitApplied(ctx context.Context, idx uint64) {
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := s.n.WaitApplied(wctx, idx); err != nil {
		s.log.Debug("answering a forwarded write before applying it here", "index", idx, "applied", s.n.AppliedIndex())
	}
}

// isDialError reports a failure to connect: nothing reached the other side,
// so the request may be sent again.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
