package node

import (
	"errors"
	"strings"

	"github.com/hashicorp/raft"
)

// addressBook gives Raft each server's address by ID from gossip
// (raft's ServerAddressProvider), as Consul does: when every node of a
// cluster comes back with a new IP (containers recreated, DHCP), the Raft
// configuration still holds the old addresses, nobody can reach a quorum
// there to elect the leader that would re-address them, and the cluster
// was stuck in elections (terms in the dozens, no leader). Gossip, joined
// by name, knows the new ones. An ID gossip does not know falls back to
// the configuration's address.
//
// The address it gives is "ID@host:port": the stream layer dials host:port
// and requires the certificate of that ID. The ID must travel with the
// address, because Raft's Dial gets only an address, and after a swap of
// IPs an address can be one server's in the configuration and another's
// in gossip: expecting the wrong one would let one server's acks count for
// another's.
type addressBook struct {
	n *Node
}

var errNotInGossip = errors.New("not known to gossip")

func (b *addressBook) ServerAddr(id raft.ServerID) (raft.ServerAddress, error) {
	g := b.n.gossip
	if g == nil {
		return "", errNotInGossip
	}
	m, ok := g.Member(string(id))
	if !ok || m.RaftAddr == "" {
		return "", errNotInGossip
	}
	return raft.ServerAddress(string(id) + "@" + m.RaftAddr), nil
}

// splitBookAddress splits an address the book gave into the server ID and
// host:port; a configuration address has no ID.
func splitBookAddress(addr string) (id, hostPort string) {
	if i := strings.LastIndexByte(addr, '@'); i > 0 {
		return addr[:i], addr[i+1:]
	}
	return "", addr
}
