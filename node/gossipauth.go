package node

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/rosterhq/roster/gossip"
)

// keyRefetch is how often a node's key may be fetched again: after a
// signature fails (the node may have a new certificate) or a fetch failed.
const keyRefetch = 10 * time.Second

// gossipAuth signs this node's gossip messages with its TLS key and checks
// peers' against their certificates. A peer's key is learnt from a TLS
// handshake with its Raft address: the certificate must name the peer and
// be signed by the CA, so a gossip member that holds the gossip key but no
// certificate cannot speak for any node, itself included.
type gossipAuth struct {
	n   *Node
	key *ecdsa.PrivateKey

	mu    sync.Mutex
	keys  map[string]*ecdsa.PublicKey
	tried map[string]time.Time
	// want queues keys to fetch for the fetching loop.
	want chan string
}

func newGossipAuth(n *Node) (*gossipAuth, error) {
	key, ok := n.cfg.TLS.Cert.PrivateKey.(*ecdsa.PrivateKey)
	if !ok || key.Curve.Params().BitSize != 256 {
		return nil, errors.New("the node's TLS key must be ECDSA P-256 (as `roster tls cert create` makes) to sign gossip")
	}
	return &gossipAuth{n: n, key: key, keys: map[string]*ecdsa.PublicKey{n.id: &key.PublicKey}, tried: map[string]time.Time{},
		want: make(chan string, 64)}, nil
}

var _ gossip.Auth = (*gossipAuth)(nil)

// Sign returns r||s of an ECDSA signature of the body's SHA-256.
func (a *gossipAuth) Sign(body []byte) ([]byte, error) {
	d := sha256.Sum256(body)
	r, s, err := ecdsa.Sign(rand.Reader, a.key, d[:])
	if err != nil {
		return nil, err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return sig, nil
}

// Verify runs on memberlist's receive path: it never blocks; a key not
// known yet is fetched in the background.
func (a *gossipAuth) Verify(id string, body, sig []byte) error {
	a.mu.Lock()
	pub := a.keys[id]
	a.mu.Unlock()
	if pub == nil {
		a.fetch(id)
		return gossip.ErrKeyPending
	}
	if len(sig) != 64 {
		return fmt.Errorf("signature of %d bytes, want 64", len(sig))
	}
	d := sha256.Sum256(body)
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, d[:], r, s) {
		if id != a.n.id {
			a.fetch(id) // a restarted node may have a new certificate
		}
		return fmt.Errorf("not signed by node %s", id)
	}
	return nil
}

// fetch learns node id's key from the certificate at its Raft address, at
// most once per keyRefetch.
func (a *gossipAuth) fetch(id string) {
	a.mu.Lock()
	if t, ok := a.tried[id]; ok && time.Since(t) < keyRefetch {
		a.mu.Unlock()
		return
	}
	a.tried[id] = time.Now()
	a.mu.Unlock()
	select {
	case a.want <- id:
	default: // busy: asked again with the node's next message
		a.mu.Lock()
		delete(a.tried, id)
		a.mu.Unlock()
	}
}

// fetchLoop fetches the keys Verify asks for, one at a time, until the node
// closes.
func (a *gossipAuth) fetchLoop() {
	for {
		select {
		case <-a.n.ctx.Done():
			return
		case id := <-a.want:
			pub, err := a.keyOf(id)
			if err != nil {
				a.n.log.Debug("could not learn a gossip member's key", "member", id, "err", err)
				continue
			}
			a.mu.Lock()
			_, had := a.keys[id]
			a.keys[id] = pub
			a.mu.Unlock()
			if !had {
				a.n.gossip.Touch() // the member may own checks now
			}
		}
	}
}

// known reports whether node id's certificate has been seen.
func (a *gossipAuth) known(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.keys[id] != nil
}

func (a *gossipAuth) keyOf(id string) (*ecdsa.PublicKey, error) {
	m, ok := a.n.gossip.Member(id)
	if !ok || m.RaftAddr == "" {
		return nil, errors.New("not a member with a Raft address")
	}
	ctx, cancel := context.WithTimeout(a.n.ctx, 2*time.Second)
	defer cancel()
	c, err := a.n.cfg.Faults.DialContext(ctx, "tcp", m.RaftAddr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	tc := tls.Client(c, a.n.cfg.TLS.Peer(id))
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	pub, ok := tc.ConnectionState().PeerCertificates[0].PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return nil, errors.New("the certificate's key is not ECDSA")
	}
	return pub, nil
}

// CheckMembers are the members that may own health checks: every member
// without TLS; with it, only those whose certificate this node has seen
// (a member that holds the gossip key but no certificate must not take
// instances out of checking). Unverified alive members are looked up.
func (n *Node) CheckMembers() []gossip.Member {
	ms := n.gossip.Members()
	if n.auth == nil {
		return ms
	}
	out := make([]gossip.Member, 0, len(ms))
	for _, m := range ms {
		switch {
		case m.Name == n.id || n.auth.known(m.Name):
			out = append(out, m)
		case m.State == gossip.StateAlive:
			n.auth.fetch(m.Name)
		}
	}
	return out
}
