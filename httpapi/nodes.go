package httpapi

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/forward"
	"github.com/rosterhq/roster/fsm"
	"github.com/rosterhq/roster/gossip/resource"
	"github.com/rosterhq/roster/httpapi/client"
	"github.com/rosterhq/roster/node"
)

// listNodes answers from this node's gossip view; it needs no leader. With
// ?index=N it blocks (up to ?wait) until a row its filters keep changes:
// X-Registry-Index of a node list is this node's view sequence, not the
// catalog's Raft index (nodes live in gossip). A sequence lower than the
// one asked for (the node restarted, or the client moved to another node)
// answers at once, and the client follows from the new index.
func (s *Server) listNodes(c *gin.Context) {
	if err := checkQuery(c, "index", "wait"); err != nil {
		s.writeError(c, err)
		return
	}
	minIndex, wait, err := blockingParams(c.Request.URL.Query())
	if err != nil {
		s.writeError(c, err)
		return
	}
	var req client.ListNodesRequest
	if err := decodeStrict(c, &req, true); err != nil {
		s.writeError(c, err)
		return
	}
	if req.MinFreeGPUMemoryMiB != nil && *req.MinFreeGPUMemoryMiB < 0 {
		s.writeError(c, api.Invalid("minFreeGpuMemoryMiB", "must not be negative"))
		return
	}
	for i, id := range req.IDs {
		if id == "" {
			s.writeError(c, api.Invalid("ids["+strconv.Itoa(i)+"]", "is empty"))
			return
		}
	}
	view := s.n.NodeView(true)
	if minIndex > 0 && view.Seq == minIndex {
		release, err := s.park()
		if err != nil {
			s.writeError(c, err)
			return
		}
		defer release()
		s.extendWriteDeadline(c, wait)
		timer := time.NewTimer(wait)
		defer timer.Stop()
		// The view at minIndex is this one: the read wakes when the rows
		// it asked for change, not at every other node's sample.
		asked := matchedVersions(view, req)
	waiting:
		for {
			select {
			case <-view.Changed:
				view = s.n.NodeView(false)
				if !maps.Equal(asked, matchedVersions(view, req)) {
					break waiting
				}
			case <-timer.C:
				break waiting
			case <-c.Request.Context().Done():
				return
			case <-s.done:
				break waiting
			}
		}
	}
	out := []resource.Node{}
	for _, n := range view.Nodes {
		if matchNode(n.Row, req) {
			out = append(out, n.Row)
		}
	}
	setIndex(c, view.Seq)
	c.JSON(http.StatusOK, gin.H{"nodes": out})
}

// matchedVersions are the versions of the rows a node list's filters
// keep, by node ID.
func matchedVersions(v node.NodeView, req client.ListNodesRequest) map[string]uint64 {
	out := map[string]uint64{}
	for _, n := range v.Nodes {
		if matchNode(n.Row, req) {
			out[n.Row.ID] = n.Version
		}
	}
	return out
}

func matchNode(n resource.Node, f client.ListNodesRequest) bool {
	switch {
	case len(f.IDs) > 0 && !slices.Contains(f.IDs, n.ID),
		f.Region != "" && n.Region != f.Region,
		f.AvailabilityZone != "" && n.AvailabilityZone != f.AvailabilityZone,
		f.HasGPU != nil && *f.HasGPU != (len(n.GPUs) > 0):
		return false
	case f.MinFreeGPUMemoryMiB != nil:
		return slices.ContainsFunc(n.GPUs, func(g resource.GPU) bool { return g.FreeMemoryMiB() >= *f.MinFreeGPUMemoryMiB })
	}
	return true
}

func (s *Server) selfNode(c *gin.Context) {
	if err := checkQuery(c); err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"node": s.n.Self()})
}

// deleteNode removes a dead or departed node, named by its URL
// (path-escaped, as the seed's client sends it) or its ID. A live node is a
// conflict unless ?force=true, which first asks it to leave.
func (s *Server) deleteNode(c *gin.Context) {
	if err := checkQuery(c, "force"); err != nil {
		s.writeError(c, err)
		return
	}
	force, err := boolQuery(c, "force")
	if err != nil {
		s.writeError(c, err)
		return
	}
	target := strings.TrimPrefix(c.Param("url"), "/")
	if target == "" {
		s.writeError(c, api.Invalid("url", "is empty; give the node's URL or ID"))
		return
	}
	s.viaLeader(c, nil, false, func(ctx context.Context) error {
		row, ok := s.findNode(target)
		if !ok {
			// Not in gossip: it may still be a Raft server, removed by ID.
			if fsm.ValidateID("url", target) != nil {
				return api.UnknownMember("no node has URL or ID %q", target)
			}
			row = resource.Node{ID: target}
		}
		alive := row.Status == resource.StatusAlive || row.Status == resource.StatusSuspect
		if alive && force {
			if row.ID == s.n.ID() {
				return api.MemberAlive("node %s is the leader answering this request; run `roster leave --addr %s` instead", row.ID, row.URL)
			}
			if err := s.askToLeave(ctx, row, c.GetHeader("Authorization")); err != nil {
				return err
			}
		}
		if err := s.n.RemoveNode(ctx, row.ID); err != nil {
			return err
		}
		c.Status(http.StatusNoContent)
		return nil
	})
}

func (s *Server) findNode(target string) (resource.Node, bool) {
	for _, n := range s.n.Nodes() {
		if n.URL == target || n.ID == target {
			return n, true
		}
	}
	return resource.Node{}, false
}

// askToLeave asks a live node to leave the cluster, then waits until gossip
// here sees it gone. It asks with the requester's token: with tokens on,
// making a live node leave takes the operator permission there.
func (s *Server) askToLeave(ctx context.Context, row resource.Node, auth string) error {
	resp, err := s.road.Do(ctx, row.URL, forward.Request{Method: http.MethodPut, Path: "/registry-svc/agent/leave", Auth: auth})
	if err != nil {
		return api.MemberAlive("node %s is alive but could not be asked to leave: %v", row.ID, err)
	}
	if resp.Status != http.StatusAccepted {
		return api.MemberAlive("node %s is alive and refused to leave (HTTP %d)", row.ID, resp.Status)
	}
	for {
		if n, ok := s.findNode(row.ID); !ok || n.Status == resource.StatusLeft || n.Status == resource.StatusDead {
			return nil
		}
		select {
		case <-ctx.Done():
			return api.MemberAlive("node %s was asked to leave but is still alive", row.ID)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// registratorStatus is GET /registry-svc/registrator: what this node's
// Docker registrator registered, per container, and what it refused.
func (s *Server) registratorStatus(c *gin.Context) {
	if err := checkQuery(c); err != nil {
		s.writeError(c, err)
		return
	}
	if s.reg == nil {
		c.JSON(http.StatusOK, api.RegistratorStatus{Containers: []api.ContainerServices{}})
		return
	}
	c.JSON(http.StatusOK, s.reg.Status())
}
