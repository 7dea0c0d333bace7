package node

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/gossip"
)

// replicaState is a client agent's side of its replica stream.
type replicaState struct {
	mu       sync.Mutex
	hb       replicaHeartbeat // the newest heartbeat of the upstream
	contact  time.Time        // when the upstream last sent anything
	upstream string           // the server streamed from ("" while none)
	// server is whether this node's own Raft configuration lists it, as
	// last gossiped.
	server bool

	// hold is what local reads wait for after Raft installed a snapshot
	// older than the catalog, as after a promotion (see raftFSM.Restore
	// and CaughtUp); nil when none.
	hold atomic.Pointer[readHold]
	// synced is set once the replica has caught up with a server since
	// this start: until then a client answers no local read (CaughtUp).
	synced atomic.Bool
	// announce carries the role to gossip meta (announceUpstream).
	announce chan roleNews
}

// readHold: local reads wait until the catalog has applied index again, or
// Raft has: Raft's applied index counts once it has moved past raftAt, what
// it said when the snapshot came, because until Raft records the install it
// still names what the replaced catalog had applied.
type readHold struct{ index, raftAt uint64 }

var (
	errPromoted   = errors.New("this node is a server now: Raft feeds its catalog")
	errReplicaGap = errors.New("the replica stream skipped entries")
	errSilentPeer = errors.New("the upstream server sent nothing for 5s")
	errLeaderPeer = errors.New("the upstream server leads now: a follower takes its clients")
	errBetterPeer = errors.New("the server this client prefers is back: it moves there")
)

// rebalanceAfter is how long a client streams from a server before it
// looks again for the one it prefers (its zone's, then its rendezvous
// hash). Clients move only when their stream ends, so after a server
// failure they would all stay on the survivors, and a replacement or a
// returned server would get none.
const rebalanceAfter = 30 * time.Second

func (r *replicaState) serverSet() []raft.Server {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]raft.Server, 0, len(r.hb.Servers))
	for _, s := range r.hb.Servers {
		sf := raft.Nonvoter
		if s.Voter {
			sf = raft.Voter
		}
		out = append(out, raft.Server{ID: raft.ServerID(s.ID), Address: raft.ServerAddress(s.Addr), Suffrage: sf})
	}
	return out
}

// leader is the leader the upstream named, while it is heard from.
func (r *replicaState) leader() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.contact) > replicaSilence {
		return ""
	}
	return r.hb.Leader
}

// termAndApplied are the Raft term and the catalog index the upstream
// last reported.
func (r *replicaState) termAndApplied() (uint64, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hb.Term, r.hb.Applied
}

func (r *replicaState) lastContact() (time.Time, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.contact, r.upstream
}

// Upstream is the server this client agent streams its catalog from (""
// on a server, or while it looks for one).
func (n *Node) Upstream() string {
	_, up := n.replica.lastContact()
	return up
}

// ReplicaStreams is how many client agents stream from this server now.
func (n *Node) ReplicaStreams() int { return int(n.replicaStreams.Load()) }

// ReplicaOpener opens a server's replica stream after an index: the leader
// road's call (forward.Forwarder.OpenReplica), which holds the peer
// transport and its mutual TLS.
type ReplicaOpener func(ctx context.Context, serverID, serverURL string, after uint64) (io.ReadCloser, error)

// FollowServers starts keeping this node's catalog current from a server
// whenever it is a client agent, opening streams with open. The agent calls
// it once, with its road to the leader; a node never given one (a server
// set by hand in a test) is only ever a server.
func (n *Node) FollowServers(open ReplicaOpener) {
	n.openReplica = open
	n.goLoop(n.followServers)
}

// followServers keeps a client agent's catalog current: it streams the
// committed log from one server at a time, picked by rendezvous hashing so
// clients spread over the servers (the leader last: its CPU is the
// cluster's write rate), and moves to the next one when a stream fails.
func (n *Node) followServers() {
	failed := map[string]time.Time{}
	for n.ctx.Err() == nil {
		if n.IsServer() {
			n.setUpstream("", true)
			n.sleep(500 * time.Millisecond)
			continue
		}
		srv, ok := n.pickUpstream(failed)
		if !ok {
			n.setUpstream("", false)
			n.sleep(500 * time.Millisecond)
			continue
		}
		err := n.streamFrom(srv)
		switch {
		case n.ctx.Err() != nil:
			return
		case errors.Is(err, errPromoted), errors.Is(err, errLeaderPeer), errors.Is(err, errBetterPeer):
			continue
		default:
			// nil: the server ended the stream (it is no longer one).
			if err != nil {
				n.log.Info("replica stream ended", "server", srv.Name, "err", err)
			}
			failed[srv.Name] = time.Now()
			n.sleep(100 * time.Millisecond)
		}
	}
}

