package forward

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ReplicaPath streams a server's committed log to a client agent (served
// by the HTTP layer with node.ServeReplica).
const ReplicaPath = "/registry-svc/internal/replica"

// replicaHeaderTimeout bounds the wait for a server's first answer; the
// stream itself lasts as long as the client follows it.
const replicaHeaderTimeout = 15 * time.Second

// OpenReplica opens a client agent's replica stream from the server at
// baseURL, from the entry after index after, on the same mutual-TLS peer
// transport as every other call of the road. A refusal comes back as its
// typed error (catching_up, not_leader for a node that is no server).
func (f *Forwarder) OpenReplica(ctx context.Context, serverID, baseURL string, after uint64) (io.ReadCloser, error) {
	sctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(sctx, http.MethodGet,
		strings.TrimSuffix(baseURL, "/")+ReplicaPath+"?after="+strconv.FormatUint(after, 10), nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set(Header, f.n.ID())
	req.Header.Set(ExpectHeader, serverID)
	// The road's client has a whole-request timeout: a stream takes the
	// same transport without it, and a timer for the headers only.
	headers := time.AfterFunc(replicaHeaderTimeout, cancel)
	resp, err := (&http.Client{Transport: f.peerClient(serverID).Transport}).Do(req)
	if !headers.Stop() {
		err = fmt.Errorf("no answer within %v", replicaHeaderTimeout)
	}
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		if err := (&Response{Status: resp.StatusCode, Header: resp.Header, Body: raw}).Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("replica stream: HTTP %d", resp.StatusCode)
	}
	return stream{resp.Body, cancel}, nil
}

// stream is a response body whose Close also ends its request's context.
type stream struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (s stream) Close() error {
	err := s.ReadCloser.Close()
	s.cancel()
	return err
}
