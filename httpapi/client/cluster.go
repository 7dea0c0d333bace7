package client

import (
	"context"
	"net/http"
	"time"
)

// ClusterStatus is the answer of GET /registry-svc/cluster/status: one
// node's view of Raft and gossip. It mirrors node.ClusterStatus field for
// field (a test in httpapi keeps them in step) so that this package does
// not pull the engine into users' programs.
type ClusterStatus struct {
	NodeID       string         `json:"nodeId"`
	NodeURL      string         `json:"nodeUrl"`
	RaftState    string         `json:"raftState"`
	LeaderID     string         `json:"leaderId"`
	LeaderURL    string         `json:"leaderUrl"`
	Term         uint64         `json:"term"`
	CommitIndex  uint64         `json:"commitIndex"`
	AppliedIndex uint64         `json:"appliedIndex"`
	LastLogIndex uint64         `json:"lastLogIndex"`
	Voters       int            `json:"voters"`
	TargetVoters int            `json:"targetVoters"`
	Servers      []ServerStatus `json:"servers"`
	Members      []MemberStatus `json:"members"`
	Health       *HealthStatus  `json:"health,omitempty"`
	// FaultTolerance: how many voters may fail with writes still working.
	FaultTolerance FaultTolerance  `json:"faultTolerance"`
	Bootstrap      BootstrapStatus `json:"bootstrap"`
}

// FaultTolerance is how many voters the cluster can lose and still write,
// and whether that is below what --voters asks for (Degraded, with
// Reasons).
type FaultTolerance struct {
	Tolerance     int      `json:"tolerance"`
	Wanted        int      `json:"wanted"`
	Voters        int      `json:"voters"`
	HealthyVoters int      `json:"healthyVoters"`
	Quorum        int      `json:"quorum"`
	Degraded      bool     `json:"degraded"`
	Reasons       []string `json:"reasons,omitempty"`
}

// BootstrapStatus is how the answering node came into its cluster: state
// waiting, refused, joining, bootstrapped, joined or existing-data.
type BootstrapStatus struct {
	Expect int    `json:"expect"`
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
}

// HealthStatus summarises one node's health checker.
type HealthStatus struct {
	Checking                  int     `json:"checking"`
	Instances                 int     `json:"instances"`
	Unhealthy                 int     `json:"unhealthy"`
	SelfPreservation          bool    `json:"selfPreservation"`
	SelfPreservationThreshold float64 `json:"selfPreservationThreshold"`
}

// ServerStatus is one server of the Raft configuration.
type ServerStatus struct {
	ID            string `json:"id"`
	Address       string `json:"address"`
	Suffrage      string `json:"suffrage"`
	Leader        bool   `json:"leader"`
	URL           string `json:"url,omitempty"`
	Region        string `json:"region,omitempty"`
	AZ            string `json:"availabilityZone,omitempty"`
	Gossip        string `json:"gossip,omitempty"`
	LastContactMs int64  `json:"lastContactMs"`
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

// ClusterStatus asks the node for its view of the cluster.
func (c *Client) ClusterStatus(ctx context.Context) (*ClusterStatus, error) {
	var st ClusterStatus
	if _, err := c.Do(ctx, http.MethodGet, "/registry-svc/cluster/status", nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Leave asks the node to leave the cluster for good and stop.
func (c *Client) Leave(ctx context.Context) error {
	_, err := c.Do(ctx, http.MethodPut, "/registry-svc/agent/leave", nil, nil)
	return err
}
