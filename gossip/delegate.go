package gossip

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// delegate serves this node's meta to memberlist.
type delegate struct{ g *Gossip }

var _ memberlist.Delegate = (*delegate)(nil)

func (d *delegate) NodeMeta(limit int) []byte           { return *d.g.meta.Load() }
func (d *delegate) LocalState(bool) []byte              { return d.g.localState() }
func (d *delegate) MergeRemoteState(buf []byte, _ bool) { d.g.mergeState(buf) }

// GetBroadcasts fills a gossip packet: membership news, leaves, forgets and
// inventories first, then usage samples in the room left.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	out := d.g.queue.GetBroadcasts(overhead, limit)
	for _, b := range out {
		limit -= overhead + len(b)
	}
	return append(out, d.g.usageQueue.GetBroadcasts(overhead, limit)...)
}

// NotifyMsg runs on memberlist's receive path: decode, authenticate,
// record, queue news for relaying, return. Nothing here blocks or panics on
// bad input.
func (d *delegate) NotifyMsg(b []byte) {
	g := d.g
	o, err := openMsg(b)
	if err == nil && o.t == msgState {
		err = errors.New("push/pull state sent as a gossip message")
	}
	if err != nil {
		g.badMsgs.Add(1)
		g.log.Debug("dropping malformed gossip message", "err", err)
		return
	}
	// b belongs to memberlist's buffer; keep a copy to pass it on.
	own := slices.Clone(b)
	switch m := o.v.(type) {
	case leaveMsg:
		if g.authentic(o) {
			g.recordLeave(m.ID)
		}
	case forgetMsg:
		if g.authentic(o) && g.applyForget(m.ID) {
			g.queue.QueueBroadcast(namedBroadcast{name: "f/" + m.ID, msg: own})
		}
	case usageMsg:
		if g.takeStatus(o, own) {
			g.relay("u", m.ID, m.O, own)
		}
	case inventoryMsg:
		if g.takeStatus(o, own) {
			g.relay("i", m.ID, m.O, own)
		}
	}
}

// forgetPatience is how long a forget request waits for a member that is
// still alive here to be seen dead or left.
const forgetPatience = 2 * time.Minute

// events keeps the member table. memberlist calls it on its own goroutines
// with its locks held, so it must never block: it takes only g.mu and sends
// only non-blocking notifications.
type events struct{ g *Gossip }

var _ memberlist.EventDelegate = (*events)(nil)

func (e *events) NotifyJoin(n *memberlist.Node)   { e.g.update(n, StateAlive) }
func (e *events) NotifyUpdate(n *memberlist.Node) { e.g.update(n, StateAlive) }
func (e *events) NotifyLeave(n *memberlist.Node)  { e.g.update(n, StateDead) }

func (g *Gossip) update(n *memberlist.Node, state State) {
	if checkID(n.Name) != nil {
		// Not a name a Roster node can have: not a member of ours at all.
		g.badMeta.Add(1)
		g.log.Warn("ignoring a gossip member with an invalid node name", "name", n.Name, "addr", n.Address())
		return
	}
	meta, err := DecodeMeta(n.Meta)
	if err == nil && meta.ID != n.Name {
		err = fmt.Errorf("meta names node %q, the member is %q", meta.ID, n.Name)
	}
	if err != nil {
		// Kept as a bare member (liveness only): no URL, no Raft address,
		// so it is neither checked against, forwarded to nor added to Raft.
		g.badMeta.Add(1)
		g.log.Warn("ignoring invalid node meta", "node", n.Name, "addr", n.Address(), "err", err)
		meta = Meta{ID: n.Name}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err == nil && meta.URL != "" {
		if other := g.urlHolder(meta.URL, n.Name); other != "" {
			// Checks, forwarding and heartbeats find a node by its URL: a
			// second member under the same URL would take the first one's
			// place in all three.
			err = fmt.Errorf("URL %s belongs to alive member %s", meta.URL, other)
			g.badMeta.Add(1)
			g.log.Warn("ignoring node meta", "node", n.Name, "addr", n.Address(), "err", err)
			meta = Meta{ID: n.Name}
		}
	}
	if state == StateDead && g.leaving[n.Name] {
		state = StateLeft
	}
	if state == StateAlive {
		delete(g.leaving, n.Name) // back again: an old intent no longer applies
	} else if t, ok := g.forgetting[n.Name]; ok {
		if time.Since(t) < forgetPatience {
			g.drop(n.Name)
			return
		}
		delete(g.forgetting, n.Name)
	}
	m, ok := g.members[n.Name]
	if !ok {
		m = &Member{Name: n.Name}
		g.members[n.Name] = m
	}
	if err == nil || !ok {
		m.Meta = meta
	}
	m.Addr = net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
	if m.State != state {
		m.State, m.Since = state, time.Now()
	}
	g.notify()
}

// recordLeave notes a peer's intent to leave, and turns an already-reported
// death into a departure when the intent arrives late.
func (g *Gossip) recordLeave(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if id == g.id || g.leaving[id] {
		return
	}
	g.leaving[id] = true
	if m, ok := g.members[id]; ok && m.State == StateDead {
		m.State, m.Since = StateLeft, time.Now()
		g.notify()
	}
}

// urlHolder is the alive member other than name that gossips url, or "".
// Must be called with g.mu held.
func (g *Gossip) urlHolder(url, name string) string {
	for id, m := range g.members {
		if id != name && m.State == StateAlive && m.Meta.URL == url {
			return id
		}
	}
	if name != g.id && g.selfURL == url {
		return g.id
	}
	return ""
}
