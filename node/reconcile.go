package node

import (
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/gossip"
)

// reconciler is the leader's membership logic. Its timers live only as long
// as one term of leadership: a new leader starts counting afresh, which can
// only delay a replacement, never hasten one.
type reconciler struct {
	n *Node
	// deadSince is when gossip first reported a server dead to this leader.
	deadSince map[string]time.Time
	// nonvoterSince is when this leader first saw a non-voter alive.
	nonvoterSince map[string]time.Time
	// staleSince is when this leader first saw an alive member that holds
	// itself a server outside the configuration (gossip.Meta.Server), and
	// staleTries how often it was added again for that: each time it
	// waits twice as long, so a member that never catches up (unreachable,
	// or a forged one on a cluster without gossip encryption) costs a
	// configuration change every 10 minutes at most, not every 20 s.
	staleSince map[string]time.Time
	staleTries map[string]int
}

// staleServerAfter is how long a member may hold itself a server outside
// the configuration before the leader adds it again: longer than a
// demoted server takes to gossip that it no longer is one.
const staleServerAfter = 10 * time.Second

// spareSettle is how long a server added as a spare stays one before it
// may be returned to client: time to catch up, so that the removal
// reaches it and it knows it is a client.
const spareSettle = 10 * time.Second

func newReconciler(n *Node) *reconciler {
	return &reconciler{n: n, deadSince: map[string]time.Time{}, nonvoterSince: map[string]time.Time{},
		staleSince: map[string]time.Time{}, staleTries: map[string]int{}}
}

// change is one configuration change the reconciler wants.
type change struct {
	op   string // add-nonvoter, promote, remove, demote (a surplus spare), readdress-*, park-*
	id   string
	addr string
	// forID is the server a park makes room for at addr it claims: it
	// must prove it is that server there before anyone is moved (a
	// member's gossip alone must not rewrite another server's address).
	forID, forAddr string
}

func (r *reconciler) reconcile() {
	f := r.n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return
	}
	r.n.rememberServers(f.Configuration())
	for _, c := range r.plan(f.Configuration(), r.n.gossip.Members(), time.Now()) {
		r.apply(c)
	}
}

func (r *reconciler) apply(c change) {
	var fut raft.IndexFuture
	id, addr := raft.ServerID(c.id), raft.ServerAddress(c.addr)
	// A parked server's placeholder address is nobody's: the identity
	// checked is that of the server the park makes room for.
	switch {
	case strings.HasPrefix(c.op, "park-"):
		if err := r.n.checkServerIdentity(c.forID, c.forAddr); err != nil {
			return
		}
	case c.op != "remove" && c.op != "demote":
		if err := r.n.checkServerIdentity(c.id, c.addr); err != nil {
			return
		}
	}
	switch c.op {
	case "add-nonvoter", "readdress-nonvoter", "park-nonvoter":
		fut = r.n.raft.AddNonvoter(id, addr, 0, 5*time.Second)
	case "promote", "readdress-voter", "park-voter":
		fut = r.n.raft.AddVoter(id, addr, 0, 5*time.Second)
	case "remove", "demote":
		fut = r.n.raft.RemoveServer(id, 0, 5*time.Second)
	}
	if err := fut.Error(); err != nil {
		r.n.log.Warn("membership change failed", "op", c.op, "server", c.id, "err", err)
		return
	}
	r.n.log.Info("membership changed", "op", c.op, "server", c.id, "addr", c.addr)
}

func suffrageOp(s raft.Server) string {
	if s.Suffrage == raft.Voter {
		return "voter"
	}
	return "nonvoter"
}

// readdress moves server s to addr, parking first the server that holds
// addr in the configuration if gossip places that one elsewhere.
func (r *reconciler) readdress(s raft.Server, addr string, holderOf map[string]raft.Server, gossipAddr map[string]string) []change {
	var out []change
	if h, held := holderOf[addr]; held && h.ID != s.ID && gossipAddr[string(h.ID)] != addr {
		out = append(out, change{op: "park-" + suffrageOp(h), id: string(h.ID), addr: parkedAddr(string(h.ID)),
			forID: string(s.ID), forAddr: addr})
	}
	return append(out, change{op: "readdress-" + suffrageOp(s), id: string(s.ID), addr: addr})
}

// parkedAddr is a placeholder Raft address for a server whose recorded one
// another server now has: unique, and reachable by no one.
func parkedAddr(id string) string { return "parked." + id + ".invalid:1" }

