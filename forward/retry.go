package forward

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/rosterhq/roster/api"
)

// WithLeader is the one hold-and-retry rule: it calls try with the known
// leader until try reports done, for at most the hold time, waiting every
// between rounds (or less, when the leader changes). Each try's context
// ends as soon as this node learns of a leader other than the one tried
// (a frozen leader costs one election, not the hold). It returns
// ErrUsualPath as soon as this node leads, api.ErrShuttingDown once the
// Forwarder closes, and api.ErrNoLeader when the hold runs out.
func (f *Forwarder) WithLeader(parent context.Context, every time.Duration, try func(ctx context.Context, leaderID, leaderURL string) (done bool)) error {
	ctx, cancel := context.WithTimeout(parent, f.hold)
	defer cancel()
	stopped := context.AfterFunc(f.stopped, cancel)
	defer stopped()
	for {
		changed := f.n.LeaderChanged()
		if f.stopped.Err() != nil {
			return api.ErrShuttingDown
		}
		if f.n.IsLeader() {
			return ErrUsualPath
		}
		if id, url := f.n.Leader(); url != "" && id != f.n.ID() {
			tctx, stop := f.untilLeaderMoves(ctx, id)
			done := try(tctx, id, url)
			moved := leaderMoved(tctx)
			stop()
			if done {
				return nil
			}
			if moved {
				continue // a newer leader is known: try it at once
			}
		}
		select {
		case <-ctx.Done():
			if f.stopped.Err() != nil {
				return api.ErrShuttingDown
			}
			if parent.Err() != nil {
				return parent.Err()
			}
			return api.ErrNoLeader
		case <-changed: // an election ended: no need to wait out the pause
		case <-time.After(every):
		}
	}
}

// errLeaderMoved ends a request to a leader once this node has learnt of
// another one. A leader that froze (SIGSTOP, a paused VM, a black-holed
// link) keeps its connections open, so without this a request sent to it
// would wait out the whole hold time after the cluster had moved on.
var errLeaderMoved = errors.New("a newer leader is known")

// untilLeaderMoves returns a context for one request to leaderID. It ends
// with cause errLeaderMoved as soon as this node knows a leader other than
// leaderID, or when parent ends. A write cut off this way may still have
// been applied: its caller answers indeterminate; a read asks again.
func (f *Forwarder) untilLeaderMoves(parent context.Context, leaderID string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	go func() {
		for {
			changed := f.n.LeaderChanged()
			if id, _ := f.n.Leader(); id != "" && id != leaderID {
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

// IsDialError reports a failure to connect: nothing reached the other side,
// so the request may be sent again.
func IsDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// nothingSent reports an answer after which a write may be sent again to
// whoever leads now: the leader could not be reached, or said it does not
// lead or knows no leader.
func nothingSent(err error) bool {
	return IsDialError(err) || errors.Is(err, api.ErrNotLeader) || errors.Is(err, api.ErrNoLeader)
}
