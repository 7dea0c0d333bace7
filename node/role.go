package node

import (
	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/gossip"
	"github.com/rosterhq/roster/gossip/resource"
)

// IsServer reports whether this node is in the Raft configuration it knows
// (the newest, committed or not): a server holds the log; every other node
// is a client agent whose catalog is a replica streamed from a server.
// raft keeps that configuration in memory, so this is cheap.
func (n *Node) IsServer() bool {
	_, _, ok := n.inConfiguration()
	return ok
}

// inConfiguration is this node's entry in the Raft configuration it knows,
// and the configuration's servers; ok is false when it is not in it.
func (n *Node) inConfiguration() (self raft.Server, servers []raft.Server, ok bool) {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return raft.Server{}, nil, false
	}
	servers = f.Configuration().Servers
	for _, s := range servers {
		if string(s.ID) == n.id {
			return s, servers, true
		}
	}
	return raft.Server{}, nil, false
}

// Role is this node's role: leader, voter, nonvoter (a spare server) or
// client.
func (n *Node) Role() string {
	if r, ok := n.roles()[n.id]; ok {
		return r
	}
	return resource.RoleClient
}

// servers is the server set as this node knows it: Raft's configuration on
// a server, the one its upstream last sent on a client.
func (n *Node) servers() []raft.Server {
	if _, servers, ok := n.inConfiguration(); ok {
		return servers
	}
	return n.replica.serverSet()
}

// gossipMode is the --server setting as gossip meta carries it.
func gossipMode(mode string) string {
	if mode == gossip.ServerAlways || mode == gossip.ServerNever {
		return mode
	}
	return ""
}
