package gossip

import (
	"encoding/json"
	"fmt"

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