// plan decides the changes for one round. It is a pure function of the Raft
// configuration, the gossip view and the clock, so it is unit-tested alone.
func (r *reconciler) plan(cfg raft.Configuration, members []gossip.Member, now time.Time) []change {
	self := r.n.id
	servers := map[string]raft.Server{}
	for _, s := range cfg.Servers {
		servers[string(s.ID)] = s
	}
	byID := map[string]gossip.Member{}
	gossipAddr := map[string]string{}
	for _, m := range members {
		gossipAddr[m.Name] = m.RaftAddr
	}
	holderOf := map[string]raft.Server{}
	for _, s := range cfg.Servers {
		holderOf[string(s.Address)] = s
	}
	var out []change
	var joiners []string
	for _, m := range members {
		byID[m.Name] = m
		if m.RaftAddr == "" {
			continue
		}
		s, in := servers[m.Name]
		if m.Name == self {
			// The leader's own address moves too (its container was
			// recreated); it is the only one that can record that.
			if in && m.State == gossip.StateAlive && string(s.Address) != m.RaftAddr {
				out = append(out, r.readdress(s, m.RaftAddr, holderOf, gossipAddr)...)
			}
			continue
		}
		if in || !m.Server || m.State != gossip.StateAlive {
			delete(r.staleSince, m.Name)
		}
		if !m.Server && m.State == gossip.StateAlive {
			delete(r.staleTries, m.Name) // it knows where it stands
		}
		switch m.State {
		case gossip.StateAlive:
			delete(r.deadSince, m.Name)
			switch {
			case !in && m.Server && m.ServerMode != gossip.ServerNever:
				// Removed while it was down, it came back with a
				// configuration from before its removal: it campaigns in
				// vain and serves no catalog. Added again, it receives
				// the log; the server set below returns the surplus to
				// client, and the removal then reaches it.
				tries := r.staleTries[m.Name]
				if since, seen := r.staleSince[m.Name]; !seen {
					r.staleSince[m.Name] = now
				} else if now.Sub(since) >= staleServerAfter<<min(tries, 6) {
					delete(r.staleSince, m.Name)
					r.staleTries[m.Name] = tries + 1
					out = append(out, r.join(m.Name, byID, now))
				}
			case !in && m.ServerMode != gossip.ServerNever:
				// A client agent: the server set below decides.
				joiners = append(joiners, m.Name)
			case !in:
			case string(s.Address) != m.RaftAddr:
				// Addresses that moved around (two nodes swapped IPs when
				// their containers were recreated): the new address is
				// still another server's in the configuration, which Raft
				// refuses as a duplicate, and each move waited on the
				// other. That server, which gossip places elsewhere, is
				// parked on a placeholder first.
				out = append(out, r.readdress(s, m.RaftAddr, holderOf, gossipAddr)...)
			}
			if in && s.Suffrage != raft.Voter {
				if _, seen := r.nonvoterSince[m.Name]; !seen {
					r.nonvoterSince[m.Name] = now
				}
			}
		case gossip.StateLeft:
			if in {
				out = append(out, change{op: "remove", id: m.Name, addr: ""})
			}
		case gossip.StateDead:
			if _, seen := r.deadSince[m.Name]; !seen {
				r.deadSince[m.Name] = now
			}
			delete(r.nonvoterSince, m.Name)
		}
	}
	out = append(out, r.serverSet(cfg, byID, joiners, now)...)

	voters, azs := 0, map[string]bool{}
	var deadVoters []string
	for _, s := range cfg.Servers {
		if s.Suffrage != raft.Voter {
			continue
		}
		id := string(s.ID)
		if m, ok := byID[id]; ok && m.State == gossip.StateLeft {
			continue // being removed above
		}
		voters++
		if id != self && (r.gone(id, now) || byID[id].ServerMode == gossip.ServerNever) {
			// Dead past the window, or set to never be a server: replaced
			// one for one below.
			deadVoters = append(deadVoters, id)
			continue
		}
		azs[byID[id].AZ] = true
	}
	slices.Sort(deadVoters)

	candidates := r.promotable(cfg, byID, now)
	pick := func() (string, bool) {
		if len(candidates) == 0 {
			return "", false
		}
		best := 0
		for i, c := range candidates {
			if !azs[byID[c].AZ] && azs[byID[candidates[best]].AZ] {
				best = i
			}
		}
		id := candidates[best]
		candidates = slices.Delete(candidates, best, best+1)
		azs[byID[id].AZ] = true
		return id, true
	}
	// Replace dead voters one for one, never shrinking the voter set: a
	// full-cluster restart must not lose voters.
	for _, dead := range deadVoters {
		id, ok := pick()
		if !ok {
			break
		}
		out = append(out, change{op: "remove", id: dead, addr: ""}, change{op: "promote", id: id, addr: byID[id].RaftAddr})
		delete(r.deadSince, dead)
	}
	for ; voters < r.n.cfg.Voters; voters++ {
		id, ok := pick()
		if !ok {
			break
		}
		out = append(out, change{op: "promote", id: id, addr: byID[id].RaftAddr})
	}
	return withoutDemotedPromotions(out)
}

