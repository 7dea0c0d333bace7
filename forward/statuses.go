package forward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/fsm"
)

// StatusesPath takes the health checkers' status batches on the leader:
// a route between nodes (node certificates), as the cluster itself, never
// a user's token.
const StatusesPath = "/registry-svc/internal/statuses"

// ProposeStatuses writes a health checker's batch of conditional status
// updates: applied here when this node leads, else sent to the leader,
// again through elections until ctx ends. The updates are conditional, so
// sending one again after any failure is harmless.
func (f *Forwarder) ProposeStatuses(ctx context.Context, us []api.StatusUpdate) error {
	cmd := &fsm.Command{Type: fsm.CmdSetStatuses, Statuses: us}
	body, err := json.Marshal(api.StatusBatch{Updates: us})
	if err != nil {
		return err
	}
	for {
		var err error
		if f.n.IsLeader() {
			_, err = f.n.Apply(ctx, cmd)
		} else {
			var refused error
			err = f.WithLeader(ctx, 100*time.Millisecond, func(tctx context.Context, _, url string) bool {
				resp, err := f.Do(tctx, url, Request{Method: http.MethodPut, Path: StatusesPath, Body: body})
				if err == nil {
					err = resp.Err()
				}
				if err != nil && !resendable(err) {
					refused = err // the leader said no: sending again would not help
				}
				return err == nil || refused != nil
			})
			if err == nil {
				err = refused
			}
		}
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrUsualPath) {
			continue // this node leads now
		}
		if !resendable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// resendable: a failure after which a conditional batch may be sent again.
func resendable(err error) bool {
	return nothingSent(err) || errors.Is(err, api.ErrIndeterminate) || errors.Is(err, context.Canceled)
}
