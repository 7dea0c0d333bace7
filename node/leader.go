package node

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/raft"
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
	if err := n.await(ctx, n.raft.Barrier(10*time.Second)); err != nil {
		n.log.Warn("leader barrier failed", "err", err)
		return
	}
	n.readyTerm.Store(term)
	n.barrierDone.signal()
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
		case raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation, raft.LeaderObservation:
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
				if _, ok := o.Data.(raft.LeaderObservation); ok {
					n.leaderMoves.signal()
					continue
				}
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

// signal is a broadcast that can be waited on again and again: wait returns
// a channel that the next signal closes.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }

func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

func (s *signal) signal() {
	s.mu.Lock()
	close(s.ch)
	s.ch = make(chan struct{})
	s.mu.Unlock()
}

// LeaderChanged returns a channel that is closed the next time this node's
// Raft sees the leader change (to another node, or to none during an
// election). Callers read Leader again when it fires.
func (n *Node) LeaderChanged() <-chan struct{} { return n.leaderMoves.wait() }

// errGaveUp: the node (or the leader run) ended while a Raft future was
// still unanswered.
var errGaveUp = errors.New("gave up waiting for raft: the node is closing")

// await returns f's error, or errGaveUp once ctx ends. hashicorp/raft sets
// no shutdown channel on apply and barrier futures, so one it took into its
// apply queue just before shutting down is never answered, and a wait on
// it would hold Close for good (seen: a node closed right after its first
// election hung in the leader loop's barrier). The goroutine left waiting
// on such a future is the price.
func (n *Node) await(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return errGaveUp
	}
}
