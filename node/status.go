package node

import (
	"time"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/gossip"
)

// Status reports this node's view of Raft and gossip.
func (n *Node) Status() api.ClusterStatus {
	leaderID, leaderURL := n.Leader()
	st := api.ClusterStatus{
		NodeID: n.id, NodeURL: n.cfg.SelfURL, RaftState: n.raft.State().String(),
		LeaderID: leaderID, LeaderURL: leaderURL,
		Term: n.raft.CurrentTerm(), CommitIndex: n.raft.CommitIndex(),
		AppliedIndex: n.AppliedIndex(), LastLogIndex: n.raft.LastIndex(),
		Bootstrap: n.boot.get(), DiskAlarm: n.disk.state(),
	}
	members := map[string]gossip.Member{}
	for _, m := range n.gossip.Members() {
		members[m.Name] = m
		st.Members = append(st.Members, api.MemberStatus{
			ID: m.Name, Addr: m.Addr, URL: m.URL, State: string(m.State), Since: m.Since, Region: m.Region, AZ: m.AZ,
		})
	}
	st.TargetVoters = n.targetVoters(members)
	f := n.raft.GetConfiguration()
	isLeader := n.IsLeader()
	st.FaultTolerance = n.faultTolerance(f.Configuration(), members, isLeader)
	if f.Error() != nil {
		return st
	}
	for _, s := range f.Configuration().Servers {
		m := members[string(s.ID)]
		ss := api.ServerStatus{
			ID: string(s.ID), Address: string(s.Address), Suffrage: "nonvoter",
			Leader: string(s.ID) == leaderID, URL: m.URL, Region: m.Region, AZ: m.AZ, Gossip: string(m.State),
			LastContactMs: -1,
		}
		if s.Suffrage == raft.Voter {
			ss.Suffrage = "voter"
			st.Voters++
		}
		switch {
		case string(s.ID) == n.id && isLeader:
			ss.LastContactMs = 0
		case string(s.ID) == n.id:
			if lc := n.LastContact(); lc >= 0 {
				ss.LastContactMs = lc.Milliseconds()
			}
		case isLeader:
			ss.LastContactMs = 0
			if t, failed := n.contacts.lastContact(s.ID); failed {
				ss.LastContactMs = time.Since(t).Milliseconds()
			}
		}
		st.Servers = append(st.Servers, ss)
	}
	return st
}
