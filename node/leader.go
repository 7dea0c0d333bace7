package node

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/gossip"
)

// monitorLeadership runs the leader loop while this node leads. raft's
// NotifyCh delivers every change in order; the channel is buffered so Raft
// never blocks on us.
func (n *Node) monitorLeadership() {
	var running *leaderRun
	defer func() { running.stop() }()
	for {
		select {
		case <-n.ctx.Done():
			return
		case isLeader := <-n.leaderCh:
			switch {
			case isLeader && running == nil:
				running = n.startLeaderLoop()
			case !isLeader:
				running.stop()
				running = nil
			}
		}
	}
}

// leaderRun is one term's leader loop.
type leaderRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (n *Node) startLeaderLoop() *leaderRun {
	ctx, cancel := context.WithCancel(n.ctx)
	r := &leaderRun{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		n.leaderLoop(ctx)
	}()
	return r
}

// stop ends the loop and waits for it; a nil run is already stopped.
func (r *leaderRun) stop() {
	if r == nil {
		return
	}
	r.cancel()
	<-r.done
}

// leaderLoop reconciles gossip membership into the Raft configuration on
// every gossip change and periodically as a backstop.
func (n *Node) leaderLoop(ctx context.Context) {
	n.log.Info("became leader")
	defer n.log.Info("leader loop stopped")
	// Barrier: the FSM has applied everything earlier leaders committed.
	// Until then a consistent read here could miss an acknowledged write.
	term := n.raft.CurrentTerm()
	if err := n.raft.Barrier(10 * time.Second).Error(); err != nil {
		n.log.Warn("leader barrier failed", "err", err)
		return
	}
	n.readyTerm.Store(term)
	n.contacts.reset()
	r := newReconciler(n)
	changes, unsubscribe := n.gossip.Subscribe()
	defer unsubscribe()
	tick := time.NewTicker(n.cfg.ReconcileInterval)
	defer tick.Stop()
	for {
		r.reconcile()
		select {
		case <-ctx.Done():
			return
		case <-changes:
		case <-tick.C:
		}
	}
}

// bootstrapWhenExpected bootstraps a brand-new cluster once BootstrapExpect
// members that expect the same number are alive and none of them is already
// part of a cluster. The member with the smallest ID bootstraps with itself;
// the others wait to be added by its reconciler.
func (n *Node) bootstrapWhenExpected() {
	expect := n.cfg.BootstrapExpect
	if expect == 0 {
		return // joining an existing cluster: wait to be added
	}
	changes, unsubscribe := n.gossip.Subscribe()
	defer unsubscribe()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if n.raft.Leader() != "" || n.hasConfiguration() {
			return // someone else bootstrapped and added us
		}
		ready, smallest := bootstrapCandidates(n.gossip.Members(), expect)
		if ready && smallest == n.id {
			if err := n.bootstrapSelf(); err != nil {
				n.log.Error("bootstrap failed", "err", err)
			}
			return
		}
		select {
		case <-n.ctx.Done():
			return
		case <-changes:
		case <-tick.C:
		}
	}
}

// bootstrapCandidates reports whether expect alive members share the same
// expectation, and which of them has the smallest ID.
func bootstrapCandidates(members []gossip.Member, expect int) (bool, string) {
	smallest, count := "", 0
	for _, m := range members {
		if m.State != gossip.StateAlive || m.BootstrapExpect != expect {
			continue
		}
		count++
		if smallest == "" || m.Name < smallest {
			smallest = m.Name
		}
	}
	return count >= expect, smallest
}

func (n *Node) hasConfiguration() bool {
	f := n.raft.GetConfiguration()
	return f.Error() == nil && len(f.Configuration().Servers) > 0
}

// contactTracker is the leader's record of followers that missed heartbeats,
// fed by Raft observations. A follower not in the map is in contact.
type contactTracker struct {
	mu     sync.Mutex
	failed map[raft.ServerID]time.Time
}

func newContactTracker() *contactTracker {
	return &contactTracker{failed: map[raft.ServerID]time.Time{}}
}

func (c *contactTracker) reset() {
	c.mu.Lock()
	c.failed = map[raft.ServerID]time.Time{}
	c.mu.Unlock()
}

// lastContact returns when the leader last heard from id, or ok=false if
// that is unknown (heartbeats are flowing: the answer is "now").
func (c *contactTracker) lastContact(id raft.ServerID) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.failed[id]
	return t, ok
}

func (n *Node) observeHeartbeats() {
	ch := make(chan raft.Observation, 64)
	n.observer = raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation:
			return true
		}
		return false
	})
	n.raft.RegisterObserver(n.observer)
	n.goLoop(func() {
		for {
			select {
			case <-n.ctx.Done():
				return
			case o := <-ch:
				n.contacts.mu.Lock()
				switch d := o.Data.(type) {
				case raft.FailedHeartbeatObservation:
					n.contacts.failed[d.PeerID] = d.LastContact
				case raft.ResumedHeartbeatObservation:
					delete(n.contacts.failed, d.PeerID)
				}
				n.contacts.mu.Unlock()
			}
		}
	})
}