func (n *Node) sleep(d time.Duration) {
	select {
	case <-n.ctx.Done():
	case <-time.After(d):
	}
}

// pickUpstream chooses the server to stream from: among the servers the
// last upstream named (else the members that hold Raft state), alive and
// not failed in the last 5 s, followers before the leader, then a server
// in this node's zone, then the highest rendezvous hash of (client,
// server).
func (n *Node) pickUpstream(failed map[string]time.Time) (gossip.Member, bool) {
	known := map[string]bool{}
	for _, s := range n.replica.serverSet() {
		known[string(s.ID)] = true
	}
	leader := n.replica.leader()
	var best gossip.Member
	var bestScore uint64
	found := false
	for _, m := range n.gossip.Members() {
		if m.Name == n.id || m.State != gossip.StateAlive || m.URL == "" {
			continue
		}
		if len(known) > 0 && !known[m.Name] || len(known) == 0 && !m.InCluster {
			continue
		}
		if t, ok := failed[m.Name]; ok && time.Since(t) < 5*time.Second {
			continue
		}
		h := fnv.New64a()
		h.Write([]byte(n.id + "\x00" + m.Name))
		score := h.Sum64() >> 2
		if m.Name != leader {
			score |= 1 << 63
		}
		if m.AZ == n.cfg.AZ {
			score |= 1 << 62 // a server in this node's zone, among the followers
		}
		if !found || score > bestScore {
			best, bestScore, found = m, score, true
		}
	}
	if !found && len(failed) > 0 {
		clear(failed) // every server failed lately: try them all again
	}
	return best, found
}

// streamFrom follows one server's replica stream until it fails.
func (n *Node) streamFrom(srv gossip.Member) error {
	ctx, cancel := context.WithCancelCause(n.ctx)
	defer cancel(nil)
	body, err := n.openReplica(ctx, srv.Name, srv.URL, n.fsm.AppliedIndex())
	if err != nil {
		return fmt.Errorf("%s: %w", srv.Name, err)
	}
	defer body.Close()
	n.setUpstream(srv.Name, false)
	silence := time.AfterFunc(replicaSilence, func() { cancel(errSilentPeer) })
	defer silence.Stop()
	fr := newFrameReader(body)
	nextLook := time.Now().Add(rebalanceAfter)
	for {
		t, p, err := fr.next()
		if err != nil {
			if c := context.Cause(ctx); c != nil && errors.Is(c, errSilentPeer) {
				return c
			}
			return err
		}
		silence.Reset(replicaSilence)
		n.touchReplica()
		switch t {
		case frameEntries:
			logs, err := decodeEntries(p)
			if err != nil {
				return err
			}
			if err := n.applyReplicated(logs); err != nil {
				return err
			}
		case frameSnapshot:
			index, k := binary.Uvarint(p)
			if k <= 0 {
				return errors.New("replica snapshot frame: bad index")
			}
			if err := n.restoreReplicated(fr, index); err != nil {
				return err
			}
		case frameHeartbeat:
			var hb replicaHeartbeat
			if err := json.Unmarshal(p, &hb); err != nil {
				return fmt.Errorf("replica heartbeat: %w", err)
			}
			n.takeHeartbeat(hb)
			if hb.Leader == srv.Name && n.otherServerAlive(hb, srv.Name) {
				// The leader's CPU is the cluster's write rate: its
				// clients move to a follower.
				return errLeaderPeer
			}
			if time.Now().After(nextLook) {
				nextLook = time.Now().Add(rebalanceAfter)
				if best, ok := n.pickUpstream(map[string]time.Time{}); ok && best.Name != srv.Name {
					n.log.Info("moving to the preferred server", "from", srv.Name, "to", best.Name)
					return errBetterPeer
				}
			}
		default:
			return fmt.Errorf("replica stream: unknown frame %q", t)
		}
	}
}

