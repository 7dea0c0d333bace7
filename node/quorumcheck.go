package node

import (
	"context"
	"errors"
	"fmt"
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

// FollowerCheck asks the server with this HTTP URL whether it follows this
// node in term; nil is yes. The agent supplies it (node-to-node HTTP). An
// error with code not_found is a voter of an older build, without the
// question: during a rolling upgrade the round falls back to a barrier.
type FollowerCheck func(ctx context.Context, url string, term uint64) error

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
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return 0, mapRaftErr(err)
	}
	var others []raft.Server
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
	need := voters/2 + 1 - (voters - len(others)) // this leader is one yes
	if need <= 0 {
		return index, nil
	}
	ctx, cancel := context.WithTimeout(n.ctx, quorumCheckTimeout)
	defer cancel()
	answers := make(chan error, len(others))
	for _, s := range others {
		go func() {
			m, ok := n.gossip.Member(string(s.ID))
			if !ok || m.URL == "" {
				answers <- fmt.Errorf("no address for %s", s.ID)
				return
			}
			answers <- check(ctx, m.URL, term)
		}()
	}
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
