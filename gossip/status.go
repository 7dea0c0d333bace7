package gossip

import (
	"slices"
	"time"

	"github.com/hashicorp/memberlist"
)

// hostPart marks the host figures in a sample's set of received parts.
const hostPart = -1

// nodeStatus is what this member knows of one node's resources: the newest
// sample and inventory, merged from however many parts they came in.
type nodeStatus struct {
	usage usageMsg // header of the newest sample (ID, Ep, Seq, At, Iv, N)
	host  *hostUsage
	gpus  map[int]gpuUsage
	have  map[int]bool // parts of usage.Seq received (GPU indices, hostPart)
	recv  time.Time    // local time the newest sample arrived

	inv     inventoryMsg // header of the newest inventory (ID, Ep, Ver, Cuda, Driver, N)
	invGPUs map[int]gpuInv
	invHave map[int]bool

	// raw and invRaw are a peer's parts of the newest sample and inventory
	// as it signed them, by offset: push/pull passes them on unchanged.
	raw, invRaw map[int][]byte
}

func newNodeStatus() *nodeStatus {
	return &nodeStatus{gpus: map[int]gpuUsage{}, have: map[int]bool{}, invGPUs: map[int]gpuInv{}, invHave: map[int]bool{},
		raw: map[int][]byte{}, invRaw: map[int][]byte{}}
}

// newsUsage reports whether a sample part would tell this member anything.
func (s *nodeStatus) newsUsage(m usageMsg) bool {
	switch order(m.Ep, m.Seq, s.usage.Ep, s.usage.Seq) {
	case -1:
		return false
	case 1:
		return true
	}
	if m.Host != nil && !s.have[hostPart] {
		return true
	}
	for _, g := range m.G {
		if !s.have[g.I] {
			return true
		}
	}
	return false
}

// newsInventory is newsUsage for an inventory part.
func (s *nodeStatus) newsInventory(m inventoryMsg) bool {
	switch order(m.Ep, m.Ver, s.inv.Ep, s.inv.Ver) {
	case -1:
		return false
	case 1:
		return true
	}
	for _, g := range m.G {
		if !s.invHave[g.I] {
			return true
		}
	}
	return false
}

// order compares (ep, seq) pairs: <0 older, 0 same, >0 newer.
func order(ep1 int64, seq1 uint64, ep2 int64, seq2 uint64) int {
	switch {
	case ep1 != ep2:
		if ep1 < ep2 {
			return -1
		}
		return 1
	case seq1 < seq2:
		return -1
	case seq1 > seq2:
		return 1
	}
	return 0
}

// applyUsage merges a sample part; it reports whether it told this member
// anything new (and so is worth passing on). Older samples are ignored.
func (s *nodeStatus) applyUsage(m usageMsg, now time.Time) bool {
	switch order(m.Ep, m.Seq, s.usage.Ep, s.usage.Seq) {
	case -1:
		return false
	case 1:
		s.usage = usageMsg{ID: m.ID, Ep: m.Ep, Seq: m.Seq, At: m.At, Iv: m.Iv, N: m.N}
		clear(s.have)
		clear(s.raw)
		s.recv = now
		for i := range s.gpus {
			if i >= m.N {
				delete(s.gpus, i)
			}
		}
	}
	changed := false
	if m.Host != nil && !s.have[hostPart] {
		h := *m.Host
		s.host, s.have[hostPart], changed = &h, true, true
	}
	for _, g := range m.G {
		if !s.have[g.I] {
			s.gpus[g.I], s.have[g.I], changed = g, true, true
		}
	}
	return changed
}

// applyInventory merges an inventory part, like applyUsage.
func (s *nodeStatus) applyInventory(m inventoryMsg) bool {
	m = m.expanded()
	switch order(m.Ep, m.Ver, s.inv.Ep, s.inv.Ver) {
	case -1:
		return false
	case 1:
		s.inv = inventoryMsg{ID: m.ID, Ep: m.Ep, Ver: m.Ver, Cuda: m.Cuda, Driver: m.Driver, N: m.N}
		clear(s.invHave)
		clear(s.invRaw)
		for i := range s.invGPUs {
			if i >= m.N {
				delete(s.invGPUs, i)
			}
		}
	}
	changed := false
	for _, g := range m.G {
		if !s.invHave[g.I] {
			s.invGPUs[g.I], s.invHave[g.I], changed = g, true, true
		}
	}
	return changed
}

// whole returns the merged sample and inventory as single messages, for
// push/pull state.
func (s *nodeStatus) whole() (u *usageMsg, inv *inventoryMsg) {
	if s.usage.Seq > 0 {
		m := s.usage
		m.Host = s.host
		for _, i := range sortedKeys(s.gpus) {
			m.G = append(m.G, s.gpus[i])
		}
		u = &m
	}
	if s.inv.Ver > 0 {
		m := s.inv
		for _, i := range sortedKeys(s.invGPUs) {
			m.G = append(m.G, s.invGPUs[i])
		}
		inv = &m
	}
	return u, inv
}

func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// receiveUsage records this node's own sample.
func (g *Gossip) receiveUsage(m usageMsg) bool { return g.takeUsage(m, nil, nil) }

// receiveInventory records this node's own inventory.
func (g *Gossip) receiveInventory(m inventoryMsg) bool { return g.takeInventory(m, nil, nil) }

