package node

import (
	"time"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/gossip"
)

// ClusterStatus is one node's view of the cluster.
type ClusterStatus struct {
	NodeID       string `json:"nodeId"`
	NodeURL      string `json:"nodeUrl"`
	RaftState    string `json:"raftState"`
	LeaderID     string `json:"leaderId"`
	LeaderURL    string `json:"leaderUrl"`
	Term         uint64 `json:"term"`
	CommitIndex  uint64 `json:"commitIndex"`
	AppliedIndex uint64 `json:"appliedIndex"`
	LastLogIndex uint64 `json:"lastLogIndex"`
	Voters       int    `json:"voters"`
	// TargetVoters is --voters, capped by the servers that exist.
	TargetVoters int            `json:"targetVoters"`
	Servers      []ServerStatus `json:"servers"`
	Members      []MemberStatus `json:"members"`
	// Health is this node's health checker: what it checks and whether
	// automatic deregistration is paused (set by the HTTP layer).
	Health *HealthStatus `json:"health,omitempty"`
	// FaultTolerance is how many voters may fail with writes still
	// working, and whether that is below what --voters asks for.
	FaultTolerance FaultTolerance `json:"faultTolerance"`
	// Bootstrap is how this node came into its cluster.
	Bootstrap BootstrapStatus `json:"bootstrap"`
}

// HealthStatus summarises one node's health checker.
type HealthStatus struct {
	// Checking is how many instances this node checks.
	Checking int `json:"checking"`
	// Instances and Unhealthy count the whole catalog as this node sees it.
	Instances int `json:"instances"`
	Unhealthy int `json:"unhealthy"`
	// SelfPreservation is true while automatic deregistration is paused
	// because at least SelfPreservationThreshold of the instances (and at
	// least three) are Unhealthy.
	SelfPreservation          bool    `json:"selfPreservation"`
	SelfPreservationThreshold float64 `json:"selfPreservationThreshold"`
}

// ServerStatus is one server of the Raft configuration.
type ServerStatus struct {
	ID       string `json:"id"`
	Address  string `json:"address"`
	Suffrage string `json:"suffrage"` // voter or nonvoter
	Leader   bool   `json:"leader"`
	URL      string `json:"url,omitempty"`
	Region   string `json:"region,omitempty"`
	AZ       string `json:"availabilityZone,omitempty"`
	Gossip   string `json:"gossip,omitempty"` // alive, dead, left, or "" when unknown
	// LastContactMs is milliseconds since the leader last heard from the
	// server: 0 for the leader and for followers in contact, -1 when the
	// answering node is not the leader and cannot tell.
	LastContactMs int64 `json:"lastContactMs"`
}

// MemberStatus is one gossip member.
type MemberStatus struct {
	ID     string    `json:"id"`
	Addr   string    `json:"addr"`
	URL    string    `json:"url"`
	State  string    `json:"state"`
	Since  time.Time `json:"since"`
	Region string    `json:"region,omitempty"`
	AZ     string    `json:"availabilityZone,omitempty"`
}

// Status reports this node's view of Raft and gossip.
func (n *Node) Status() ClusterStatus {
	leaderID, leaderURL := n.Leader()
	st := ClusterStatus{
		NodeID: n.id, NodeURL: n.cfg.SelfURL, RaftState: n.raft.State().String(),
		LeaderID: leaderID, LeaderURL: leaderURL,
		Term: n.raft.CurrentTerm(), CommitIndex: n.raft.CommitIndex(),
		AppliedIndex: n.raft.AppliedIndex(), LastLogIndex: n.raft.LastIndex(),
		Bootstrap: n.boot.get(),
	}
	members := map[string]gossip.Member{}
	for _, m := range n.gossip.Members() {
		members[m.Name] = m
		st.Members = append(st.Members, MemberStatus{
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
		ss := ServerStatus{
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
