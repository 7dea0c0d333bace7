package forward

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/internal/httpbody"
)

// maxAnswer bounds an answer read from a peer.
const maxAnswer = 64 << 20

// Request is one call to a peer.
type Request struct {
	Method string
	// Path is the request URI: path and query.
	Path string
	// Body is sent as JSON when not nil.
	Body []byte
	// Auth is the client's Authorization header, passed on.
	Auth string
	// Expect, when set, is the node the call is meant for (ExpectHeader):
	// the call goes on that node's own client (peerClient).
	Expect string
}

// Response is a peer's answer, read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Err is the error an answer carries: nil for 2xx, the code's error for an
// error body (api.FromBody), else a plain error naming the status.
func (r *Response) Err() error {
	if r.Status < 300 {
		return nil
	}
	var eb api.ErrorBody
	if json.Unmarshal(r.Body, &eb) == nil {
		if err := api.FromBody(eb); err != nil {
			return err
		}
	}
	return fmt.Errorf("peer answered HTTP %d: %s", r.Status, bytes.TrimSpace(r.Body))
}

// Do is the one typed peer call: it sends r to the node at baseURL marked as
// forwarded by this node, and reads the answer (at most 64 MiB). A
// transport error is returned as is (IsDialError tells whether anything
// was sent).
func (f *Forwarder) Do(ctx context.Context, baseURL string, r Request) (*Response, error) {
	hc := f.hc
	if r.Expect != "" {
		hc = f.peerClient(r.Expect)
	}
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, strings.TrimSuffix(baseURL, "/")+r.Path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set(Header, f.n.ID())
	if r.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.Auth != "" {
		req.Header.Set("Authorization", r.Auth)
	}
	if r.Expect != "" {
		req.Header.Set(ExpectHeader, r.Expect)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := httpbody.Read(resp.Body, resp.ContentLength, maxAnswer)
	if err != nil {
		return nil, fmt.Errorf("the answer of %s %s: %w", r.Method, r.Path, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: raw}, nil
}
