package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// peerCheckTTL is how long the outcome of a server identity check stands:
// the reconciler runs every 2 s and must not handshake with every member on
// every round, nor log a refusal each time.
const peerCheckTTL = 30 * time.Second

// peerChecks caches identity checks by "id@addr".
type peerChecks struct {
	mu sync.Mutex
	m  map[string]peerCheck
}

type peerCheck struct {
	err error
	at  time.Time
}

// checkServerIdentity makes sure that the node answering at a Raft address
// holds a certificate naming id before the leader adds, promotes or
// re-addresses it: a gossip member can claim any ID and any address, only
// the CA can vouch for the pair. Without TLS there is nothing to check.
func (n *Node) checkServerIdentity(id, addr string) error {
	if n.cfg.TLS == nil {
		return nil
	}
	key := id + "@" + addr
	n.peerChecks.mu.Lock()
	if c, ok := n.peerChecks.m[key]; ok && time.Since(c.at) < peerCheckTTL {
		n.peerChecks.mu.Unlock()
		return c.err
	}
	n.peerChecks.mu.Unlock()

	err := n.handshake(id, addr)
	if err != nil {
		err = fmt.Errorf("server %s at %s did not prove its identity: %w", id, addr, err)
		n.log.Warn("refusing a membership change: the certificate at the member's Raft address must name it "+
			"(retried in 30s)", "server", id, "addr", addr, "err", err)
	}
	n.peerChecks.mu.Lock()
	if n.peerChecks.m == nil {
		n.peerChecks.m = map[string]peerCheck{}
	}
	for k, c := range n.peerChecks.m {
		if time.Since(c.at) >= peerCheckTTL {
			delete(n.peerChecks.m, k)
		}
	}
	n.peerChecks.m[key] = peerCheck{err: err, at: time.Now()}
	n.peerChecks.mu.Unlock()
	return err
}

func (n *Node) handshake(id, addr string) error {
	ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
	defer cancel()
	c, err := n.cfg.Faults.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	return tls.Client(c, n.cfg.TLS.Peer(id)).HandshakeContext(ctx)
}

// rememberServers keeps the address-to-ID map of a configuration for the
// stream layer's dials.
func (n *Node) rememberServers(cfg raft.Configuration) {
	m := make(map[string]string, len(cfg.Servers))
	for _, s := range cfg.Servers {
		m[string(s.Address)] = string(s.ID)
	}
	n.serverIDs.Store(&m)
}

// PeerTLS is the TLS configuration for calling another node (nil without
// TLS); a non-empty expectID must be named by the peer's certificate.
func (n *Node) PeerTLS(expectID string) *tls.Config {
	if n.cfg.TLS == nil {
		return nil
	}
	return n.cfg.TLS.Peer(expectID)
}
