package gossip

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/rosterhq/roster/gossip/resource"
)

// Sampler reads this node's resources; gossip calls it once per status
// interval on its own goroutine, never from a memberlist callback.
type Sampler interface {
	Sample(ctx context.Context) resource.Sample
}

// DefaultStatusInterval is how often a node samples and gossips its usage.
const DefaultStatusInterval = 5 * time.Second

// publishStatus samples every interval, gossips the usage, and gossips the
// inventory when it changed. The first sample is taken at once, so that the
// join's push/pull already carries it.
func (g *Gossip) publishStatus(s Sampler, every time.Duration) {
	defer g.wg.Done()
	var seq, ver uint64
	var last inventoryMsg
	for {
		iv := paceInterval(every, g.numMembers(), g.usageQueue.RetransmitMult)
		smp := s.Sample(g.ctx)
		u, inv := splitSample(g.id, g.ep, smp)
		seq++
		u.Seq, u.Iv = seq, iv.Milliseconds()
		if ver == 0 || !sameInventory(inv, last) {
			ver++
			inv.Ver, last = ver, inv
			g.receiveInventory(inv)
			g.queueParts("i", g.id, inv.parts)
		}
		g.receiveUsage(u)
		g.queueParts("u", g.id, u.parts)
		select {
		case <-g.ctx.Done():
			return
		case <-time.After(iv):
		}
	}
}

// UsageInterval is how often this member samples and gossips its usage
// now: the status interval, stretched by paceInterval in large pools.
func (g *Gossip) UsageInterval() time.Duration {
	return paceInterval(g.every, g.numMembers(), g.usageQueue.RetransmitMult)
}

// paceInterval stretches the status interval in large pools so that the
// samples of all nodes fit the gossip: every sample is relayed by every
// member retransmitMult*ceil(log10(n+1)) times (memberlist's count), and a
// member sends about 150 small messages a second (3 peers every 200 ms, a
// packet each). With the LAN multiplier of 4 the configured interval holds
// up to about 60 nodes and becomes 16 s at 200. The interval a sample was
// taken at travels with it, so "suspect" (no sample for three intervals)
// stays right.
func paceInterval(every time.Duration, members, retransmitMult int) time.Duration {
	const sendsPerSecond = 150
	sends := retransmitMult * int(math.Ceil(math.Log10(float64(members)+1)))
	need := time.Duration(members*sends) * time.Second / sendsPerSecond
	return max(every, need)
}

// queueParts encodes a message of node id in gossip-sized parts and queues
// each under a name that a newer version of the same part replaces.
func (g *Gossip) queueParts(kind, id string, parts func() ([]part, error)) {
	ps, err := parts()
	if err != nil {
		g.log.Warn("status not gossiped", "kind", kind, "err", err)
		return
	}
	for _, p := range ps {
		g.relay(kind, id, p.off, g.seal(p.b))
	}
}

// relay queues a status part (this node's own, or a peer's that was news
// here) for gossip. Every member passes news on, so that a sample reaches all
// nodes rather than only the few its sender gossips to directly.
func (g *Gossip) relay(kind, id string, off int, b []byte) {
	q := g.queue
	if kind == "u" {
		q = g.usageQueue
	}
	q.QueueBroadcast(namedBroadcast{name: fmt.Sprintf("%s/%s/%d", kind, id, off), msg: b})
}
