// Package client is the typed Go client of Roster's HTTP API. The CLI, the
// test cluster and users' programs talk to nodes only through it.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/internal/httpbody"
)

// Client talks to one node.
type Client struct {
	base string
	hc   *http.Client
	// Token is sent as "Authorization: Bearer" when set.
	Token string
	// answerLimit bounds an answer read into memory; 0 is maxAnswer.
	answerLimit int64
}

// maxAnswer is the most of an answer the client reads: a full list of a
// catalog at the default quota (a million instances) is about 400 MB.
const maxAnswer = 1 << 30

// New returns a client of the node at base (e.g. http://127.0.0.1:11337).
func New(base string) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("node address %q: want http(s)://host:port", base)
	}
	return &Client{base: strings.TrimSuffix(base, "/"), hc: &http.Client{Timeout: 70 * time.Second}}, nil
}

// UseTLS sets how the client verifies the node (the cluster's CA) and the
// certificate it presents, if any; nil keeps the system's defaults.
func (c *Client) UseTLS(cfg *tls.Config) *Client {
	if cfg != nil {
		c.hc.Transport = &http.Transport{TLSClientConfig: cfg, Proxy: http.ProxyFromEnvironment,
			MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second}
	}
	return c
}

// With is a client of another node with this one's TLS settings and token.
func (c *Client) With(base string) (*Client, error) {
	o, err := New(base)
	if err != nil {
		return nil, err
	}
	o.hc.Transport, o.Token = c.hc.Transport, c.Token
	return o, nil
}

// Base is the node address this client talks to.
func (c *Client) Base() string { return c.base }

// Meta is what a node says about the answer besides the body.
type Meta struct {
	Index       uint64
	KnownLeader bool
	LastContact time.Duration
}

// Do sends a request with an optional JSON body and decodes a JSON answer
// into out (when non-nil). A []byte body is sent as it is (JSON), an
// NDJSON body as it is with its own media type (snapshots), and a *[]byte
// out takes the answer as it is. Errors from the node come back as
// *APIError.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) (Meta, error) {
	var rd io.Reader
	contentType := "application/json"
	if raw, ok := body.([]byte); ok {
		rd = bytes.NewReader(raw)
	} else if raw, ok := body.(NDJSON); ok {
		rd, contentType = bytes.NewReader(raw), "application/x-ndjson"
	} else if raw, ok := body.(Octets); ok {
		rd, contentType = bytes.NewReader(raw), "application/octet-stream"
	} else if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return Meta{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return Meta{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return Meta{}, err
	}
	defer resp.Body.Close()
	meta := readMeta(resp.Header)
	limit := c.answerLimit
	if limit == 0 {
		limit = maxAnswer
	}
	// Read into a buffer of the answer's length when it is given (a list
	// of a large catalog is hundreds of MB; a growing buffer peaks at twice).
	raw, err := httpbody.Read(resp.Body, resp.ContentLength, limit)
	if errors.Is(err, httpbody.ErrTooLarge) {
		return meta, fmt.Errorf("the answer of %s %s is larger than %d MiB, the most this client reads; narrow it with a filter",
			method, path, limit>>20)
	}
	if err != nil {
		return meta, fmt.Errorf("read answer of %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		var eb ErrorBody
		if json.Unmarshal(raw, &eb) != nil || eb.Error == "" {
			eb = ErrorBody{Error: strings.TrimSpace(string(raw)), Code: CodeInternal}
			if eb.Error == "" {
				eb.Error = resp.Status
			}
		}
		return meta, FromWire(resp.StatusCode, eb)
	}
	if whole, ok := out.(*[]byte); ok {
		*whole = raw
		return meta, nil
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return meta, fmt.Errorf("decode answer of %s %s: %w", method, path, err)
		}
	}
	return meta, nil
}

func readMeta(h http.Header) Meta {
	var m Meta
	m.Index, _ = strconv.ParseUint(h.Get("X-Registry-Index"), 10, 64)
	m.KnownLeader = h.Get("X-Registry-Known-Leader") == "true"
	if ms, err := strconv.ParseInt(h.Get("X-Registry-Last-Contact"), 10, 64); err == nil {
		m.LastContact = time.Duration(ms) * time.Millisecond
	}
	return m
}

// Request bodies of the API (package api holds them).
type (
	RegisterRequest = api.RegisterRequest
	StatusRequest   = api.StatusRequest
	StatusBatch     = api.StatusBatch
)

// SetInstanceStatus sets an instance's status and returns the stored row.
func (c *Client) SetInstanceStatus(ctx context.Context, id string, status api.Status, reason string) (*api.Instance, error) {
	var out struct {
		Instance *api.Instance `json:"instance"`
	}
	_, err := c.Do(ctx, http.MethodPut, "/registry-svc/instance/"+url.PathEscape(id)+"/status",
		StatusRequest{Status: status, Reason: reason}, &out)
	return out.Instance, err
}

