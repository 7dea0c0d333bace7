package node

import (
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/gossip"
)

// unhealthyContact is how long a leader may miss a voter's heartbeat
// answers before it counts that voter as unhealthy.
const unhealthyContact = 2 * time.Second

// faultTolerance works out FaultTolerance from the Raft configuration, the
// gossip view and, on the leader, when followers last answered.
func (n *Node) faultTolerance(cfg raft.Configuration, members map[string]gossip.Member, isLeader bool) api.FaultTolerance {
	ft := api.FaultTolerance{}
	ft.Wanted = (n.targetVoters(members) - 1) / 2
	var waiting []string
	for _, s := range cfg.Servers {
		id := string(s.ID)
		m, seen := members[id]
		if s.Suffrage != raft.Voter {
			if seen && m.State == gossip.StateAlive {
				waiting = append(waiting, id)
			}
			continue
		}
		ft.Voters++
		if why := n.voterProblem(id, m, seen, isLeader); why != "" {
			ft.Reasons = append(ft.Reasons, "voter "+id+" "+why)
			continue
		}
		ft.HealthyVoters++
	}
	if ft.Voters == 0 {
		st := n.boot.get()
		ft.Degraded = true
		ft.Reasons = append(ft.Reasons, "no Raft configuration yet: bootstrap "+st.State+": "+st.Reason)
		return ft
	}
	ft.Quorum = ft.Voters/2 + 1
	ft.Tolerance = max(ft.HealthyVoters-ft.Quorum, 0)
	if ft.HealthyVoters < ft.Quorum {
		ft.Reasons = append(ft.Reasons, fmt.Sprintf("quorum lost: %d of %d voters healthy, %d needed", ft.HealthyVoters, ft.Voters, ft.Quorum))
	}
	if ft.Voters < n.cfg.Voters && len(waiting) > 0 {
		slices.Sort(waiting)
		ft.Reasons = append(ft.Reasons, fmt.Sprintf("%d of %d voters; non-voters awaiting promotion: %v", ft.Voters, n.cfg.Voters, waiting))
	}
	ft.Degraded = ft.Tolerance < ft.Wanted || ft.HealthyVoters < ft.Quorum
	if !ft.Degraded {
		ft.Reasons = nil
	} else if len(ft.Reasons) == 0 {
		ft.Reasons = append(ft.Reasons, fmt.Sprintf("%d voters tolerate %d failures, %d wanted", ft.Voters, ft.Tolerance, ft.Wanted))
	}
	return ft
}

// targetVoters is how many voters --voters asks for among the servers that
// exist (alive, suspect or dead; not left): a lone agent wants one.
func (n *Node) targetVoters(members map[string]gossip.Member) int {
	known := 0
	for _, m := range members {
		if m.RaftAddr != "" && m.State != gossip.StateLeft {
			known++
		}
	}
	return min(n.cfg.Voters, max(known, 1))
}

// voterProblem says why a voter does not count as healthy, or "".
func (n *Node) voterProblem(id string, m gossip.Member, seen, isLeader bool) string {
	if id == n.id {
		return ""
	}
	switch {
	case !seen:
		return "is unknown to gossip"
	case m.State != gossip.StateAlive:
		return "is " + string(m.State) + " (gossip)"
	}
	if isLeader {
		if t, failed := n.contacts.lastContact(raft.ServerID(id)); failed && time.Since(t) > unhealthyContact {
			return fmt.Sprintf("has not answered the leader for %s", time.Since(t).Round(100*time.Millisecond))
		}
	}
	return ""
}
