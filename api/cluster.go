package api

import "time"

// ClusterStatus is one node's view of the cluster.
type ClusterStatus struct {
	NodeID  string `json:"nodeId"`
	NodeURL string `json:"nodeUrl"`
	// Role is the answering node's: leader, voter, nonvoter (a spare
	// server) or client (a client agent: no Raft log, a replica streamed
	// from Upstream).
	Role string `json:"role"`
	// Upstream is the server a client agent streams its catalog from.
	Upstream string `json:"upstream,omitempty"`
	// RaftState is Raft's state on a server, "None" on a client agent.
	RaftState   string `json:"raftState"`
	LeaderID    string `json:"leaderId"`
	LeaderURL   string `json:"leaderUrl"`
	Term        uint64 `json:"term"`
	CommitIndex uint64 `json:"commitIndex"`
	// AppliedIndex is the last log index the catalog (the FSM) has applied,
	// the X-Registry-Index of this node's reads. Raft's own entries
	// (configurations, a new leader's no-op) do not reach the catalog, so
	// it can stay below CommitIndex while nothing lags.
	AppliedIndex uint64 `json:"appliedIndex"`
	LastLogIndex uint64 `json:"lastLogIndex"`
	Voters       int    `json:"voters"`
	// TargetVoters is --voters, capped by the servers that exist.
	TargetVoters int `json:"targetVoters"`
	// TargetServers is --servers: the servers (voters and spares) the
	// leader keeps; every other node is a client agent.
	TargetServers int            `json:"targetServers"`
	Servers       []ServerStatus `json:"servers"`
	// Clients are the client agents gossip knows, with the server each
	// streams from.
	Clients []ClientStatus `json:"clients"`
	// ReplicaStreams is, on a server, how many client agents stream their
	// catalog from it now.
	ReplicaStreams int            `json:"replicaStreams"`
	Members        []MemberStatus `json:"members"`
	// Health is this node's health checker: what it checks and whether
	// automatic deregistration is paused (set by the HTTP layer).
	Health *HealthStatus `json:"health,omitempty"`
	// FaultTolerance is how many voters may fail with writes still
	// working, and whether that is below what --voters asks for.
	FaultTolerance FaultTolerance `json:"faultTolerance"`
	// Bootstrap is how this node came into its cluster.
	Bootstrap BootstrapStatus `json:"bootstrap"`
	// Catalog is what this node's replica holds, against the quota this
	// node stamps into writes (set by the HTTP layer).
	Catalog *CatalogUsage `json:"catalog,omitempty"`
	// DiskAlarm is set while this node refuses writes for lack of disk.
	DiskAlarm *DiskAlarm `json:"diskAlarm,omitempty"`
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

// ClientStatus is one client agent.
type ClientStatus struct {
	ID  string `json:"id"`
	URL string `json:"url,omitempty"`
	// Gossip is alive, dead or left.
	Gossip string `json:"gossip"`
	// Upstream is the server it streams from ("" while it has none).
	Upstream string `json:"upstream,omitempty"`
	// ServerMode is its --server setting: auto, always or never.
	ServerMode string `json:"serverMode"`
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

// FaultTolerance is how many voters the cluster can lose and still write,
// as this node sees it, beside what --voters asks for.
type FaultTolerance struct {
	// Tolerance is how many more voters may fail with a quorum left:
	// healthy voters minus the quorum of the configuration (0 when the
	// quorum is already gone).
	Tolerance int `json:"tolerance"`
	// Wanted is the tolerance --voters asks for, among the servers that
	// exist: (min(voters, known servers) - 1) / 2.
	Wanted        int `json:"wanted"`
	Voters        int `json:"voters"`
	HealthyVoters int `json:"healthyVoters"`
	Quorum        int `json:"quorum"`
	// Degraded is true while Tolerance is below Wanted: a voter is dead or
	// unreachable, its replacement not yet promoted, or there is no
	// configuration yet. Reasons say which.
	Degraded bool     `json:"degraded"`
	Reasons  []string `json:"reasons,omitempty"`
}

// Bootstrap states, as /registry-svc/cluster/status reports them.
const (
	BootstrapWaiting      = "waiting"       // for the expected members to be alive
	BootstrapRefused      = "refused"       // members disagree on the expectation
	BootstrapJoining      = "joining"       // a peer is already in a cluster: wait to be added
	BootstrapDone         = "bootstrapped"  // this node bootstrapped the first configuration
	BootstrapJoined       = "joined"        // this node was given a configuration by a leader
	BootstrapExistingData = "existing-data" // state on disk: never bootstraps again
)

// BootstrapStatus is how this node came (or is coming) into a cluster.
type BootstrapStatus struct {
	// Expect is --bootstrap-expect (0: this node only joins).
	Expect int    `json:"expect"`
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
}
