// Package testcluster starts a real Roster cluster on one machine: N agents
// with real Raft (bolt files with fsync), real gossip and real HTTP on
// loopback, each with its own ports and data dir. Tests use it in-process;
// `roster testcluster up` runs agents as separate processes.
package testcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/rosterhq/roster/agent"
	"github.com/rosterhq/roster/httpapi"
	"github.com/rosterhq/roster/httpapi/client"
	"github.com/rosterhq/roster/internal/faultnet"
	"github.com/rosterhq/roster/node"
)

// Options configure a cluster.
type Options struct {
	// Nodes is the number of agents (default 3).
	Nodes int
	// Dir holds one data dir per node (node1, node2, ...). Required.
	Dir string
	// BasePort gives node i the ports BasePort+3i (HTTP), +1 (gossip) and
	// +2 (Raft). 0 picks free ports.
	BasePort int
	// Voters is the target number of Raft voters (default 3).
	Voters int
	// Servers is --servers: the servers the leader keeps (default 5);
	// the other nodes run as client agents.
	Servers int
	// DeadVoterWindow is how long a voter must be dead before it is
	// replaced (default 5s, shorter than production for tests).
	DeadVoterWindow time.Duration
	// StatusInterval is how often nodes sample and gossip their resources
	// (default 1s).
	StatusInterval time.Duration
	// HTTP are the agents' HTTP options (proxy limits, allowed origins).
	HTTP httpapi.Options
	// TLS runs the cluster with mutual TLS and a gossip key (a CA, node
	// certificates and a key made in Dir/pki), as production does.
	TLS bool
	// ACL requires tokens on every agent; BootstrapACL makes the
	// management token the cluster's clients then send.
	ACL bool
	// Configure, when set, may change node i's config before it first
	// starts (tests use it to give a node go-nvml's mock GPUs).
	Configure func(i int, c *node.Config)
	// Docker, when set, gives node i a Docker registrator (nil: none).
	Docker func(i int) *agent.DockerConfig
	Logger *slog.Logger
}

// Cluster is a set of in-process agents.
type Cluster struct {
	opts Options
	pki  *PKI
	// clients are made once per node (see ProcCluster.clients).
	clients sync.Map // int -> *client.Client
	acl     aclState
	mu      sync.Mutex
	nodes   []*Member
}

// Member is one agent slot; it keeps its config across kill and restart.
type Member struct {
	Index  int
	Config node.Config
	URL    string
	agent  *agent.Agent
}

// Running reports whether the member's agent is up.
func (m *Member) Running() bool { return m.agent != nil }

// Agent returns the running agent, or nil.
func (m *Member) Agent() *agent.Agent { return m.agent }

// Agent returns node i's running agent, or nil.
func (c *Cluster) Agent(i int) *agent.Agent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].agent
}

