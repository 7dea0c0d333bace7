package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/rosterhq/roster/gossip/resource"
)

// ListNodesRequest is the body of POST /registry-svc/nodes. Every filter is
// optional; an empty request lists every node.
type ListNodesRequest struct {
	// IDs keeps nodes with one of these IDs (the seed's only filter).
	IDs              []string `json:"ids,omitempty"`
	Region           string   `json:"region,omitempty"`
	AvailabilityZone string   `json:"availabilityZone,omitempty"`
	// HasGPU keeps nodes with (true) or without (false) GPUs.
	HasGPU *bool `json:"hasGpu,omitempty"`
	// MinFreeGPUMemoryMiB keeps nodes with at least one GPU that has this
	// much memory free.
	MinFreeGPUMemoryMiB *int `json:"minFreeGpuMemoryMiB,omitempty"`
}

// ListNodes lists nodes as the answering node's gossip sees them.
func (c *Client) ListNodes(ctx context.Context, req ListNodesRequest) ([]resource.Node, error) {
	nodes, _, err := c.WatchNodes(ctx, req, 0, 0)
	return nodes, err
}

// WatchNodes is ListNodes as a blocking read: with index > 0 it returns
// when the answering node's view of the nodes moves past index, or after
// wait. Meta.Index is that node's view sequence (not the catalog's Raft
// index): follow one node with it; another node numbers its own view.
func (c *Client) WatchNodes(ctx context.Context, req ListNodesRequest, index uint64, wait time.Duration) ([]resource.Node, Meta, error) {
	var out struct {
		Nodes []resource.Node `json:"nodes"`
	}
	q := url.Values{}
	ListOptions{Index: index, Wait: wait}.encode(q)
	path := "/registry-svc/nodes"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	m, err := c.Do(ctx, http.MethodPost, path, req, &out)
	return out.Nodes, m, err
}

// SelfNode is the answering node's own row.
func (c *Client) SelfNode(ctx context.Context) (*resource.Node, error) {
	var out struct {
		Node resource.Node `json:"node"`
	}
	if _, err := c.Do(ctx, http.MethodGet, "/registry-svc/node/self", nil, &out); err != nil {
		return nil, err
	}
	return &out.Node, nil
}

// DeleteNode removes a dead or departed node (by URL, or by ID) from the
// cluster. force also removes a live node, which is first asked to leave.
func (c *Client) DeleteNode(ctx context.Context, nodeURL string, force bool) error {
	p := "/registry-svc/node/" + url.PathEscape(nodeURL)
	if force {
		p += "?force=true"
	}
	_, err := c.Do(ctx, http.MethodDelete, p, nil, nil)
	return err
}
