package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/api"
)

// A read index needs proof that this node still led when the read began:
// a quorum of voters that, after the read began, still followed it in its
// term. A barrier (a log entry committed in the term) proves it at the cost
// of a disk write on a quorum; asking the voters directly proves it with
// one request each, as etcd's ReadIndex does with its heartbeats. Each
// answer is to a request sent in this round, after the reads of the round
// began: a voter that had voted for a newer leader by then answers no, and
// a newer leader needs a majority of votes, which meets every majority of
// yes. (Raft's VerifyLeader is not used: it counts answers to heartbeats
// sent before the check, so a leader frozen and then resumed confirmed
// itself with answers from before the freeze.)

// FollowerCheck asks the server id, at this HTTP URL, whether it follows
// this node in term; nil is yes. Only that server may answer: another node
// found at the URL (a stale or forged gossip address) must not answer in
// its place. The agent supplies it (node-to-node HTTP). An
// error with code not_found is a voter of an older build, without the
// question: during a rolling upgrade the round falls back to a barrier.
type FollowerCheck func(ctx context.Context, id, url string, term uint64) error

// SetFollowerCheck makes read indexes proven by asking the voters (fn)
// rather than by a barrier. Call it before the node serves reads.
func (n *Node) SetFollowerCheck(fn FollowerCheck) { n.followerCheck.Store(&fn) }

// Follows answers a leader's FollowerCheck on this node: nil when it is a
// server whose current term is term and whose leader is leaderID.
func (n *Node) Follows(leaderID string, term uint64) error {
	if !n.IsServer() {
		return errors.New("this node is not a server")
	}
	cur := n.raft.CurrentTerm()
	_, lid := n.raft.LeaderWithID()
	if cur != term || string(lid) != leaderID {
		return fmt.Errorf("this server is in term %d following %q, not in term %d following %q", cur, lid, term, leaderID)
	}
	return nil
}

// quorumCheckTimeout bounds one round of checks.
const quorumCheckTimeout = 5 * time.Second

// confirmByQuorum is one ReadIndex round proven by the voters' answers.
func (n *Node) confirmByQuorum(check FollowerCheck) (uint64, error) {
	term := n.raft.CurrentTerm()
	if !n.IsLeader() || n.readyTerm.Load() != term {
		return 0, ErrNotLeader
	}
	// Every write acknowledged before this round's reads began is applied
	// here by now: a write is acknowledged once this leader applied it, and
	// the writes of earlier terms are behind this term's barrier (readyTerm).
	index := n.fsm.AppliedIndex()
	others, need, err := n.otherVoters()
	if err != nil {
		return 0, err
	}
	if need <= 0 {
		return index, nil
	}
	answers := make(chan error, len(others))
	checks := make([]*voterCheck, len(others))
	for i, s := range others {
		ctx, cancel := context.WithTimeout(n.ctx, quorumCheckTimeout)
		c := &voterCheck{voter: string(s.ID), cancel: cancel}
		checks[i] = c
		go func() {
			defer c.finish(n)
			m, ok := n.gossip.Member(c.voter)
			if !ok || m.URL == "" {
				answers <- fmt.Errorf("no address for %s", c.voter)
				return
			}
			answers <- check(ctx, c.voter, m.URL, term)
		}()
	}
	defer func() {
		for _, c := range checks {
			c.roundOver(n)
		}
	}()
	ctx, cancel := context.WithTimeout(n.ctx, quorumCheckTimeout)
	defer cancel()
	yes, no := 0, 0
	for yes < need {
		if no > len(others)-need {
			return 0, ErrNoLeader // too many voters said no or did not answer
		}
		select {
		case err := <-answers:
			if api.CodeOf(err) == api.CodeNotFound {
				return n.confirmByBarrier()
			}
			if err != nil {
				no++
				n.log.Debug("read index: a voter did not confirm this leader", "term", term, "err", err)
				continue
			}
			yes++
		case <-ctx.Done():
			if n.ctx.Err() != nil {
				return 0, ErrShutdown
			}
			return 0, ErrNoLeader
		}
	}
	return index, nil
}

