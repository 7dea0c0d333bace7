package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/rosterhq/roster/api"
)

// Octets is a request body of bytes, sent as application/octet-stream (a
// KV value).
type Octets []byte

// kvPath is the route of a key: its segments escaped, its slashes kept.
func kvPath(key string, q url.Values) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	p := "/registry-svc/kv/" + strings.Join(segs, "/")
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return p
}

// KVGet reads one key; an absent key is an *APIError with code not_found.
func (c *Client) KVGet(ctx context.Context, key string, o ListOptions) (*api.KVEntry, Meta, error) {
	q := url.Values{}
	o.encode(q)
	var e api.KVEntry
	m, err := c.Do(ctx, http.MethodGet, kvPath(key, q), nil, &e)
	return &e, m, err
}

// KVList reads every entry under prefix ("" for the whole tree).
func (c *Client) KVList(ctx context.Context, prefix string, o ListOptions) ([]*api.KVEntry, Meta, error) {
	q := url.Values{"recurse": {"true"}}
	o.encode(q)
	var out struct {
		Entries []*api.KVEntry `json:"entries"`
	}
	m, err := c.Do(ctx, http.MethodGet, kvPath(prefix, q), nil, &out)
	return out.Entries, m, err
}

// KVKeys lists the names of the keys under prefix.
func (c *Client) KVKeys(ctx context.Context, prefix string, o ListOptions) ([]string, Meta, error) {
	q := url.Values{"keys": {"true"}}
	o.encode(q)
	var out struct {
		Keys []string `json:"keys"`
	}
	m, err := c.Do(ctx, http.MethodGet, kvPath(prefix, q), nil, &out)
	return out.Keys, m, err
}

// KVPut sets a key. With cas, only if the key is at that modify index (0:
// only if absent); a mismatch is an *APIError with code conflict.
func (c *Client) KVPut(ctx context.Context, key string, value []byte, cas *uint64) (*api.KVEntry, error) {
	q := url.Values{}
	if cas != nil {
		q.Set("cas", strconv.FormatUint(*cas, 10))
	}
	var e api.KVEntry
	_, err := c.Do(ctx, http.MethodPut, kvPath(key, q), Octets(value), &e)
	return &e, err
}

// KVDelete removes a key (cas as KVPut's), or with recurse every key under
// a prefix, and says how many went.
func (c *Client) KVDelete(ctx context.Context, key string, recurse bool, cas *uint64) (int, error) {
	q := url.Values{}
	if recurse {
		q.Set("recurse", "true")
	}
	if cas != nil {
		q.Set("cas", strconv.FormatUint(*cas, 10))
	}
	var out struct {
		Deleted int `json:"deleted"`
	}
	_, err := c.Do(ctx, http.MethodDelete, kvPath(key, q), nil, &out)
	return out.Deleted, err
}
