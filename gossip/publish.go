package gossip

import (
	"context"
	"fmt"
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
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		smp := s.Sample(g.ctx)
		u, inv := splitSample(g.id, g.ep, smp)
		seq++
		u.Seq, u.Iv = seq, every.Milliseconds()
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
		case <-t.C:
		}
	}
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
		g.relay(kind, id, p.off, p.b)
	}
}

// relay queues a status part (this node's own, or a peer's that was news
// here) for gossip. Every member passes news on, so that a sample reaches all
// nodes rather than only the few its sender gossips to directly.
func (g *Gossip) relay(kind, id string, off int, b []byte) {
	g.queue.QueueBroadcast(namedBroadcast{name: fmt.Sprintf("%s/%s/%d", kind, id, off), msg: b})
}
