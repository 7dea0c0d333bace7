package node

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/gossip"
)

// bootstrapTracker holds the bootstrap status for status readers.
type bootstrapTracker struct {
	mu sync.Mutex
	st api.BootstrapStatus
}

// bootstrapLoop's own memory: the expected members last seen and since when.
type bootstrapSeen struct {
	bootKey  string
	bootSeen time.Time
}

func (b *bootstrapTracker) get() api.BootstrapStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.st
}

// set records a state and reports whether it changed (to log only changes).
func (b *bootstrapTracker) set(state, reason string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	changed := b.st.State != state || b.st.Reason != reason
	b.st.State, b.st.Reason = state, reason
	return changed
}

// bootstrapPlan is one look at the gossip pool by a node with no Raft state
// that expects expect members. It returns the servers of the first
// configuration when this node should bootstrap now, else the state to
// report and why.
//
// As Consul's bootstrap_expect does, every one of the expected members
// bootstraps the same configuration, holding all of them as voters, so
// there is no moment after the first election when a single failure stops
// the cluster. They agree on it because it is a function of what gossip
// shows: exactly expect alive members with the same expectation. More than
// that is refused rather than cut down to the first few: two members that
// see different surpluses would bootstrap different configurations, and two
// clusters could elect leaders side by side. A pool in which any member
// already holds Raft state is a running cluster: nobody bootstraps, the
// leader adds the newcomers.
func bootstrapPlan(self string, members []gossip.Member, expect int) (servers []gossip.Member, state, reason string) {
	var same, inCluster, disagree []string
	var candidates []gossip.Member
	for _, m := range members {
		if m.State != gossip.StateAlive {
			continue
		}
		switch {
		case m.InCluster && m.Name != self:
			inCluster = append(inCluster, m.Name)
		case m.BootstrapExpect == expect && m.RaftAddr != "":
			candidates = append(candidates, m)
			same = append(same, m.Name)
		case m.BootstrapExpect != 0 && m.BootstrapExpect != expect:
			disagree = append(disagree, fmt.Sprintf("%s expects %d", m.Name, m.BootstrapExpect))
		}
	}
	slices.Sort(inCluster)
	slices.Sort(same)
	slices.Sort(disagree)
	switch {
	case len(inCluster) > 0:
		return nil, api.BootstrapJoining, "already in a cluster: " + strings.Join(inCluster, ", ") + "; waiting to be added"
	case len(disagree) > 0:
		return nil, api.BootstrapRefused, fmt.Sprintf("members disagree on bootstrap-expect: this node expects %d, %s",
			expect, strings.Join(disagree, ", "))
	case len(candidates) < expect:
		return nil, api.BootstrapWaiting, fmt.Sprintf("%d of %d expected members alive (%s)", len(candidates), expect, strings.Join(same, ", "))
	case len(candidates) > expect:
		return nil, api.BootstrapRefused, fmt.Sprintf("%d alive members expect %d (%s): exactly %d may bootstrap; start the others without --bootstrap-expect",
			len(candidates), expect, strings.Join(same, ", "), expect)
	}
	slices.SortFunc(candidates, func(a, b gossip.Member) int { return strings.Compare(a.Name, b.Name) })
	return candidates, "", ""
}

// bootstrapSettle is how long the expected members must be seen unchanged
// before they bootstrap: a few gossip rounds, so that a member that started
// a moment later is seen (and refused) by everyone rather than by some.
const bootstrapSettle = 500 * time.Millisecond

// bootstrapWhenExpected runs on a node that starts with no Raft state. With
// --bootstrap-expect it bootstraps the first configuration once bootstrapPlan
// says so; either way it ends when this node holds a configuration, and
// then tells the pool that it is in a cluster.
func (n *Node) bootstrapWhenExpected() {
	expect := n.cfg.BootstrapExpect
	changes, unsubscribe := n.gossip.Subscribe()
	defer unsubscribe()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if n.hasConfiguration() {
			if n.boot.get().State != api.BootstrapDone {
				n.boot.set(api.BootstrapJoined, "")
			}
			n.announceInCluster()
			return
		}
		if expect > 0 {
			n.tryBootstrap(expect)
		}
		select {
		case <-n.ctx.Done():
			return
		case <-changes:
		case <-tick.C:
		}
	}
}

func (n *Node) tryBootstrap(expect int) {
	servers, state, reason := bootstrapPlan(n.id, n.gossip.Members(), expect)
	if servers == nil {
		n.bootKey = ""
		if n.boot.set(state, reason) {
			if state == api.BootstrapRefused {
				n.log.Error("not bootstrapping: "+reason, "expect", expect)
			} else {
				n.log.Info("bootstrap: "+reason, "state", state, "expect", expect)
			}
		}
		return
	}
	ids := make([]string, len(servers))
	for i, m := range servers {
		ids[i] = m.Name
	}
	if key := strings.Join(ids, ","); key != n.bootKey {
		n.bootKey, n.bootSeen = key, time.Now()
	}
	if time.Since(n.bootSeen) < bootstrapSettle {
		n.boot.set(api.BootstrapWaiting, "expected members alive: "+strings.Join(ids, ", ")+"; settling")
		return
	}
	cfg := raft.Configuration{}
	for _, m := range servers {
		addr := raft.ServerAddress(m.RaftAddr)
		if m.Name == n.id {
			addr = n.parts.transport.LocalAddr()
		} else if err := n.checkServerIdentity(m.Name, m.RaftAddr); err != nil {
			n.boot.set(api.BootstrapWaiting, err.Error())
			return
		}
		cfg.Servers = append(cfg.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.Name), Address: addr})
	}
	n.rememberServers(cfg)
	err := n.raft.BootstrapCluster(cfg).Error()
	if err != nil && err != raft.ErrCantBootstrap {
		n.boot.set(api.BootstrapWaiting, "bootstrap failed: "+err.Error())
		n.log.Error("bootstrap failed", "err", err)
		return
	}
	n.boot.set(api.BootstrapDone, "voters "+strings.Join(ids, ", "))
	n.log.Info("bootstrapped a new cluster", "voters", strings.Join(ids, ","))
}

// announceInCluster gossips that this node holds Raft state, so that no
// member without state bootstraps a second cluster beside this one.
func (n *Node) announceInCluster() {
	if err := n.gossip.UpdateMeta(func(m *gossip.Meta) { m.InCluster = true }); err != nil {
		n.log.Warn("gossiping that this node is in a cluster", "err", err)
	}
}

func (n *Node) hasConfiguration() bool {
	f := n.raft.GetConfiguration()
	return f.Error() == nil && len(f.Configuration().Servers) > 0
}