// takeUsage records a sample part; sealed is the part as its node signed
// it (nil for this node's own) and check its authentication, run only
// when the part is news. Parts of nodes that are not members are dropped:
// they are stale relays of a node that was forgotten, or arrive before its
// join, and the next sample or push/pull brings them again.
func (g *Gossip) takeUsage(m usageMsg, sealed []byte, check func() bool) bool {
	if futureEpoch(m.Ep) {
		g.badMsgs.Add(1)
		return false
	}
	// The signature is checked outside the lock (an ECDSA verify on
	// memberlist's receive path), and only for news.
	g.mu.Lock()
	st := g.statusOf(m.ID)
	news := st != nil && st.newsUsage(m)
	g.mu.Unlock()
	if !news || (check != nil && !check()) {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if st = g.statusOf(m.ID); st == nil || !st.applyUsage(m, time.Now()) {
		return false // forgotten meanwhile, or another copy came first
	}
	if sealed != nil {
		st.raw[m.O] = sealed
	}
	g.notify()
	return true
}

func (g *Gossip) takeInventory(m inventoryMsg, sealed []byte, check func() bool) bool {
	if futureEpoch(m.Ep) {
		g.badMsgs.Add(1)
		return false
	}
	g.mu.Lock()
	st := g.statusOf(m.ID)
	news := st != nil && st.newsInventory(m)
	g.mu.Unlock()
	if !news || (check != nil && !check()) {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if st = g.statusOf(m.ID); st == nil || !st.applyInventory(m) {
		return false
	}
	if sealed != nil {
		st.invRaw[m.O] = sealed
	}
	g.notify()
	return true
}

// takeStatus handles a status part from a peer (by gossip, or in push/pull
// state): a part about this node itself is never taken from others, and
// a peer's part must be signed by that peer. It reports whether the part
// was news, and so worth passing on.
func (g *Gossip) takeStatus(o opened, sealed []byte) bool {
	check := func() bool { return g.authentic(o) }
	switch m := o.v.(type) {
	case usageMsg:
		return m.ID != g.id && g.takeUsage(m, sealed, check)
	case inventoryMsg:
		return m.ID != g.id && g.takeInventory(m, sealed, check)
	}
	return false
}

// maxEpochSkew is how far ahead of this node's clock a sample's epoch (its
// sender's start time) may be. Newer epochs win, so one forged far in the
// future would shadow the node's real samples for good, even across its
// restarts.
const maxEpochSkew = 30 * time.Second

func futureEpoch(ep int64) bool { return ep > time.Now().Add(maxEpochSkew).UnixNano() }

// statusOf must be called with g.mu held.
func (g *Gossip) statusOf(id string) *nodeStatus {
	if _, ok := g.members[id]; !ok && id != g.id {
		return nil
	}
	st, ok := g.status[id]
	if !ok {
		st = newNodeStatus()
		g.status[id] = st
	}
	return st
}

// localState is this member's push/pull state: every node's newest status,
// as signed parts (this node's own signed now).
func (g *Gossip) localState() []byte {
	g.mu.Lock()
	var sm stateMsg
	var own []func() ([]part, error)
	for id, st := range g.status {
		if id == g.id {
			u, inv := st.whole()
			if u != nil {
				own = append(own, u.parts)
			}
			if inv != nil {
				i := *inv
				own = append(own, i.parts)
			}
			continue
		}
		for _, raw := range []map[int][]byte{st.raw, st.invRaw} {
			for _, off := range sortedKeys(raw) {
				sm.Parts = append(sm.Parts, raw[off])
			}
		}
	}
	g.mu.Unlock()
	for _, parts := range own {
		ps, err := parts()
		if err != nil {
			continue
		}
		for _, p := range ps {
			sm.Parts = append(sm.Parts, g.seal(p.b))
		}
	}
	b, err := encodeMsg(msgState, sm)
	if err != nil || len(b) > maxStateSize {
		g.log.Warn("push/pull state not sent", "bytes", len(b), "err", err)
		return nil
	}
	return b
}

// mergeState applies a peer's push/pull state. It is not passed on: push/pull
// itself spreads it.
func (g *Gossip) mergeState(b []byte) {
	if len(b) == 0 {
		return
	}
	t, v, err := decodeMsg(b)
	if err == nil && t != msgState {
		err = errNotState
	}
	if err != nil {
		g.badMsgs.Add(1)
		g.log.Debug("dropping malformed push/pull state", "err", err)
		return
	}
	for _, raw := range v.(stateMsg).Parts {
		o, err := openMsg(raw)
		if err != nil || (o.t != msgUsage && o.t != msgInventory) {
			g.badMsgs.Add(1)
			continue
		}
		g.takeStatus(o, raw)
	}
}

// namedBroadcast is a gossip message that replaces any queued message of the
// same name: a newer sample of a node supersedes the older one.
type namedBroadcast struct {
	name string
	msg  []byte
}

var _ memberlist.NamedBroadcast = namedBroadcast{}

func (b namedBroadcast) Invalidates(o memberlist.Broadcast) bool {
	nb, ok := o.(memberlist.NamedBroadcast)
	return ok && nb.Name() == b.name
}
func (b namedBroadcast) Name() string    { return b.name }
func (b namedBroadcast) Message() []byte { return b.msg }
func (b namedBroadcast) Finished()       {}
