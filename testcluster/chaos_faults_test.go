package testcluster

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// nemesis injects one fault at a time into an in-process cluster, chosen
// by a seeded generator, and undoes it: the campaign's schedule is a
// function of the seed (what the cluster does in between is not).
type nemesis struct {
	c      *Cluster
	rng    *rand.Rand
	counts map[string]int
	log    []string
	start  time.Time
}

func newNemesis(c *Cluster, seed uint64) *nemesis {
	return &nemesis{c: c, rng: rand.New(rand.NewPCG(seed, 0x6e656d65736973)), counts: map[string]int{}, start: time.Now()}
}

func (n *nemesis) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(n.rng.Int64N(int64(hi-lo)+1))
}

func (n *nemesis) note(kind, format string, args ...any) {
	n.counts[kind]++
	n.log = append(n.log, fmt.Sprintf("%6.1fs %s: %s", time.Since(n.start).Seconds(), kind, fmt.Sprintf(format, args...)))
}

// leaderOr returns the leader, or a random node when there is none.
func (n *nemesis) leaderOr() int {
	if l := n.c.Leader(); l >= 0 {
		return l
	}
	return n.rng.IntN(n.c.Size())
}

// split returns the nodes shuffled into a minority and a majority.
func (n *nemesis) split() (minority, majority []int) {
	perm := n.rng.Perm(n.c.Size())
	k := 1 + n.rng.IntN((n.c.Size()-1)/2) // 1 .. size/2 rounded down
	return perm[:k], perm[k:]
}

// round injects one fault, holds it, undoes it, and lets the cluster settle
// briefly. It returns an error only when the harness itself failed.
func (n *nemesis) round() error {
	c := n.c
	hold := n.between(time.Second, 4*time.Second)
	switch f := n.rng.IntN(9); f {
	case 0, 1: // crash a node (the leader half the time), restart it on its data
		i := n.rng.IntN(c.Size())
		kind := "kill"
		if f == 1 {
			i, kind = n.leaderOr(), "kill-leader"
		}
		n.note(kind, "node%d for %v", i+1, hold.Round(time.Millisecond))
		if err := c.Kill(i); err != nil {
			return err
		}
		time.Sleep(hold)
		if err := c.Restart(i); err != nil {
			return err
		}
	case 2: // majority / minority partition on every path
		minority, majority := n.split()
		n.note("partition", "%s for %v", describeGroups(minority, majority), hold.Round(time.Millisecond))
		c.Partition(AllLayers, minority, majority)
		time.Sleep(hold)
		c.Heal()
	case 3: // the leader cut off from everyone
		l := n.leaderOr()
		n.note("isolate-leader", "node%d for %v", l+1, hold.Round(time.Millisecond))
		c.Isolate(l, AllLayers)
		time.Sleep(hold)
		c.Heal()
	case 4: // one path only: gossip, Raft or forwarding
		i := n.rng.IntN(c.Size())
		layer := []Layer{Gossip, Raft, Forward}[n.rng.IntN(3)]
		n.note("isolate-"+layer.String(), "node%d for %v", i+1, hold.Round(time.Millisecond))
		c.Isolate(i, layer)
		time.Sleep(hold)
		c.Heal()
	case 5: // a bridge: two sides that cannot see each other, one node sees both
		if c.Size() < 3 {
			return nil
		}
		perm := n.rng.Perm(c.Size())
		a, b := perm[:1], perm[2:]
		n.note("bridge", "%s, node%d bridges, for %v", describeGroups(a, b), perm[1]+1, hold.Round(time.Millisecond))
		c.Partition(AllLayers, a, b)
		time.Sleep(hold)
		c.Heal()
	case 6: // one direction only
		perm := n.rng.Perm(c.Size())
		n.note("one-way", "node%d cannot reach node%d, for %v", perm[0]+1, perm[1]+1, hold.Round(time.Millisecond))
		c.BlockOneWay(perm[0], perm[1], AllLayers)
		time.Sleep(hold)
		c.Heal()
	case 7: // slow links between every pair
		d := n.between(10*time.Millisecond, 150*time.Millisecond)
		n.note("slow", "every link +%v for %v", d.Round(time.Millisecond), hold.Round(time.Millisecond))
		for i := range c.Size() {
			for j := i + 1; j < c.Size(); j++ {
				c.Slow(d, i, j)
			}
		}
		time.Sleep(hold)
		c.Heal()
	case 8: // a partition while a node of the majority is down
		minority, majority := n.split()
		down := majority[n.rng.IntN(len(majority))]
		n.note("partition+kill", "%s and node%d killed, for %v", describeGroups(minority, majority), down+1, hold.Round(time.Millisecond))
		c.Partition(AllLayers, minority, majority)
		if err := c.Kill(down); err != nil {
			return err
		}
		time.Sleep(hold)
		c.Heal()
		if err := c.Restart(down); err != nil {
			return err
		}
	}
	time.Sleep(n.between(500*time.Millisecond, 2*time.Second))
	return nil
}

// restore heals every fault and starts every stopped node.
func (n *nemesis) restore() error {
	n.c.Heal()
	for i := range n.c.Size() {
		if n.c.Agent(i) == nil {
			if err := n.c.Restart(i); err != nil {
				return err
			}
		}
	}
	return nil
}
