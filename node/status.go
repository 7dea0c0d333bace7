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
	server := n.IsServer()
	st := api.ClusterStatus{
		NodeID: n.id, NodeURL: n.cfg.SelfURL, RaftState: n.raft.State().String(), Role: n.Role(),
		Upstream: n.Upstream(), TargetServers: n.cfg.Servers, ReplicaStreams: n.ReplicaStreams(),
		LeaderID: leaderID, LeaderURL: leaderURL,
		Term: n.raft.CurrentTerm(), CommitIndex: n.raft.CommitIndex(),
		AppliedIndex: n.AppliedIndex(), LastLogIndex: n.raft.LastIndex(),
		Bootstrap: n.boot.get(), DiskAlarm: n.disk.state(),
	}
	members := map[string]gossip.Member{}
	all := n.gossip.Members()
	for _, m := range all {
		members[m.Name] = m
		st.Members = append(st.Members, api.MemberStatus{
			ID: m.Name, Addr: m.Addr, URL: m.URL, State: string(m.State), Since: m.Since, Region: m.Region, AZ: m.AZ,
		})
	}
	if !server {
		st.RaftState = "None"
		// A client has no log: "commit" is what its upstream had applied
		// at the last heartbeat (readyz compares the two).
		st.LastLogIndex = 0
		st.Term, st.CommitIndex = n.replica.termAndApplied()
	}
	st.TargetVoters = n.targetVoters(members)
	cfg := raft.Configuration{Servers: n.servers()}
	isLeader := n.IsLeader()
	st.FaultTolerance = n.faultTolerance(cfg, members, isLeader)
	inSet := map[string]bool{}
	for _, s := range cfg.Servers {
		inSet[string(s.ID)] = true
	}
	st.Clients = []api.ClientStatus{}
	for _, m := range all {
		if !inSet[m.Name] {
			st.Clients = append(st.Clients, api.ClientStatus{ID: m.Name, URL: m.URL, Gossip: string(m.State),
				Upstream: m.Upstream, ServerMode: modeName(m.ServerMode)})
		}
	}
	for _, s := range cfg.Servers {
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
		case string(s.ID) == n.id && server:
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

// modeName is a gossiped server mode as --server spells it.
func modeName(gossiped string) string {
	if gossiped == "" {
		return "auto"
	}
	return gossiped
}
