package httpapi

import (
	"context"
	"errors"
	"time"

	"github.com/rosterhq/roster/node"
)

// errUsualPath sends a batched write or a follower read to the usual path
// through viaLeader: this node leads now, or the leader predates batches
// and read indexes.
var errUsualPath = errors.New("take the usual path through the leader")

// withLeader calls try with the leader's URL until try reports done, for at
// most the hold time, waiting every between rounds (an election, a leader
// that cannot be reached). It returns errUsualPath as soon as this node
// leads, node.ErrShutdown once the server closes, and node.ErrNoLeader when
// the hold runs out. Each try's context ends as soon as this node learns of
// a leader other than the one tried (untilLeaderMoves).
func (s *Server) withLeader(every time.Duration, try func(ctx context.Context, leaderURL string) (done bool)) error {
	ctx, cancel := context.WithTimeout(s.stopped, s.hold)
	defer cancel()
	for {
		changed := s.n.LeaderChanged()
		if s.stopped.Err() != nil {
			return node.ErrShutdown
		}
		if s.n.IsLeader() {
			return errUsualPath
		}
		if id, url := s.n.Leader(); url != "" && id != s.n.ID() {
			tctx, stop := s.untilLeaderMoves(ctx, id)
			done := try(tctx, url)
			stop()
			if done {
				return nil
			}
			if leaderMoved(tctx) {
				continue // a newer leader is known: try it at once
			}
		}
		select {
		case <-ctx.Done():
			if s.stopped.Err() != nil {
				return node.ErrShutdown
			}
			return node.ErrNoLeader
		case <-changed: // an election ended: no need to wait out the pause
		case <-time.After(every):
		}
	}
}
