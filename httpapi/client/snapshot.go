package client

import (
	"context"
	"encoding/json"
	"net/http"
)

// SaveSnapshot returns a backup of the catalog (GET /registry-svc/snapshot):
// every write acknowledged before the call is in it.
func (c *Client) SaveSnapshot(ctx context.Context) ([]byte, error) {
	var b []byte
	_, err := c.Do(ctx, http.MethodGet, "/registry-svc/snapshot", nil, &b)
	return b, err
}

// RestoreSnapshot replaces the catalog with a backup's and returns the
// node's answer: what was restored, from where, and the index.
func (c *Client) RestoreSnapshot(ctx context.Context, backup []byte) (json.RawMessage, error) {
	var out json.RawMessage
	_, err := c.Do(ctx, http.MethodPut, "/registry-svc/snapshot", NDJSON(backup), &out)
	return out, err
}

// NDJSON is a request body of JSON lines, sent as application/x-ndjson (a
// backup file).
type NDJSON []byte
