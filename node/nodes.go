package node

import (
	"context"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/gossip"
	"github.com/rosterhq/roster/gossip/resource"
)

// Nodes is every node in this node's gossip view, with its Raft role.
func (n *Node) Nodes() []resource.Node {
	roles := n.roles()
	views := n.gossip.Nodes()
	out := make([]resource.Node, 0, len(views))
	for _, v := range views {
		out = append(out, nodeRow(v, roles))
	}
	return out
}

// Self is this node's own row.
func (n *Node) Self() resource.Node {
	v, ok := n.gossip.Node(n.id)
	if !ok { // memberlist lists itself from the start; be safe anyway
		v = gossip.NodeView{Member: gossip.Member{Name: n.id, State: gossip.StateAlive,
			Meta: gossip.Meta{ID: n.id, URL: n.cfg.SelfURL, Region: n.cfg.Region, AZ: n.cfg.AZ}}, Status: resource.StatusAlive}
	}
	return nodeRow(v, n.roles())
}

func nodeRow(v gossip.NodeView, roles map[string]string) resource.Node {
	row := resource.Node{
		ID: v.Name, URL: v.URL, Region: v.Region, AvailabilityZone: v.AZ, Usage: v.Usage, GPUs: v.GPUs,
		Status: v.Status, Role: resource.RoleClient, Version: v.Version,
	}
	if r, ok := roles[v.Name]; ok {
		row.Role = r
	}
	if !v.LastHeartbeat.IsZero() {
		t := v.LastHeartbeat.UTC()
		row.LastHeartbeat = &t
	}
	return row
}

// roles maps the servers' IDs to their role (leader, voter, nonvoter): the
// Raft configuration on a server, the one its upstream sent on a client.
func (n *Node) roles() map[string]string {
	out := map[string]string{}
	leaderID, _ := n.Leader()
	leader := raft.ServerID(leaderID)
	for _, s := range n.servers() {
		switch {
		case s.ID == leader:
			out[string(s.ID)] = resource.RoleLeader
		case s.Suffrage == raft.Voter:
			out[string(s.ID)] = resource.RoleVoter
		default:
			out[string(s.ID)] = resource.RoleNonvoter
		}
	}
	return out
}

// RemoveNode takes a dead or departed node out of the Raft configuration and
// then out of every node's member table. A node that is alive (or only
// suspect) is a conflict: it would be back at its next gossip. Run on the
// leader; elsewhere it is ErrNotLeader.
func (n *Node) RemoveNode(ctx context.Context, id string) error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	v, known := n.gossip.Node(id)
	_, server := n.roles()[id]
	switch {
	case !known && !server:
		return api.UnknownMember("node %s is neither a member nor a Raft server", id)
	case known && v.State == gossip.StateAlive:
		return api.MemberAlive("node %s (%s) is %s; stop it or make it leave first", id, v.URL, v.Status)
	}
	if server {
		// A server that gossip no longer knows (it died before a restart of
		// every other node) is removed by ID all the same: otherwise the
		// leader keeps dialing it for good.
		timeout := 5 * time.Second
		if dl, ok := ctx.Deadline(); ok {
			timeout = time.Until(dl)
		}
		if err := n.raft.RemoveServer(raft.ServerID(id), 0, timeout).Error(); err != nil {
			return mapRaftErr(err)
		}
		n.log.Info("node removed from the Raft configuration on request", "server", id, "known_to_gossip", known)
	}
	if !known {
		return nil
	}
	return n.gossip.Forget(id)
}

// SubscribeMembers tells the caller, coalesced, when the gossip member
// table changes; call the returned function to stop.
func (n *Node) SubscribeMembers() (<-chan struct{}, func()) { return n.gossip.Subscribe() }
