package node

import (
	"reflect"
	"sync"
	"time"

	"github.com/rosterhq/roster/gossip/resource"
)

// Nodes are not in the Raft log: their rows (liveness, role, resources)
// come from gossip and from this node's Raft configuration. The node feed
// numbers this node's view of them so that POST /nodes can block like the
// catalog's lists and the change stream can carry node changes: the view's
// sequence grows at every change of any row, and each row keeps the
// sequence at which it last changed (its version). Both are this node's:
// another node numbers its own view, and a restart starts again at 1.

// nodeRefresh is how often the view is recomputed without a gossip
// notification: a node turns suspect by the passing of time, and roles
// change with the Raft configuration.
const nodeRefresh = 500 * time.Millisecond

// NodeState is one node's row and the view sequence at which it last
// changed here.
type NodeState struct {
	Version uint64
	Row     resource.Node
}

// NodeView is this node's view of every node at one sequence, sorted by
// node ID. Changed is closed at the next change.
type NodeView struct {
	Seq     uint64
	Nodes   []NodeState
	Changed <-chan struct{}
}

type nodeFeed struct {
	// refreshing orders refreshes (the loop's and requests'): rows read
	// earlier never replace rows read later.
	refreshing sync.Mutex
	mu         sync.Mutex
	seq        uint64
	rows       []NodeState
	wake       chan struct{}
}

// NodeView returns the view of every node. With refresh it is recomputed
// first, so that it holds what gossip knows at this moment; without, it is
// at most nodeRefresh old.
func (n *Node) NodeView(refresh bool) NodeView {
	if refresh {
		n.refreshNodeView()
	}
	f := &n.nodes
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.wake == nil {
		f.wake = make(chan struct{})
	}
	return NodeView{Seq: f.seq, Nodes: f.rows, Changed: f.wake}
}

// refreshNodeView compares the rows with the last ones and, when any
// changed, appeared or went, moves the sequence on and wakes the waiters.
func (n *Node) refreshNodeView() {
	f := &n.nodes
	f.refreshing.Lock()
	defer f.refreshing.Unlock()
	rows := n.Nodes() // sorted by ID, like the member table
	f.mu.Lock()
	defer f.mu.Unlock()
	next := f.seq + 1
	states := make([]NodeState, len(rows))
	changed := len(rows) != len(f.rows)
	j := 0
	for i, r := range rows {
		for j < len(f.rows) && f.rows[j].Row.ID < r.ID {
			j++
		}
		if j < len(f.rows) && f.rows[j].Row.ID == r.ID && reflect.DeepEqual(f.rows[j].Row, r) {
			states[i] = f.rows[j]
			continue
		}
		states[i] = NodeState{Version: next, Row: r}
		changed = true
	}
	if !changed && f.seq > 0 {
		return
	}
	f.seq, f.rows = next, states
	if f.wake != nil {
		close(f.wake)
	}
	f.wake = make(chan struct{})
}

// followNodes keeps the view current: at each gossip change, leader change
// and every nodeRefresh.
func (n *Node) followNodes() {
	changes, stop := n.gossip.Subscribe()
	defer stop()
	tick := time.NewTicker(nodeRefresh)
	defer tick.Stop()
	for {
		n.refreshNodeView()
		select {
		case <-changes:
		case <-n.leaderMoves.wait():
		case <-tick.C:
		case <-n.ctx.Done():
			return
		}
	}
}
