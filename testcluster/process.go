package testcluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rosterhq/roster/httpapi/client"
)

// ProcOptions configure a cluster of agent processes.
type ProcOptions struct {
	// Binary is the roster executable to run as `roster agent`. Required.
	Binary string
	// Nodes is the number of agents (default 3).
	Nodes int
	// Dir holds each node's data dir and agent.log (node1, node2, ...);
	// starting again on the same Dir reuses the data. Required.
	Dir string
	// BasePort gives node i the ports BasePort+3i (HTTP), +1 (gossip) and
	// +2 (Raft). Required: processes cannot be handed free ports.
	BasePort int
	// Voters is the target number of Raft voters (default 3).
	Voters int
	// Servers is --servers (0: the agent's default, 5); the other nodes
	// run as client agents.
	Servers int
	// Timing is the agents' --timing (default "local").
	Timing string
	// Args are extra `roster agent` flags for every node.
	Args []string
	// Insecure runs the agents without TLS and a gossip key. By default
	// the cluster has both: a CA, node certificates, an operator's client
	// certificate and a gossip key are made (once) in Dir/pki, so the
	// secure path is the one people and tests use every day.
	Insecure bool
	// ACL runs the agents with --acl; BootstrapACL makes the management
	// token the cluster's clients then send.
	ACL bool
}

// ProcCluster is a set of agent processes on loopback.
type ProcCluster struct {
	opts  ProcOptions
	pki   *PKI
	mu    sync.Mutex
	procs []*proc
	// clients are made once per node: with TLS each has its own
	// connection pool, and a new one per call would open connections until
	// the agent's cap per client address closes them.
	clients sync.Map // int -> *client.Client
	acl     aclState
}

type proc struct {
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed when the process has exited
	err  error
}

// StartProcesses starts every node as its own `roster agent` process and
// returns once all have been started; use WaitLeader to wait for the
// cluster to form.
func StartProcesses(o ProcOptions) (*ProcCluster, error) {
	if o.Binary == "" || o.Dir == "" || o.BasePort == 0 {
		return nil, errors.New("testcluster: Binary, Dir and BasePort are required")
	}
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.BasePort < 1 || o.BasePort+3*o.Nodes > 65535 {
		return nil, fmt.Errorf("testcluster: base port %d leaves no room for %d nodes", o.BasePort, o.Nodes)
	}
	if o.Timing == "" {
		o.Timing = "local"
	}
	if o.Voters == 0 {
		o.Voters = 3
	}
	c := &ProcCluster{opts: o, procs: make([]*proc, o.Nodes)}
	if !o.Insecure {
		ids := make([]string, o.Nodes)
		for i := range ids {
			ids[i] = c.ID(i)
		}
		p, err := MakePKI(filepath.Join(o.Dir, "pki"), ids)
		if err != nil {
			return nil, fmt.Errorf("testcluster: make the TLS files: %w", err)
		}
		c.pki = &p
	}
	for i := range o.Nodes {
		if err := c.Restart(i); err != nil {
			c.Stop(5 * time.Second)
			return nil, err
		}
	}
	return c, nil
}

// Size is the number of node slots.
func (c *ProcCluster) Size() int { return c.opts.Nodes }

// ID is node i's node ID.
func (c *ProcCluster) ID(i int) string { return fmt.Sprintf("node%d", i+1) }

// URL is node i's HTTP URL.
func (c *ProcCluster) URL(i int) string {
	scheme := "https"
	if c.pki == nil {
		scheme = "http"
	}
	return scheme + "://127.0.0.1:" + strconv.Itoa(c.opts.BasePort+3*i)
}

// Dir is the cluster's directory.
func (c *ProcCluster) Dir() string { return c.opts.Dir }

// PKI is the cluster's TLS files; nil when it runs Insecure.
func (c *ProcCluster) PKI() *PKI { return c.pki }

// Env points the CLI at node i: ROSTER_ADDR and, with TLS, the CA and the
// operator's certificate.
func (c *ProcCluster) Env(i int) []string {
	env := []string{"ROSTER_ADDR=" + c.URL(i)}
	if c.pki != nil {
		env = append(env, c.pki.Env()...)
	}
	if t := c.acl.get(); t != "" {
		env = append(env, "ROSTER_TOKEN="+t)
	}
	return env
}

// LogPath is where node i's agent writes its log.
func (c *ProcCluster) LogPath(i int) string { return filepath.Join(c.opts.Dir, c.ID(i), "agent.log") }

// Client returns an HTTP client of node i.
func (c *ProcCluster) Client(i int) *client.Client {
	if cl, ok := c.clients.Load(i); ok {
		return cl.(*client.Client)
	}
	cl, err := client.New(c.URL(i))
	if err != nil {
		panic(err) // built here, always valid
	}
	if c.pki != nil {
		tc, err := c.pki.ClientTLS()
		if err != nil {
			panic(err) // made by MakePKI, loaded before
		}
		cl.UseTLS(tc)
	}
	cl.Token = c.acl.get()
	got, _ := c.clients.LoadOrStore(i, cl)
	return got.(*client.Client)
}