// HeartbeatAnswer says which node took a ttl heartbeat.
type HeartbeatAnswer struct {
	ID        string `json:"id"`
	CheckedBy string `json:"checkedBy"`
	TTL       string `json:"ttl"`
}

// Heartbeat tells the cluster that a ttl-checked instance is alive; the
// node that checks it keeps the heartbeat.
func (c *Client) Heartbeat(ctx context.Context, id string) (*HeartbeatAnswer, error) {
	var a HeartbeatAnswer
	_, err := c.Do(ctx, http.MethodPut, "/registry-svc/instance/"+url.PathEscape(id)+"/heartbeat", nil, &a)
	return &a, err
}

// RegisterInstance upserts an instance and returns the stored row.
func (c *Client) RegisterInstance(ctx context.Context, r RegisterRequest) (*api.Instance, error) {
	var out struct {
		Instance *api.Instance `json:"instance"`
	}
	_, err := c.Do(ctx, http.MethodPut, "/registry-svc/instance", r, &out)
	return out.Instance, err
}

// ListOptions choose how a list is read.
type ListOptions struct {
	// Consistent is a linearizable read: a follower asks the leader for a
	// quorum-checked read index and answers once it has applied that far.
	Consistent bool
	// Index and Wait make a blocking read: it returns when the data's index
	// passes Index, or after Wait. Wait is ignored while Index is 0 (the
	// first read of a watch returns at once).
	Index uint64
	Wait  time.Duration
}

func (o ListOptions) encode(q url.Values) {
	if o.Consistent {
		q.Set("consistent", "true")
	}
	if o.Index > 0 {
		q.Set("index", strconv.FormatUint(o.Index, 10))
	}
	if o.Index > 0 && o.Wait > 0 {
		q.Set("wait", o.Wait.String())
	}
}

// ListInstances lists instances matching f.
func (c *Client) ListInstances(ctx context.Context, f api.InstanceFilter, o ListOptions) ([]*api.Instance, Meta, error) {
	q := url.Values{}
	for k, v := range map[string]string{
		"id": f.ID, "slug": f.Slug, "host": f.Host, "ip": f.IP, "deploymentId": f.DeploymentID,
		"nodeUrl": f.NodeURL, "path": f.Path, "scheme": f.Scheme, "tag": f.Tag, "status": f.Status,
	} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for _, t := range f.Tags {
		q.Add("tag", t)
	}
	for k, v := range f.Meta {
		q.Set("meta."+k, v)
	}
	o.encode(q)
	var out struct {
		Instances []*api.Instance `json:"instances"`
	}
	m, err := c.Do(ctx, http.MethodGet, "/registry-svc/instances?"+q.Encode(), nil, &out)
	return out.Instances, m, err
}

// ListServices lists one row per slug: instances by status, tags, nodes.
func (c *Client) ListServices(ctx context.Context, o ListOptions) ([]*api.Service, Meta, error) {
	q := url.Values{}
	o.encode(q)
	var out struct {
		Services []*api.Service `json:"services"`
	}
	m, err := c.Do(ctx, http.MethodGet, "/registry-svc/services?"+q.Encode(), nil, &out)
	return out.Services, m, err
}

// DeleteInstance removes an instance by ID.
func (c *Client) DeleteInstance(ctx context.Context, id string) error {
	_, err := c.Do(ctx, http.MethodDelete, "/registry-svc/instance/"+url.PathEscape(id), nil, nil)
	return err
}

// SaveDefinition upserts a definition.
func (c *Client) SaveDefinition(ctx context.Context, d *api.Definition) (*api.Definition, error) {
	var out struct {
		Definition *api.Definition `json:"definition"`
	}
	_, err := c.Do(ctx, http.MethodPut, "/registry-svc/definition", map[string]any{"definition": d}, &out)
	return out.Definition, err
}

// ListDefinitions lists every definition.
func (c *Client) ListDefinitions(ctx context.Context, o ListOptions) ([]*api.Definition, Meta, error) {
	q := url.Values{}
	o.encode(q)
	var out struct {
		Definitions []*api.Definition `json:"definitions"`
	}
	m, err := c.Do(ctx, http.MethodGet, "/registry-svc/definitions?"+q.Encode(), nil, &out)
	return out.Definitions, m, err
}

// DeleteDefinition removes a definition by ID.
func (c *Client) DeleteDefinition(ctx context.Context, id string) error {
	_, err := c.Do(ctx, http.MethodDelete, "/registry-svc/definition/"+url.PathEscape(id), nil, nil)
	return err
}
