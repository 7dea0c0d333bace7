package httpapi

import (
	"context"
	"errors"
)

// errLeaderMoved ends a request to a leader once this node has learnt of
// another one. A leader that froze (SIGSTOP, a paused VM, a black-holed
// link) keeps its connections open, so without this a request sent to it
// would wait out the whole hold time after the cluster had moved on.
var errLeaderMoved = errors.New("a newer leader is known")

// untilLeaderMoves returns a context for one request to leaderID. It ends
// with cause errLeaderMoved as soon as this node knows a leader other than
// leaderID, or when parent ends. A write cut off this way may still have
// been applied: its caller answers indeterminate; a read asks again.
func (s *Server) untilLeaderMoves(parent context.Context, leaderID string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	go func() {
		for {
			changed := s.n.LeaderChanged()
			if id, _ := s.n.Leader(); id != "" && id != leaderID {
				cancel(errLeaderMoved)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-changed:
			}
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// leaderMoved reports whether ctx ended because another leader was seen.
func leaderMoved(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), errLeaderMoved)
}
