package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	sockaddr "github.com/hashicorp/go-sockaddr"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/certs"
	"github.com/rosterhq/roster/gossip"
	"github.com/rosterhq/roster/internal/faultnet"
)

// Config is everything a node needs to start. Zero values take the defaults
// documented on each field.
type Config struct {
	// NodeID is this node's unique ID (default: persisted, else generated).
	NodeID string
	// DataDir holds raft.db, snapshots/ and node-id. Required.
	DataDir string
	// HTTPAddr is where the HTTP API listens; used to derive SelfURL.
	HTTPAddr string
	// SelfURL is this node's HTTP URL as other nodes reach it
	// (default: built from HTTPAddr and the advertise address).
	SelfURL string
	// GossipAddr and RaftAddr are bind addresses (host:port).
	GossipAddr string
	RaftAddr   string
	// Advertise is the IP other nodes use for gossip and Raft (default: the
	// bind IP if specific, else a private IP of this machine).
	Advertise string
	// Join lists gossip addresses of existing members.
	Join []string
	// BootstrapExpect is how many members to wait for before bootstrapping a
	// new cluster (default 1 when Join is empty: a lone node bootstraps
	// itself; 0 with Join: wait to be added).
	BootstrapExpect int
	// Voters is how many Raft voters the leader keeps (default 3, or
	// BootstrapExpect when that is larger).
	Voters int
	// ServerMode is "auto" (default: the leader decides whether this node
	// is a server or a client agent), "always" (a server whatever the
	// count) or "never" (a client agent: no Raft log, a replica streamed
	// from a server).
	ServerMode string
	// Servers is how many servers (voters plus spare non-voters) the
	// leader keeps among the nodes in auto mode (default 5, at least
	// Voters); every other node runs as a client agent.
	Servers int
	// Region and AZ place the node; voters prefer distinct AZs.
	Region, AZ string
	// Timing is "lan" (default) or "local" (fast timings for clusters on one
	// machine, used by the test cluster).
	Timing string
	// DeadVoterWindow is how long gossip must report a voter dead before the
	// leader replaces it with a non-voter (default 30s).
	DeadVoterWindow time.Duration
	// PromoteAfter is how long a non-voter must be alive in the configuration
	// before it may be promoted (default 3s), so that it has caught up.
	PromoteAfter time.Duration
	// ReconcileInterval is the leader's periodic reconcile (default 2s).
	ReconcileInterval time.Duration
	// EncryptKey enables gossip encryption (16, 24 or 32 bytes). It is the
	// first key of a new keyring; a keyring saved in the data dir (see
	// keyring.go) takes precedence.
	EncryptKey []byte
	// TLS, when set, is the cluster's CA and this node's certificate: Raft
	// and every call between nodes then run over mutual TLS, and the
	// certificate's node ID is this node's.
	TLS *certs.Bundle
	// Insecure lets a node that other machines can reach run without TLS
	// and a gossip key. Without it, such a node refuses to start, and one
	// without TLS keeps gossip and Raft on loopback.
	Insecure bool
	// Version is the build version, gossiped in meta.
	Version string
	// StatusInterval is how often the node samples its CPU, memory, disk and
	// GPUs and gossips them (default 5s, 100ms-5m).
	StatusInterval time.Duration
	// SnapshotThreshold and TrailingLogs, when set, replace Raft's
	// defaults (a snapshot every 8,192 entries, 10,240 kept after it):
	// tests make the log compact early to exercise what follows (a
	// promoted client installing a snapshot, a client resynced with a
	// whole catalog).
	SnapshotThreshold, TrailingLogs uint64
	// EventHistory is how many catalog changes the change stream keeps
	// (default fsm.DefaultEventHistory).
	EventHistory int
	// DiskReserve is the free space on the data dir's filesystem below
	// which writes are refused (default DefaultDiskReserve; see disk.go).
	DiskReserve uint64
	// Sampler reads the resources (default: this machine, through gopsutil
	// and the system's NVML). Tests pass go-nvml's mock through it.
	Sampler gossip.Sampler
	Logger  *slog.Logger
	// Faults, when set, sits between this node and the network on the
	// gossip, Raft and leader-forwarding paths; tests partition and slow
	// links with it. Nil in production.
	Faults *faultnet.Switch
}

// DefaultConfig is every default of an agent, in one place: the flags of
// `roster agent` show these, and withDefaults fills a zero field with them.
// Voters and BootstrapExpect depend on other settings and are settled in
// withDefaults.
func DefaultConfig() Config {
	return Config{
		HTTPAddr:          "127.0.0.1:11337",
		GossipAddr:        ":11338",
		RaftAddr:          ":11339",
		Timing:            "lan",
		ServerMode:        "auto",
		DeadVoterWindow:   30 * time.Second,
		PromoteAfter:      3 * time.Second,
		ReconcileInterval: 2 * time.Second,
		StatusInterval:    gossip.DefaultStatusInterval,
	}
}

