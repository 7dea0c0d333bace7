package client

import (
	"context"
	"net/http"

	"github.com/rosterhq/roster/api"
)

// The answer of GET /registry-svc/cluster/status: one node's view of Raft
// and gossip, with its fault tolerance and bootstrap state.
type (
	ClusterStatus   = api.ClusterStatus
	HealthStatus    = api.HealthStatus
	ServerStatus    = api.ServerStatus
	MemberStatus    = api.MemberStatus
	FaultTolerance  = api.FaultTolerance
	BootstrapStatus = api.BootstrapStatus
)

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

// Keyring reads every alive member's gossip keyring.
func (c *Client) Keyring(ctx context.Context) (*api.Keyring, error) {
	var k api.Keyring
	if _, err := c.Do(ctx, http.MethodGet, "/registry-svc/keyring", nil, &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// ChangeKeyring applies one rotation step on every alive member.
func (c *Client) ChangeKeyring(ctx context.Context, ch api.KeyringChange) (*api.Keyring, error) {
	var k api.Keyring
	if _, err := c.Do(ctx, http.MethodPut, "/registry-svc/keyring", ch, &k); err != nil {
		return nil, err
	}
	return &k, nil
}