func (c *ProcCluster) args(i int) []string {
	port := func(k int) string { return "127.0.0.1:" + strconv.Itoa(c.opts.BasePort+3*i+k) }
	args := []string{"agent",
		"--node-id", c.ID(i),
		"--data-dir", filepath.Join(c.opts.Dir, c.ID(i)),
		"--http-addr", port(0), "--gossip-addr", port(1), "--raft-addr", port(2),
		"--advertise", "127.0.0.1",
		"--bootstrap-expect", strconv.Itoa(bootstrapExpect(i, c.opts.Nodes, c.opts.Voters)),
		"--voters", strconv.Itoa(c.opts.Voters),
		"--availability-zone", fmt.Sprintf("az%d", i%3+1),
		"--timing", c.opts.Timing,
	}
	if c.opts.Servers > 0 {
		args = append(args, "--servers", strconv.Itoa(c.opts.Servers))
	}
	for j := range c.opts.Nodes {
		if j != i {
			args = append(args, "--join", "127.0.0.1:"+strconv.Itoa(c.opts.BasePort+3*j+1))
		}
	}
	if c.pki != nil {
		args = append(args, c.pki.AgentArgs(c.ID(i))...)
	}
	if c.opts.ACL {
		args = append(args, "--acl")
	}
	return append(args, c.opts.Args...)
}

// Restart starts node i's process (again) on its ports and data dir.
func (c *ProcCluster) Restart(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.procs[i]; p != nil && !p.exited() {
		return fmt.Errorf("%s is running", c.ID(i))
	}
	if err := os.MkdirAll(filepath.Join(c.opts.Dir, c.ID(i)), 0o755); err != nil {
		return err
	}
	log, err := os.OpenFile(c.LogPath(i), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(c.opts.Binary, c.args(i)...)
	cmd.Stdout, cmd.Stderr = log, log
	// Agents read ROSTER_* and OB_* settings; the cluster's flags must win.
	cmd.Env = cleanEnv(os.Environ())
	cmd.SysProcAttr = childAttrs()
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start %s: %w", c.ID(i), err)
	}
	p := &proc{cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	c.procs[i] = p
	return nil
}

func cleanEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "ROSTER_") || strings.HasPrefix(kv, "OB_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Exited returns a channel closed when node i's current process exits, and
// a function that reports how it exited.
func (c *ProcCluster) Exited(i int) (<-chan struct{}, func() error) {
	c.mu.Lock()
	p := c.procs[i]
	c.mu.Unlock()
	return p.done, func() error { return p.err }
}

// Running reports whether node i's process is alive.
func (c *ProcCluster) Running(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[i] != nil && !c.procs[i].exited()
}

// Kill stops node i with SIGKILL, as a crash.
func (c *ProcCluster) Kill(i int) error {
	return c.signal(i, syscall.SIGKILL, 10*time.Second)
}

// Terminate stops node i with SIGTERM (a clean restart: it stays in the
// cluster) and waits up to timeout before killing it.
func (c *ProcCluster) Terminate(i int, timeout time.Duration) error {
	return c.signal(i, syscall.SIGTERM, timeout)
}

func (c *ProcCluster) signal(i int, sig syscall.Signal, timeout time.Duration) error {
	c.mu.Lock()
	p := c.procs[i]
	c.mu.Unlock()
	if p == nil || p.exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %v after %v; killed", c.ID(i), timeout, sig)
	}
}

// Stop terminates every node at once (SIGTERM, SIGKILL after timeout).
func (c *ProcCluster) Stop(timeout time.Duration) error {
	errs := make([]error, len(c.procs))
	var wg sync.WaitGroup
	for i := range c.procs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = c.Terminate(i, timeout) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// WaitLeader waits until every running node reports the same leader, and
// returns its index.
func (c *ProcCluster) WaitLeader(ctx context.Context) (int, error) {
	leader := -1
	err := Eventually(ctx, func() error {
		var id string
		for i := range c.opts.Nodes {
			if !c.Running(i) {
				continue
			}
			seen, err := c.leaderSeenBy(ctx, i)
			if err != nil {
				return fmt.Errorf("%s: %w", c.ID(i), err)
			}
			if seen == "" || (id != "" && seen != id) {
				return fmt.Errorf("%s sees leader %q", c.ID(i), seen)
			}
			id = seen
		}
		for i := range c.opts.Nodes {
			if c.ID(i) == id {
				leader = i
				return nil
			}
		}
		return fmt.Errorf("leader %q is not one of this cluster's nodes", id)
	})
	return leader, err
}

// leaderSeenBy is the leader node i knows. Before a cluster with tokens
// has its first one, it asks /readyz, which answers anyone.
func (c *ProcCluster) leaderSeenBy(ctx context.Context, i int) (string, error) {
	if c.opts.ACL && c.acl.get() == "" {
		var ready struct {
			Leader string `json:"leader"`
		}
		_, err := c.Client(i).Do(ctx, http.MethodGet, "/readyz", nil, &ready)
		return ready.Leader, err
	}
	st, err := c.Client(i).ClusterStatus(ctx)
	if err != nil {
		return "", err
	}
	return st.LeaderID, nil
}

// PID is the process ID of node i's current process, 0 when it has exited.
func (c *ProcCluster) PID(i int) int {
	c.mu.Lock()
	p := c.procs[i]
	c.mu.Unlock()
	if p == nil || p.exited() {
		return 0
	}
	return p.cmd.Process.Pid
}

// Pause freezes node i with SIGSTOP, as a paused VM or a black-holed host:
// its sockets stay open and nothing answers. Resume undoes it.
func (c *ProcCluster) Pause(i int) error { return c.sendSignal(i, syscall.SIGSTOP) }

// Resume lets a paused node i run again (SIGCONT).
func (c *ProcCluster) Resume(i int) error { return c.sendSignal(i, syscall.SIGCONT) }

func (c *ProcCluster) sendSignal(i int, sig syscall.Signal) error {
	pid := c.PID(i)
	if pid == 0 {
		return fmt.Errorf("%s is not running", c.ID(i))
	}
	return syscall.Kill(pid, sig)
}