// orDefault sets *v to d when it is the zero value.
func orDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// withDefaults validates c and fills in defaults. It resolves addresses but
// opens nothing.
func (c Config) withDefaults() (Config, error) {
	if c.DataDir == "" {
		return c, errors.New("data dir is required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	d := DefaultConfig()
	orDefault(&c.HTTPAddr, d.HTTPAddr)
	orDefault(&c.GossipAddr, d.GossipAddr)
	orDefault(&c.RaftAddr, d.RaftAddr)
	orDefault(&c.Timing, d.Timing)
	orDefault(&c.DeadVoterWindow, d.DeadVoterWindow)
	orDefault(&c.PromoteAfter, d.PromoteAfter)
	orDefault(&c.StatusInterval, d.StatusInterval)
	if c.DiskReserve == 0 {
		c.DiskReserve = DefaultDiskReserve
	}
	if c.DiskReserve < 2<<20 {
		return c, fmt.Errorf("disk reserve %d bytes: want at least 2 MiB (two of the largest Raft entries)", c.DiskReserve)
	}
	orDefault(&c.ReconcileInterval, d.ReconcileInterval)
	if c.BootstrapExpect < 0 || c.BootstrapExpect > 9 {
		return c, fmt.Errorf("bootstrap-expect: %d is out of range 0-9", c.BootstrapExpect)
	}
	if c.Voters == 0 {
		c.Voters = max(3, c.BootstrapExpect)
	}
	if c.Voters < 1 || c.Voters > 9 {
		return c, fmt.Errorf("voters: %d is out of range 1-9", c.Voters)
	}
	if c.BootstrapExpect > c.Voters {
		// Every expected member is a voter of the first configuration.
		return c, fmt.Errorf("bootstrap-expect %d exceeds voters %d: every expected member starts as a voter; raise --voters",
			c.BootstrapExpect, c.Voters)
	}
	orDefault(&c.ServerMode, d.ServerMode)
	if c.ServerMode != "auto" && c.ServerMode != gossip.ServerAlways && c.ServerMode != gossip.ServerNever {
		return c, fmt.Errorf("server %q: want auto, always or never", c.ServerMode)
	}
	if c.Servers == 0 {
		c.Servers = max(5, c.Voters)
	}
	if c.Servers < c.Voters || c.Servers > 15 {
		return c, fmt.Errorf("servers: %d is out of range %d-15 (at least --voters, %d)", c.Servers, c.Voters, c.Voters)
	}
	if c.ServerMode == gossip.ServerNever && (c.BootstrapExpect > 0 || len(c.Join) == 0) {
		return c, errors.New("server never: a client agent cannot bootstrap a cluster (--bootstrap-expect) and needs " +
			"--join to reach one")
	}
	if c.BootstrapExpect == 0 && len(c.Join) == 0 {
		c.BootstrapExpect = 1
	}
	if c.Timing != "lan" && c.Timing != "local" {
		return c, fmt.Errorf("timing %q: want lan or local", c.Timing)
	}
	if c.StatusInterval < 100*time.Millisecond || c.StatusInterval > 5*time.Minute {
		return c, fmt.Errorf("status interval %v: want 100ms-5m", c.StatusInterval)
	}
	for _, j := range c.Join {
		if err := checkJoin(j); err != nil {
			return c, fmt.Errorf("join %q: %w", j, err)
		}
	}
	for _, a := range []struct{ name, addr string }{{"http-addr", c.HTTPAddr}, {"gossip-addr", c.GossipAddr}, {"raft-addr", c.RaftAddr}} {
		if _, err := splitPort(a.addr); err != nil {
			return c, fmt.Errorf("%s %q: %w", a.name, a.addr, err)
		}
	}
	if c.TLS != nil && len(c.EncryptKey) == 0 {
		return c, errors.New("TLS is on but gossip has no key: give --encrypt-file (or ROSTER_ENCRYPT) with the " +
			"cluster's gossip key, so that a host without it cannot join the pool or forge its messages")
	}
	// Peers match members to instances by exact URL: one canonical form.
	c.SelfURL = strings.TrimSuffix(c.SelfURL, "/")
	if c.SelfURL != "" {
		if err := selfURLServed(c.SelfURL, c.HTTPAddr); err != nil {
			return c, err
		}
	}
	if err := c.settleAddresses(); err != nil {
		return c, err
	}
	if c.SelfURL == "" {
		c.SelfURL = defaultSelfURL(c.scheme(), c.HTTPAddr, c.Advertise)
	}
	if err := checkSelfURL(c.SelfURL); err != nil {
		return c, err
	}
	if !strings.HasPrefix(c.SelfURL, c.scheme()+"://") {
		return c, fmt.Errorf("self URL %s (OB_SELF_URL): with TLS %s, want a %s:// URL", c.SelfURL, onOff(c.TLS != nil), c.scheme())
	}
	return c, nil
}

func (c Config) scheme() string {
	if c.TLS != nil {
		return "https"
	}
	return "http"
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// checkJoin refuses a --join entry memberlist could never dial, which it
// would otherwise retry for good: host or host:port, a host being an IP
// address or a DNS name (a fully qualified one may end in '.'), after
// memberlist's optional "name/" prefix.
func checkJoin(entry string) error {
	host := entry[strings.IndexByte(entry, '/')+1:]
	if h, _, err := net.SplitHostPort(host); err == nil {
		if _, err := splitPort(host); err != nil {
			return err
		}
		host = h
	}
	if net.ParseIP(host) != nil {
		return nil
	}
	if !api.IsHostName(strings.TrimSuffix(host, ".")) {
		return errors.New("want host or host:port, a host being an IP address or a DNS name")
	}
	return nil
}

func splitPort(addr string) (int, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %q is out of range 1-65535", p)
	}
	return n, nil
}

// advertiseIP picks the IP peers dial: the configured one, else the bind IP
// when it is specific, else this machine's private IP, else loopback.
func advertiseIP(configured, bindAddr string) (string, error) {
	if configured != "" {
		ip := net.ParseIP(configured)
		if ip == nil || ip.IsUnspecified() {
			return "", fmt.Errorf("advertise %q: want a specific IP address", configured)
		}
		return ip.String(), nil
	}
	host, _, _ := net.SplitHostPort(bindAddr)
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		return ip.String(), nil
	}
	if ip, err := sockaddr.GetPrivateIP(); err == nil && ip != "" {
		return ip, nil
	}
	return "127.0.0.1", nil
}

// defaultSelfURL is the seed's default: the HTTP address as others reach it.
// An HTTP API bound to loopback is only reachable as loopback.
func defaultSelfURL(scheme, httpAddr, advertise string) string {
	host, port, _ := net.SplitHostPort(httpAddr)
	ip := net.ParseIP(host)
	switch {
	case host == "" || (ip != nil && ip.IsUnspecified()):
		host = advertise
	case host == "localhost":
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

func checkSelfURL(raw string) error {
	if err := gossip.CheckURL(raw); err != nil {
		return fmt.Errorf("%w (OB_SELF_URL)", err)
	}
	return nil
}

// selfURLServed checks that the advertised URL names the port the HTTP API
// listens on: peers forward writes to it, and a node that advertises an
// address it does not serve fails silently otherwise.
func selfURLServed(selfURL, httpAddr string) error {
	if err := checkSelfURL(selfURL); err != nil {
		return err
	}
	u, _ := url.Parse(selfURL)
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	_, listen, _ := net.SplitHostPort(httpAddr)
	if port != listen {
		return fmt.Errorf("self URL %s (OB_SELF_URL) names port %s, but the HTTP API listens on %s (--http-addr): "+
			"no listener serves the advertised URL; give both the same port", selfURL, port, httpAddr)
	}
	return nil
}

// isLoopbackAddr reports whether a listen address takes loopback traffic only.
func isLoopbackAddr(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isLoopbackURL reports whether a URL points at this machine only.
func isLoopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// raftTimings returns heartbeat, election and lease timeouts.
// hashicorp/raft's defaults (1 s / 1 s / 500 ms) put a leader failover at
// 2-3 s. On a LAN, where round trips are well under 10 ms, 400 ms brings a
// leader kill -9 to the first write through a survivor to 0.9 s (make
// bench row 4; 1.17 s at 600 ms), with no election during full-load
// writes nor with 53 agents sharing 2 cores (the leader heartbeats every
// 40 ms).
func raftTimings(profile string) (hb, el, lease time.Duration) {
	switch profile {
	case "local":
		return 500 * time.Millisecond, 500 * time.Millisecond, 250 * time.Millisecond
	default:
		return 400 * time.Millisecond, 400 * time.Millisecond, 200 * time.Millisecond
	}
}

// joinsRemote reports whether any join address is not on this machine.
func joinsRemote(addrs []string) bool {
	for _, a := range addrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			host = a
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return true
		}
	}
	return false
}
