package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/gossip/resource"
)

// Event is one change in the change stream: of the catalog (Instance or
// Definition set, Index its Raft index) or of a node (Kind "node", Node
// set; Version is the answering node's view sequence at which the row
// changed, and Index the catalog index the stream had reached).
type Event struct {
	api.Event
	Version uint64         `json:"version,omitempty"`
	Node    *resource.Node `json:"node,omitempty"`
}

// EventNode is the kind of a node's change.
const EventNode = "node"

// Events follows the change stream (GET /registry-svc/events) after index
// (0: from now) with filters (kind: a comma-separated list of instance,
// definition and node, default the first two; slug; nodeUrl), calling fn with each
// change, until ctx ends, fn returns an error, or the node ends the
// stream. A reader the node's history no longer reaches gets an *api.Error
// with code gone: list again and follow from the list's index.
func (c *Client) Events(ctx context.Context, index uint64, filters url.Values, fn func(Event) error) error {
	q := url.Values{}
	for k, vs := range filters {
		q[k] = vs
	}
	if index > 0 {
		q.Set("index", strconv.FormatUint(index, 10))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/registry-svc/events?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/x-ndjson")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	// A stream lives as long as it is followed: no overall timeout (the
	// node sends a keep-alive every 15 s).
	hc := *c.hc
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var eb ErrorBody
		if json.NewDecoder(resp.Body).Decode(&eb) != nil || eb.Error == "" {
			eb = ErrorBody{Error: resp.Status, Code: CodeInternal}
		}
		return FromWire(resp.StatusCode, eb)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue // keep-alive
		}
		var probe struct {
			Code   api.Code `json:"code"`
			Oldest uint64   `json:"oldest"`
		}
		if json.Unmarshal(line, &probe) == nil && probe.Code == api.CodeGone {
			return &api.Error{Code: api.CodeGone, Field: "index", Message: fmt.Sprintf("this reader fell behind the node's history (it starts after index %d); list again", probe.Oldest)}
		}
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			return fmt.Errorf("unreadable change: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return err
	}
	return ctx.Err()
}