// otherVoters is the latest configuration's voters but this node, and how
// many of them must say yes for a quorum (this node's own yes counted).
func (n *Node) otherVoters() (others []raft.Server, need int, err error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, 0, mapRaftErr(err)
	}
	voters := 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage != raft.Voter {
			continue
		}
		voters++
		if string(s.ID) != n.id {
			others = append(others, s)
		}
	}
	return others, voters/2 + 1 - (voters - len(others)), nil
}

// confirmedByAsker proves a read index without asking the voters when the
// asking voter's word and this leader's make a quorum (three voters): the
// asker was in term voterTerm after its reads began, this node leads in
// that term now, so neither voted for a newer leader before those reads
// and no newer leader can have committed a write this one lacks (see
// ReadIndexFor). The index is taken while this node leads in that term,
// as a round's is. ok is false when the round must run: no claim, another
// term, an asker that is not a voter of the configuration (or is this
// node), or more voters than the two make a quorum of.
func (n *Node) confirmedByAsker(asker string, voterTerm uint64) (index uint64, ok bool) {
	term := n.raft.CurrentTerm()
	if asker == "" || voterTerm != term || !n.IsLeader() || n.readyTerm.Load() != term {
		return 0, false
	}
	// The asker's word is one yes of the round's count: enough when one
	// other voter's would be. (This node is not among the others.)
	others, need, err := n.otherVoters()
	if err != nil || need > 1 || !slices.ContainsFunc(others, func(s raft.Server) bool { return string(s.ID) == asker }) {
		return 0, false
	}
	index = n.fsm.AppliedIndex()
	if n.raft.CurrentTerm() != term || !n.IsLeader() {
		return 0, false // deposed meanwhile: the round says so
	}
	return index, true
}

// VoterTerm is this node's Raft term while its configuration lists it as a
// voter: its word in a read-index request (forward.VoterTermParam). The
// term is read before the request is sent, after the reads it serves began.
func (n *Node) VoterTerm() (uint64, bool) {
	term := n.raft.CurrentTerm()
	self, _, ok := n.inConfiguration()
	return term, ok && self.Suffrage == raft.Voter
}

// maxLingering bounds, per voter, the checks left running after their
// round ended.
const maxLingering = 4

// voterCheck is one voter's check in a round. The round ends at a quorum,
// but a check still under way is left to finish (up to maxLingering a
// voter): net/http closes the connection of a request it cancels, and
// cancelling the slower voter's check every round made the next one dial,
// and with TLS handshake, again. Past the bound (a voter that does not
// answer) the check is cancelled, so that a dead voter does not gather a
// connection per round until the timeout.
type voterCheck struct {
	voter  string
	cancel context.CancelFunc
	state  atomic.Int32 // checkRunning, then checkLingering (counted), checkDone
}

const (
	checkRunning int32 = iota
	checkLingering
	checkDone
)

// roundOver leaves a running check to finish or cancels it. The voter's
// slot is taken before the check is marked lingering, so that finish gives
// back exactly the slots taken.
func (c *voterCheck) roundOver(n *Node) {
	v, ok := n.lingering.Load(c.voter)
	if !ok {
		v, _ = n.lingering.LoadOrStore(c.voter, new(atomic.Int32))
	}
	count := v.(*atomic.Int32)
	if count.Add(1) > maxLingering {
		count.Add(-1)
		c.cancel() // harmless if it has answered
		return
	}
	if !c.state.CompareAndSwap(checkRunning, checkLingering) {
		count.Add(-1) // answered already
	}
}

// finish ends a check, answered or not, and stops counting it as lingering.
func (c *voterCheck) finish(n *Node) {
	c.cancel()
	if c.state.Swap(checkDone) == checkLingering {
		if v, ok := n.lingering.Load(c.voter); ok {
			v.(*atomic.Int32).Add(-1)
		}
	}
}