// Start starts every node and returns once all of them are serving HTTP;
// use WaitLeader to wait for the cluster to form.
func Start(o Options) (*Cluster, error) {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Dir == "" {
		return nil, errors.New("testcluster: Dir is required")
	}
	if o.DeadVoterWindow == 0 {
		o.DeadVoterWindow = 5 * time.Second
	}
	if o.StatusInterval == 0 {
		o.StatusInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{opts: o}
	ports, err := c.ports()
	if err != nil {
		return nil, err
	}
	var gossipAddrs, ids []string
	for i := range o.Nodes {
		gossipAddrs = append(gossipAddrs, "127.0.0.1:"+strconv.Itoa(ports[i][1]))
		ids = append(ids, fmt.Sprintf("node%d", i+1))
	}
	scheme := "http://"
	if o.TLS {
		p, err := MakePKI(filepath.Join(o.Dir, "pki"), ids)
		if err != nil {
			return nil, err
		}
		c.pki, scheme = &p, "https://"
	}
	for i := range o.Nodes {
		id := fmt.Sprintf("node%d", i+1)
		http := "127.0.0.1:" + strconv.Itoa(ports[i][0])
		cfg := node.Config{
			NodeID:            id,
			DataDir:           filepath.Join(o.Dir, id),
			HTTPAddr:          http,
			GossipAddr:        gossipAddrs[i],
			RaftAddr:          "127.0.0.1:" + strconv.Itoa(ports[i][2]),
			Advertise:         "127.0.0.1",
			Join:              others(gossipAddrs, i),
			BootstrapExpect:   bootstrapExpect(i, o.Nodes, o.Voters),
			Voters:            o.Voters,
			Servers:           o.Servers,
			AZ:                fmt.Sprintf("az%d", i%3+1),
			Timing:            "local",
			DeadVoterWindow:   o.DeadVoterWindow,
			PromoteAfter:      time.Second,
			ReconcileInterval: time.Second,
			StatusInterval:    o.StatusInterval,
			Logger:            o.Logger.With("node", id),
			// Every in-process node has a fault switch on its gossip, Raft
			// and forwarding paths; it passes everything until a test
			// partitions or slows it (Partition, Isolate, Slow, Heal).
			Faults: faultnet.New(),
		}
		if c.pki != nil {
			if cfg.TLS, err = c.pki.Bundle(id); err == nil {
				cfg.EncryptKey, err = c.pki.Key()
			}
			if err != nil {
				return nil, err
			}
		}
		if o.Configure != nil {
			o.Configure(i, &cfg)
		}
		c.nodes = append(c.nodes, &Member{Index: i, Config: cfg, URL: scheme + http})
	}
	for i := range c.nodes {
		if err := c.Restart(i); err != nil {
			c.Stop()
			return nil, err
		}
	}
	return c, nil
}

// ports returns [http, gossip, raft] for each node.
func (c *Cluster) ports() ([][3]int, error) {
	base := c.opts.BasePort
	if base == 0 {
		var err error
		if base, err = FreeBasePort(3 * c.opts.Nodes); err != nil {
			return nil, err
		}
	}
	out := make([][3]int, c.opts.Nodes)
	for i := range out {
		for j := range 3 {
			out[i][j] = base + 3*i + j
		}
	}
	return out, nil
}

// FreeBasePort finds n consecutive ports free for both TCP and UDP (gossip
// needs both). It draws below Linux's ephemeral range (32768-60999), so an
// outgoing connection cannot take a port between the check and the bind.
func FreeBasePort(n int) (int, error) {
	const lo, hi = 10000, 32768
	for range 200 {
		base := lo + rand.IntN(hi-lo-n)
		if CheckPortsFree(base, n) == nil {
			return base, nil
		}
	}
	return 0, fmt.Errorf("testcluster: no %d consecutive free ports in %d-%d", n, lo, hi)
}

// CheckPortsFree reports the first of n ports from base that is taken on
// 127.0.0.1, for TCP or UDP.
func CheckPortsFree(base, n int) error {
	for p := base; p < base+n; p++ {
		addr := "127.0.0.1:" + strconv.Itoa(p)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("port %d is in use", p)
		}
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err != nil {
			return fmt.Errorf("UDP port %d is in use", p)
		}
		u.Close()
	}
	return nil
}

func others(all []string, i int) []string {
	var out []string
	for j, a := range all {
		if j != i {
			out = append(out, a)
		}
	}
	return out
}

// Size is the number of node slots.
func (c *Cluster) Size() int { return len(c.nodes) }

// Member returns slot i.
func (c *Cluster) Member(i int) *Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// Client returns an HTTP client of node i.
func (c *Cluster) Client(i int) *client.Client {
	if cl, ok := c.clients.Load(i); ok {
		return cl.(*client.Client)
	}
	cl, err := client.New(c.Member(i).URL)
	if err != nil {
		panic(err) // URLs are built here and always valid
	}
	if c.pki != nil {
		tc, err := c.pki.ClientTLS()
		if err != nil {
			panic(err) // made and loaded in Start
		}
		cl.UseTLS(tc)
	}
	cl.Token = c.acl.get()
	got, _ := c.clients.LoadOrStore(i, cl)
	return got.(*client.Client)
}

// PKI is the cluster's TLS files; nil without TLS.
func (c *Cluster) PKI() *PKI { return c.pki }

// Kill stops node i without leaving the cluster, as a crash would look to
// its peers. Its data dir is kept.
func (c *Cluster) Kill(i int) error {
	if a := c.take(i); a != nil {
		return a.Close()
	}
	return nil
}

