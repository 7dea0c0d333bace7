package forward

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/rosterhq/roster/api"
)

// ToLeader replays a request on the leader, through elections, for at most
// the hold time, and returns the leader's answer: anything but a
// not_leader or no_leader refusal, which is sent again to whoever leads
// next. It returns ErrUsualPath as soon as this node leads.
//
// A read (GET, or resendable) is sent again after any failure. A write
// never is once it may have reached a leader, even an upsert: applying it
// again after another client's write to the same row would undo that write
// (the linearizability test caught it). It answers api.ErrIndeterminate
// instead, at once when a newer leader is known.
func (f *Forwarder) ToLeader(ctx context.Context, r Request, resendable bool) (*Response, error) {
	resendable = resendable || r.Method == http.MethodGet
	var out *Response
	var final error
	err := f.WithLeader(ctx, 100*time.Millisecond, func(tctx context.Context, _, url string) bool {
		if tctx.Err() != nil {
			return false // the leader moved before anything was sent
		}
		resp, err := f.Do(tctx, url, r)
		switch {
		case err != nil && (IsDialError(err) || resendable):
			f.log.Debug("leader not reached, trying again", "leader", url, "err", err)
			return false
		case err != nil:
			f.log.Warn("forwarding a write to the leader failed after sending it", "leader", url, "err", err,
				"leader_moved", leaderMoved(tctx))
			final = api.ErrIndeterminate
			return true
		}
		if e := resp.Err(); nothingSent(e) || (resendable && errors.Is(e, api.ErrIndeterminate)) {
			return false
		}
		out = resp
		return true
	})
	if err != nil {
		return nil, err
	}
	return out, final
}