// otherServerAlive reports whether a server other than id is alive.
func (n *Node) otherServerAlive(hb replicaHeartbeat, id string) bool {
	for _, s := range hb.Servers {
		if s.ID == id || s.ID == n.id {
			continue
		}
		if m, ok := n.gossip.Member(s.ID); ok && m.State == gossip.StateAlive && m.URL != "" {
			return true
		}
	}
	return false
}

func (n *Node) touchReplica() {
	n.replica.mu.Lock()
	n.replica.contact = time.Now()
	n.replica.mu.Unlock()
}

func (n *Node) takeHeartbeat(hb replicaHeartbeat) {
	n.replica.mu.Lock()
	moved := hb.Leader != n.replica.hb.Leader
	n.replica.hb = hb
	n.replica.mu.Unlock()
	if n.fsm.AppliedIndex() >= hb.Applied {
		n.replica.synced.Store(true)
	}
	if moved {
		n.leaderMoves.signal()
	}
}

// applyReplicated applies entries of the stream in order. Entries the
// catalog has are skipped; a gap ends the stream (after a promotion's
// restore the catalog is below the stream: Raft has it now).
func (n *Node) applyReplicated(logs []*raft.Log) error {
	n.applyMu.Lock()
	defer n.applyMu.Unlock()
	if n.IsServer() {
		return errPromoted
	}
	applied := n.fsm.AppliedIndex()
	for len(logs) > 0 && logs[0].Index <= applied {
		logs = logs[1:]
	}
	if len(logs) == 0 {
		return nil
	}
	if logs[0].Index != applied+1 {
		return fmt.Errorf("%w: next %d, the catalog is at %d", errReplicaGap, logs[0].Index, applied)
	}
	n.fsm.ApplyBatch(logs)
	return nil
}

// restoreReplicated replaces the catalog with the one the stream carries,
// read from the chunk frames that follow.
func (n *Node) restoreReplicated(fr *frameReader, index uint64) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		n.applyMu.Lock()
		defer n.applyMu.Unlock()
		var err error
		if n.IsServer() {
			err = errPromoted
		} else {
			err = n.fsm.Restore(pr)
		}
		pr.CloseWithError(errors.Join(err, io.ErrClosedPipe))
		done <- err
	}()
	for {
		t, p, err := fr.next()
		if err == nil && t != frameChunk && t != frameSnapshotEnd {
			err = fmt.Errorf("replica snapshot: unexpected frame %q", t)
		}
		if err != nil {
			pw.CloseWithError(err)
			<-done
			return err
		}
		if t == frameSnapshotEnd {
			pw.Close()
			if err := <-done; err != nil {
				return err
			}
			if got := n.fsm.AppliedIndex(); got < index {
				return fmt.Errorf("replica snapshot restored to %d, sent as %d", got, index)
			}
			return nil
		}
		if _, err := pw.Write(p); err != nil {
			return <-done
		}
	}
}

// roleNews is what a node gossips of its role: the server its replica
// streams from, and whether its own Raft configuration lists it.
type roleNews struct {
	upstream string
	server   bool
}

// setUpstream records the server streamed from and whether this node is a
// server, and gossips both.
func (n *Node) setUpstream(id string, server bool) {
	n.replica.mu.Lock()
	same := n.replica.upstream == id && n.replica.server == server
	n.replica.upstream, n.replica.server = id, server
	n.replica.mu.Unlock()
	if same {
		return
	}
	select {
	case <-n.replica.announce: // drop the older news
	default:
	}
	n.replica.announce <- roleNews{upstream: id, server: server}
}

// announceUpstream puts the role into gossip meta off the stream's path
// (UpdateMeta waits until memberlist has sent the news).
func (n *Node) announceUpstream() {
	for {
		select {
		case <-n.ctx.Done():
			return
		case r := <-n.replica.announce:
			if err := n.gossip.UpdateMeta(func(m *gossip.Meta) { m.Upstream, m.Server = r.upstream, r.server }); err != nil && n.ctx.Err() == nil {
				n.log.Warn("gossiping the replica's upstream", "err", err)
			}
		}
	}
}
