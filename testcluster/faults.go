package testcluster

import (
	"fmt"
	"strings"
	"time"
)

// Layer picks the network paths a partition cuts.
type Layer uint8

const (
	// Gossip is memberlist's UDP packets and TCP streams.
	Gossip Layer = 1 << iota
	// Raft is the Raft stream layer (replication, votes, snapshots).
	Raft
	// Forward is the HTTP client that forwards writes and consistent reads
	// to the leader (and heartbeats to an instance's checker).
	Forward
	// AllLayers cuts everything between the nodes.
	AllLayers = Gossip | Raft | Forward
)

func (l Layer) String() string {
	if l == AllLayers {
		return "all"
	}
	var parts []string
	for _, p := range []struct {
		l    Layer
		name string
	}{{Gossip, "gossip"}, {Raft, "raft"}, {Forward, "forward"}} {
		if l&p.l != 0 {
			parts = append(parts, p.name)
		}
	}
	return strings.Join(parts, "+")
}

// addrs are node j's addresses on the given layers, as other nodes dial them.
func (c *Cluster) addrs(j int, l Layer) []string {
	cfg := c.Member(j).Config
	var out []string
	if l&Gossip != 0 {
		out = append(out, cfg.GossipAddr)
	}
	if l&Raft != 0 {
		out = append(out, cfg.RaftAddr)
	}
	if l&Forward != 0 {
		out = append(out, cfg.HTTPAddr)
	}
	return out
}

// Partition cuts the given layers between every two nodes in different
// groups, in both directions. Nodes in no group keep reaching everyone (a
// bridge between the sides). Faults persist across Kill and Restart until
// Heal.
func (c *Cluster) Partition(l Layer, groups ...[]int) {
	for a, ga := range groups {
		for b, gb := range groups {
			if a == b {
				continue
			}
			for _, i := range ga {
				for _, j := range gb {
					c.Member(i).Config.Faults.Block(c.addrs(j, l)...)
				}
			}
		}
	}
}

// Isolate cuts node i off from every other node on the given layers.
func (c *Cluster) Isolate(i int, l Layer) {
	var rest []int
	for j := range c.Size() {
		if j != i {
			rest = append(rest, j)
		}
	}
	c.Partition(l, []int{i}, rest)
}

// BlockOneWay stops node i from sending to node j on the given layers
// (connections it opens and packets it writes); j can still reach i.
func (c *Cluster) BlockOneWay(i, j int, l Layer) {
	c.Member(i).Config.Faults.Block(c.addrs(j, l)...)
}

// Slow adds d of latency to everything nodes i and j send each other.
func (c *Cluster) Slow(d time.Duration, i, j int) {
	c.Member(i).Config.Faults.Slow(d, c.addrs(j, AllLayers)...)
	c.Member(j).Config.Faults.Slow(d, c.addrs(i, AllLayers)...)
}

// SlowOneWay delays what node i sends node j on the given layers by d.
func (c *Cluster) SlowOneWay(d time.Duration, i, j int, l Layer) {
	c.Member(i).Config.Faults.Slow(d, c.addrs(j, l)...)
}

// Heal removes every partition and delay.
func (c *Cluster) Heal() {
	for i := range c.Size() {
		c.Member(i).Config.Faults.Heal()
	}
}

// describeGroups renders groups of node indexes as "1,2|3" (1-based names).
func describeGroups(groups ...[]int) string {
	var parts []string
	for _, g := range groups {
		var names []string
		for _, i := range g {
			names = append(names, fmt.Sprint(i+1))
		}
		parts = append(parts, strings.Join(names, ","))
	}
	return strings.Join(parts, "|")
}
