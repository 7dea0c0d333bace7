package gossip

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/rosterhq/roster/api"
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
	// ServerMode is the node's --server setting: "" (auto: the leader
	// decides), "always" or "never".
	ServerMode string `json:"srv,omitempty"`
	// Upstream is the server a client agent's replica streams from ("" on
	// servers and while a client looks for one).
	Upstream string `json:"up,omitempty"`
	// Server is true while the node's own Raft configuration lists it. A
	// server removed while it was down comes back with a configuration
	// older than its removal and still holds itself a server: the leader
	// adds it again, so that the log tells it where it stands.
	Server bool `json:"sv,omitempty"`
	// LogFormat is the newest Raft command format this node reads
	// (fsm.Format); absent (0) on builds that read only the first, JSON.
	// The leader writes a format only once every member reads it.
	LogFormat int `json:"lf,omitempty"`
}

// Server modes a node may gossip (auto is the empty string).
const (
	ServerAlways = "always"
	ServerNever  = "never"
)

// Encode checks m as a peer would and serialises it within memberlist's
// size limit.
func (m Meta) Encode() ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
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
	return m, m.validate()
}

// validate holds a peer's identity to what a Roster node sends: an ID as
// --node-id allows, a canonical self URL (http(s)://host[:port], nothing
// after: the health checks match instances to members by exact URL, and a
// URL one slash away from another member's took over its checks), a Raft
// address host:port, and short printable labels.
func (m Meta) validate() error {
	if err := checkID(m.ID); err != nil {
		return err
	}
	if err := CheckURL(m.URL); err != nil {
		return fmt.Errorf("node %s: %w", m.ID, err)
	}
	if m.RaftAddr != "" {
		host, port, err := net.SplitHostPort(m.RaftAddr)
		if p, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
			return fmt.Errorf("node %s: raft address %q is not host:port", m.ID, m.RaftAddr)
		}
	}
	for _, l := range []struct{ name, v string }{{"region", m.Region}, {"availability zone", m.AZ}, {"version", m.Version}} {
		if len(l.v) > 64 || !api.IsPrintable(l.v) {
			return fmt.Errorf("node %s: %s must be at most 64 printable characters", m.ID, l.name)
		}
	}
	if m.ServerMode != "" && m.ServerMode != ServerAlways && m.ServerMode != ServerNever {
		return fmt.Errorf("node %s: server mode %q: want always, never or nothing (auto)", m.ID, m.ServerMode)
	}
	if m.Upstream != "" {
		if err := checkID(m.Upstream); err != nil {
			return fmt.Errorf("node %s: upstream: %w", m.ID, err)
		}
	}
	if m.Server && m.Upstream != "" {
		// A server's catalog is its own log: one that streams from
		// another is a client, whatever it says.
		return fmt.Errorf("node %s: a server has no upstream (it names %s)", m.ID, m.Upstream)
	}
	if m.LogFormat < 0 || m.LogFormat > 255 {
		return fmt.Errorf("node %s: log format %d out of range", m.ID, m.LogFormat)
	}
	if m.BootstrapExpect < 0 || m.BootstrapExpect > 9 {
		return fmt.Errorf("node %s: bootstrap expectation %d out of range", m.ID, m.BootstrapExpect)
	}
	return nil
}

// CheckURL accepts a node's self URL in canonical form only:
// http(s)://host[:port] with no user, path, query or fragment.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil, u.Scheme != "http" && u.Scheme != "https", u.Host == "", u.User != nil,
		u.Path != "", u.RawQuery != "", u.Fragment != "", u.Opaque != "":
		return fmt.Errorf("self URL %q: want http(s)://host:port and nothing after it", raw)
	}
	return nil
}

// Self is this node's gossiped identity.
func (g *Gossip) Self() Meta {
	g.metaMu.Lock()
	defer g.metaMu.Unlock()
	return g.self
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
