package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/certs"
	"github.com/rosterhq/roster/forward"
	"github.com/rosterhq/roster/gossip/resource"
)

// keyringPath is each node's own keyring, read and changed by the node
// that fans a keyring request out.
const keyringPath = "/registry-svc/internal/keyring"

// gateForwarded: with TLS, a request that says it was forwarded by node X
// (and is therefore answered as one hop between nodes, e.g. a heartbeat
// handed to its owner) must come over a connection with X's certificate.
//
// A call meant for another node (forward.ExpectHeader) is refused with 409
// rather than answered here: the caller reached this node at an address it
// holds for that one.
func (s *Server) gateForwarded(c *gin.Context) {
	if want := c.GetHeader(forward.ExpectHeader); want != "" && want != s.n.ID() {
		s.writeError(c, &api.Error{Code: api.CodeConflict, Message: fmt.Sprintf("this is node %q, not %q: the address the caller holds for %q is stale or forged", s.n.ID(), want, want)})
		return
	}
	by := c.GetHeader(forward.Header)
	if by == "" || !s.tls {
		return
	}
	if p, ok := certs.PeerOf(c.Request.TLS); !ok || !p.Node || p.Name != by {
		s.writeError(c, api.Forbidden("%s %q: a forwarded request must come with node %q's certificate", forward.Header, by, by))
	}
}

// nodesOnly guards the routes between nodes: with TLS they take a node
// certificate of the cluster's CA.
func (s *Server) nodesOnly(c *gin.Context) {
	if !s.tls {
		return
	}
	if p, ok := certs.PeerOf(c.Request.TLS); !ok || !p.Node {
		s.writeError(c, api.Forbidden("%s is a route between nodes: it takes a node certificate of the cluster's CA", c.Request.URL.Path))
	}
}

// operatorsOnly guards changes an outsider must never make (the gossip
// keyring): with TLS they take a certificate of the cluster's CA, an
// operator's client certificate or a node's.
func (s *Server) operatorsOnly(c *gin.Context) {
	if !s.tls {
		return
	}
	if _, ok := certs.PeerOf(c.Request.TLS); !ok {
		s.writeError(c, api.Forbidden("changing the gossip keyring takes a client certificate of the cluster's CA "+
			"(`roster tls cert create --client NAME`, then ROSTER_CLIENT_CERT and ROSTER_CLIENT_KEY)"))
	}
}

func (s *Server) localKeyring(c *gin.Context) { c.JSON(http.StatusOK, s.n.Keyring()) }

func (s *Server) changeLocalKeyring(c *gin.Context) {
	var ch api.KeyringChange
	if err := decodeStrict(c, &ch, false); err != nil {
		s.writeError(c, err)
		return
	}
	if err := s.n.ChangeKeyring(ch); err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, s.n.Keyring())
}

// keyring answers every alive member's keyring.
func (s *Server) keyring(c *gin.Context) {
	c.JSON(http.StatusOK, s.fanOut(c.Request.Context(), forward.Request{Method: http.MethodGet, Path: keyringPath}, s.n.Keyring))
}

// changeKeyring applies one rotation step on every alive member. A member
// that fails is named with its error and counted in "failed"; the operator
// repeats the step (each is idempotent) before taking the next.
func (s *Server) changeKeyring(c *gin.Context) {
	var ch api.KeyringChange
	if err := decodeStrict(c, &ch, false); err != nil {
		s.writeError(c, err)
		return
	}
	if _, err := ch.Validate(); err != nil {
		s.writeError(c, err)
		return
	}
	body, _ := json.Marshal(ch)
	local := func() api.NodeKeyring {
		if err := s.n.ChangeKeyring(ch); err != nil {
			return api.NodeKeyring{Node: s.n.ID(), Error: err.Error()}
		}
		return s.n.Keyring()
	}
	c.JSON(http.StatusOK, s.fanOut(c.Request.Context(), forward.Request{Method: http.MethodPut, Path: keyringPath, Body: body}, local))
}

// fanOut sends req to every alive member but this one, in parallel, runs
// local here, and gathers the answers by node.
func (s *Server) fanOut(ctx context.Context, req forward.Request, local func() api.NodeKeyring) api.Keyring {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var (
		mu  sync.Mutex
		out = api.Keyring{Nodes: []api.NodeKeyring{local()}}
		wg  sync.WaitGroup
	)
	for _, m := range s.n.Nodes() {
		if m.ID == s.n.ID() || m.Status != resource.StatusAlive {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			nk := api.NodeKeyring{Node: m.ID}
			resp, err := s.road.Do(ctx, m.URL, req)
			if err == nil {
				err = resp.Err()
			}
			if err == nil {
				err = json.Unmarshal(resp.Body, &nk)
			}
			if err != nil {
				nk = api.NodeKeyring{Node: m.ID, Error: err.Error()}
			}
			mu.Lock()
			out.Nodes = append(out.Nodes, nk)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.SortFunc(out.Nodes, func(a, b api.NodeKeyring) int { return strings.Compare(a.Node, b.Node) })
	for _, nk := range out.Nodes {
		if nk.Error != "" {
			out.Failed++
		}
	}
	return out
}
