package httpapi

import (
	"context"
	"errors"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/forward"
	"github.com/rosterhq/roster/internal/rounds"
)

// A token is made on the leader and reaches the other nodes with the log:
// for a moment after `roster token create` answered, a follower or client
// agent may not know it yet. Before such a node answers 401 it asks the
// leader how far the log goes and applies that far, the way a ?consistent
// read does, so a token is usable everywhere as soon as it is made.
//
// Anyone can send an unknown token, and each confirmation costs the leader
// a read index (a barrier when it asks itself): the confirmations of all
// requests share rounds, and rounds start at most every
// tokenConfirmSpacing, so a flood of made-up tokens costs the cluster at
// most that many read indexes per second.

const tokenConfirmSpacing = 20 * time.Millisecond

// tokenConfirmer runs the rounds.
type tokenConfirmer struct {
	group *rounds.Group[uint64]
	// stopped ends a round under way when the server closes.
	stopped context.Context
	stop    context.CancelFunc
	// last is when the last round began; rounds run one at a time, so
	// only the round under way touches it.
	last time.Time
}

func newTokenConfirmer(s *Server) *tokenConfirmer {
	tc := &tokenConfirmer{}
	tc.stopped, tc.stop = context.WithCancel(context.Background())
	tc.group = rounds.New(func() (uint64, error) {
		tc.pace()
		ctx, cancel := context.WithTimeout(tc.stopped, s.road.Hold())
		defer cancel()
		return s.latestIndex(ctx)
	})
	return tc
}

// close ends the round under way and waits for it.
func (tc *tokenConfirmer) close() {
	tc.stop()
	tc.group.Close(api.ErrShuttingDown)
}

// pace waits until tokenConfirmSpacing has passed since the last round
// began.
func (tc *tokenConfirmer) pace() {
	if wait := time.Until(tc.last.Add(tokenConfirmSpacing)); wait > 0 {
		time.Sleep(wait)
	}
	tc.last = time.Now()
}

// latestIndex is an index at or past every write the leader had
// acknowledged when the call began: the leader's read index, fetched
// through the road, or this node's own when it leads.
func (s *Server) latestIndex(ctx context.Context) (uint64, error) {
	index, err := s.road.ReadIndex(ctx)
	if errors.Is(err, forward.ErrUsualPath) {
		return s.n.ReadIndex(ctx)
	}
	return index, err
}

// caughtUpForToken applies the log as far as the leader had it when the
// call began; false when that could not be done within the hold.
func (s *Server) caughtUpForToken(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, s.road.Hold())
	defer cancel()
	index, err := s.tokens.group.Do(ctx)
	if err != nil {
		s.log.Debug("an unknown token could not be confirmed with the leader", "err", err)
		return false
	}
	return s.n.WaitApplied(ctx, index) == nil
}
