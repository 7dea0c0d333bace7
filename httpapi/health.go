package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/forward"
	"github.com/rosterhq/roster/fsm"
	"github.com/rosterhq/roster/httpapi/client"
)

// setInstanceStatus is PUT /registry-svc/instance/{id}/status: the status
// of an instance set by whoever runs it (the way `none` checks work; a
// checked instance's next evidence may change it again).
func (s *Server) setInstanceStatus(c *gin.Context) {
	id := c.Param("id")
	var req client.StatusRequest
	if err := s.idAndBody(c, id, &req); err != nil {
		s.writeError(c, err)
		return
	}
	if !req.Status.Valid() {
		s.writeError(c, api.Invalid("status", "%q is not one of %v", req.Status, api.Statuses))
		return
	}
	if err := noControl("reason", req.Reason); err != nil {
		s.writeError(c, err)
		return
	}
	reason := req.Reason
	if reason == "" {
		reason = "set through the API"
	}
	u := api.StatusUpdate{ID: id, Status: req.Status, Reason: reason, At: time.Now().UTC()}
	if err := fsm.ValidateStatusUpdates([]api.StatusUpdate{u}); err != nil {
		s.writeError(c, err)
		return
	}
	s.viaLeader(c, req, false, func(ctx context.Context) error {
		u.At = time.Now().UTC()
		res, err := s.n.Apply(ctx, &fsm.Command{Type: fsm.CmdSetStatuses, Statuses: []api.StatusUpdate{u}, Auth: authFor(c, api.PermInstanceStatus)})
		if err != nil {
			return err
		}
		if len(res.(*api.StatusResult).Missing) > 0 {
			return api.NotFound("instance %s not found", id)
		}
		row, index, err := s.n.FSM().Instance(id)
		if err != nil {
			return err
		}
		setIndex(c, index)
		c.JSON(http.StatusOK, gin.H{"instance": row})
		return nil
	})
}

// setStatuses is PUT /registry-svc/instances/status: a batch of conditional
// updates. Health checkers send theirs here through the leader.
func (s *Server) setStatuses(c *gin.Context) {
	var req client.StatusBatch
	if err := checkQuery(c); err != nil {
		s.writeError(c, err)
		return
	}
	if err := decodeStrict(c, &req, false); err != nil {
		s.writeError(c, err)
		return
	}
	// A status change without "at" was observed now: the node that takes
	// the request says when, so Apply stays deterministic.
	now := time.Now().UTC()
	for _, u := range req.Updates {
		if err := noControl("reason", u.Reason); err != nil {
			s.writeError(c, err)
			return
		}
	}
	for i := range req.Updates {
		if u := &req.Updates[i]; u.Status != "" && u.At.IsZero() {
			u.At = now
		}
	}
	if err := fsm.ValidateStatusUpdates(req.Updates); err != nil {
		s.writeError(c, err)
		return
	}
	s.viaLeader(c, req, false, func(ctx context.Context) error {
		res, err := s.n.Apply(ctx, &fsm.Command{Type: fsm.CmdSetStatuses, Statuses: req.Updates, Auth: authFor(c, api.PermInstanceStatus)})
		if err != nil {
			return err
		}
		setIndex(c, s.n.AppliedIndex())
		c.JSON(http.StatusOK, res)
		return nil
	})
}

// heartbeat is PUT /registry-svc/instance/{id}/heartbeat for ttl checks.
// The node that checks the instance keeps it in memory; any other node
// hands it over (one hop).
func (s *Server) heartbeat(c *gin.Context) {
	id := c.Param("id")
	if err := s.idAndBody(c, id, nil); err != nil {
		s.writeError(c, err)
		return
	}
	if s.health == nil {
		s.writeError(c, api.Conflict("check", "this agent runs no health checks"))
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.road.Hold())
	defer cancel()
	hand := forward.Request{Method: c.Request.Method, Path: c.Request.URL.RequestURI(), Auth: c.GetHeader("Authorization")}
	for {
		row, err := s.instanceSoon(ctx, id)
		if err == nil && scopedSlug(c) != "" && row.Slug != scopedSlug(c) {
			err = api.NotFound("instance %s not found", id) // another slug's: not for this token to know
		}
		if err != nil {
			s.writeError(c, err)
			return
		}
		if row.Check == nil || row.Check.Type != api.CheckTTL {
			kind := "the default"
			if row.Check != nil {
				kind = string(row.Check.Type)
			}
			s.writeError(c, api.Conflict("check.type", "instance %s is checked by %s, not ttl: heartbeats are for ttl checks", id, kind))
			return
		}
		owner, ok := s.health.Owner(row)
		if !ok || owner.Name == s.n.ID() || c.GetHeader(forward.Header) != "" {
			s.health.Heartbeat(id)
			c.JSON(http.StatusOK, gin.H{"id": id, "checkedBy": s.n.ID(), "ttl": row.Check.TTL})
			return
		}
		// Handed to the owner (the owner may change between tries).
		if resp, err := s.road.Do(ctx, owner.URL, hand); err == nil {
			s.copyAnswer(c, ctx, resp)
			return
		}
		select {
		case <-ctx.Done():
			if c.Request.Context().Err() == nil {
				s.writeError(c, errOwnerUnreachable)
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// instanceSoon reads an instance from the local replica, waiting up to a
// second for one it does not have yet: an instance registered through
// another node a moment ago may not have reached this one.
func (s *Server) instanceSoon(ctx context.Context, id string) (*api.Instance, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	for {
		applied := s.n.FSM().AppliedCh() // before the read: no apply is missed
		row, _, err := s.n.FSM().Instance(id)
		if api.CodeOf(err) != api.CodeNotFound {
			return row, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-applied:
		}
	}
}

// idAndBody validates the :id of a per-instance action and its optional
// JSON body (v nil: the body must be empty or {}).
func (s *Server) idAndBody(c *gin.Context, id string, v any) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	if err := fsm.ValidateID("id", id); err != nil {
		return err
	}
	if v == nil {
		var empty struct{}
		return decodeStrict(c, &empty, true)
	}
	return decodeStrict(c, v, false)
}
