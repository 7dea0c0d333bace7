package health

import (
	"hash/fnv"
	"strings"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/gossip"
)

// Owner returns the node that checks inst: the alive member whose URL is
// the instance's nodeUrl, else the alive member with the highest
// rendezvous score for the instance ID. ok is false when no member is
// alive.
func Owner(inst *api.Instance, members []gossip.Member) (gossip.Member, bool) {
	nodeURL := strings.TrimSuffix(inst.NodeURL, "/")
	var best gossip.Member
	var bestScore uint64
	found := false
	for _, m := range members {
		if m.State != gossip.StateAlive {
			continue
		}
		if nodeURL != "" && strings.TrimSuffix(m.URL, "/") == nodeURL {
			return m, true
		}
		if s := score(inst.ID, m.Name); !found || s > bestScore || (s == bestScore && m.Name < best.Name) {
			best, bestScore, found = m, s, true
		}
	}
	return best, found
}

// score is the rendezvous (highest random weight) score of a node for an
// instance: FNV-1a of both IDs, then a 64-bit finaliser so that IDs that
// differ in one character spread evenly.
func score(instanceID, nodeID string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(instanceID))
	h.Write([]byte{0})
	h.Write([]byte(nodeID))
	return mix(h.Sum64())
}

// mix is splitmix64's finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