// take detaches node i's running agent (nil if none) for stopping.
func (c *Cluster) take(i int) *agent.Agent {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.nodes[i].agent
	c.nodes[i].agent = nil
	return a
}

// Restart starts node i again on the same ports and data dir.
func (c *Cluster) Restart(i int) error {
	c.mu.Lock()
	m := c.nodes[i]
	running := m.agent != nil
	c.mu.Unlock()
	if running {
		return fmt.Errorf("node %d is running", i)
	}
	if err := os.MkdirAll(m.Config.DataDir, 0o755); err != nil {
		return err
	}
	var a *agent.Agent
	var err error
	// A port just released by a killed node can linger briefly.
	for try := 0; try < 50; try++ {
		acl := agent.ACLAuto
		if c.opts.ACL {
			acl = agent.ACLOn
		}
		var dc *agent.DockerConfig
		if c.opts.Docker != nil {
			dc = c.opts.Docker(m.Index)
		}
		a, err = agent.Start(agent.Config{Node: m.Config, HTTP: c.opts.HTTP, ACL: acl, Docker: dc})
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("start %s: %w", m.Config.NodeID, err)
	}
	c.mu.Lock()
	m.agent = a
	c.mu.Unlock()
	return nil
}

// Leave makes node i leave the cluster on purpose.
func (c *Cluster) Leave(i int) error {
	if a := c.take(i); a != nil {
		return a.Leave(10 * time.Second)
	}
	return nil
}

// Stop stops every running node.
func (c *Cluster) Stop() {
	var wg sync.WaitGroup
	for i := range c.nodes {
		wg.Add(1)
		go func() { defer wg.Done(); c.Kill(i) }()
	}
	wg.Wait()
}

// Leader returns the index of the node that is leader, or -1.
func (c *Cluster) Leader() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, m := range c.nodes {
		if m.agent != nil && m.agent.Node.IsLeader() {
			return i
		}
	}
	return -1
}

// Running lists the indexes of running nodes.
func (c *Cluster) Running() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for i, m := range c.nodes {
		if m.agent != nil {
			out = append(out, i)
		}
	}
	return out
}

// WaitLeader waits until every running node knows the same leader, and
// returns its index.
func (c *Cluster) WaitLeader(ctx context.Context) (int, error) {
	var last string
	err := Eventually(ctx, func() error {
		l := c.Leader()
		if l < 0 {
			return errors.New("no leader")
		}
		leaderID := c.Member(l).Config.NodeID
		for _, i := range c.Running() {
			a := c.Agent(i)
			if a == nil {
				continue
			}
			id, _ := a.Node.Leader()
			if id != leaderID {
				last = fmt.Sprintf("node%d sees leader %q, not %s", i+1, id, leaderID)
				return errors.New(last)
			}
		}
		return nil
	})
	if err != nil {
		return -1, err
	}
	return c.Leader(), nil
}

// Eventually polls f every 50ms until it succeeds or ctx ends, and returns
// the last error with the context's.
func Eventually(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// bootstrapExpect is node i's --bootstrap-expect: the first min(nodes,
// voters) nodes bootstrap the cluster together, all of them voters; the
// rest join it (an expectation shared by more members than it names is
// refused).
func bootstrapExpect(i, nodes, voters int) int {
	if voters == 0 {
		voters = 3
	}
	if expect := min(nodes, voters); i < expect {
		return expect
	}
	return 0
}

// WaitStable waits until every running node knows the same leader and the
// leader's configuration has its full voter set: min(running nodes, Voters).
func (c *Cluster) WaitStable(ctx context.Context) (int, error) {
	target := c.opts.Voters
	if target == 0 {
		target = 3
	}
	target = min(target, len(c.Running()))
	err := Eventually(ctx, func() error {
		l, err := c.WaitLeader(ctx)
		if err != nil {
			return err
		}
		a := c.Agent(l)
		if a == nil {
			return errors.New("leader stopped")
		}
		if st := a.Node.Status(); st.Voters < target {
			return fmt.Errorf("%d of %d voters", st.Voters, target)
		}
		return nil
	})
	if err != nil {
		return -1, err
	}
	return c.Leader(), nil
}