// withoutDemotedPromotions drops the demotion of a spare that the same
// round promotes to voter.
func withoutDemotedPromotions(cs []change) []change {
	promoted := map[string]bool{}
	for _, c := range cs {
		if c.op == "promote" {
			promoted[c.id] = true
		}
	}
	return slices.DeleteFunc(cs, func(c change) bool { return c.op == "demote" && promoted[c.id] })
}

// gone reports a server gossip has called dead for the replacement window.
func (r *reconciler) gone(id string, now time.Time) bool {
	since, dead := r.deadSince[id]
	return dead && now.Sub(since) >= r.n.cfg.DeadVoterWindow
}

// serverSet keeps the servers (voters and spares) at --servers: alive
// client agents join as non-voters while there are fewer (those pinned
// with --server always whatever the count; a zone with fewer servers
// first), a spare dead past the window or pinned to never leaves the set,
// and surplus spares go back to being clients (from the most crowded zone).
// Voters are never removed here: the voter logic replaces them one for one.
func (r *reconciler) serverSet(cfg raft.Configuration, byID map[string]gossip.Member, joiners []string, now time.Time) []change {
	target := max(r.n.cfg.Servers, r.n.cfg.Voters)
	var out []change
	count, azs := 0, map[string]int{}
	var spares []string
	for _, s := range cfg.Servers {
		id := string(s.ID)
		m, known := byID[id]
		if id != r.n.id {
			switch {
			case known && m.State == gossip.StateLeft:
				continue // removed by plan
			case m.ServerMode == gossip.ServerNever || r.gone(id, now):
				if s.Suffrage != raft.Voter {
					out = append(out, change{op: "remove", id: id})
				}
				continue
			}
		}
		count++
		azs[m.AZ]++
		if id != r.n.id && s.Suffrage != raft.Voter && m.State == gossip.StateAlive && m.ServerMode == "" && r.settled(id, now) {
			spares = append(spares, id)
		}
	}
	var auto []string
	for _, id := range joiners {
		if byID[id].ServerMode == gossip.ServerAlways {
			out = append(out, r.join(id, byID, now))
			count++
			azs[byID[id].AZ]++
		} else {
			auto = append(auto, id)
		}
	}
	slices.Sort(auto)
	for count < target && len(auto) > 0 {
		best := 0
		for i, id := range auto {
			if azs[byID[id].AZ] < azs[byID[auto[best]].AZ] {
				best = i
			}
		}
		id := auto[best]
		auto = slices.Delete(auto, best, best+1)
		out = append(out, r.join(id, byID, now))
		count++
		azs[byID[id].AZ]++
	}
	slices.Sort(spares)
	for count > target && len(spares) > 0 {
		worst := len(spares) - 1
		for i := len(spares) - 1; i >= 0; i-- {
			if azs[byID[spares[i]].AZ] > azs[byID[spares[worst]].AZ] {
				worst = i
			}
		}
		id := spares[worst]
		spares = slices.Delete(spares, worst, worst+1)
		out = append(out, change{op: "demote", id: id})
		count--
		azs[byID[id].AZ]--
	}
	return out
}

// settled reports a spare this leader has seen alive for spareSettle.
func (r *reconciler) settled(id string, now time.Time) bool {
	since, seen := r.nonvoterSince[id]
	return seen && now.Sub(since) >= spareSettle
}

func (r *reconciler) join(id string, byID map[string]gossip.Member, now time.Time) change {
	r.nonvoterSince[id] = now
	return change{op: "add-nonvoter", id: id, addr: byID[id].RaftAddr}
}

// promotable lists non-voters that are alive and have been for PromoteAfter,
// sorted by ID so every leader makes the same choice.
func (r *reconciler) promotable(cfg raft.Configuration, byID map[string]gossip.Member, now time.Time) []string {
	var out []string
	for _, s := range cfg.Servers {
		id := string(s.ID)
		m, ok := byID[id]
		if s.Suffrage == raft.Voter || !ok || m.State != gossip.StateAlive || string(s.Address) != m.RaftAddr ||
			m.ServerMode == gossip.ServerNever {
			continue
		}
		if since, ok := r.nonvoterSince[id]; ok && now.Sub(since) >= r.n.cfg.PromoteAfter {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}
