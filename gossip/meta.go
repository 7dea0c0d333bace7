package gossip

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hashicorp/memberlist"
)

// metaVersion prefixes encoded meta so a future layout can be told apart.
const metaVersion byte = 1

// Meta is the identity a node gossips. memberlist caps it at 512 bytes and
// panics beyond, so only small identity fields belong here; resource usage
// travels in separate messages.
type Meta struct {
	ID              string `json:"id"`
	URL             string `json:"url"`
	RaftAddr        string `json:"raft"`
	Region          string `json:"region,omitempty"`
	AZ              string `json:"az,omitempty"`
	Version         string `json:"ver,omitempty"`
	BootstrapExpect int    `json:"be,omitempty"`
	// InCluster is true once the node holds Raft state: it was bootstrapped
	// or added to a cluster. A member that sees any such peer never
	// bootstraps a new cluster, so a wiped node cannot start a second one.
	InCluster bool `json:"ic,omitempty"`
}

// Encode serialises m and checks memberlist's size limit.
func (m Meta) Encode() ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	b = append([]byte{metaVersion}, b...)
	if len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("node metadata is %d bytes, memberlist allows %d: shorten the node ID (%d bytes), "+
			"self URL (%d bytes), region or availability zone", len(b), memberlist.MetaMaxSize, len(m.ID), len(m.URL))
	}
	return b, nil
}

// DecodeMeta parses meta received from a peer.
func DecodeMeta(b []byte) (Meta, error) {
	var m Meta
	if len(b) == 0 {
		return m, fmt.Errorf("empty node meta")
	}
	if b[0] != metaVersion {
		return m, fmt.Errorf("node meta version %d is not supported", b[0])
	}
	if len(b) > memberlist.MetaMaxSize {
		return m, fmt.Errorf("node meta of %d bytes exceeds %d", len(b), memberlist.MetaMaxSize)
	}
	if err := json.Unmarshal(b[1:], &m); err != nil {
		return m, fmt.Errorf("decode node meta: %w", err)
	}
	return m, nil
}

// UpdateMeta changes this node's gossiped identity: change edits a copy of
// the current Meta, which is then spread to the pool. It waits (up to 5 s)
// until memberlist has sent the news, so callers run it off hot paths.
func (g *Gossip) UpdateMeta(change func(*Meta)) error {
	g.metaMu.Lock()
	defer g.metaMu.Unlock()
	next := g.self
	change(&next)
	b, err := next.Encode()
	if err != nil {
		return err
	}
	g.self = next
	g.meta.Store(&b)
	return g.ml.UpdateNode(5 * time.Second)
}
