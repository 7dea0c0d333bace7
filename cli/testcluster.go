package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/node"
	"github.com/rosterhq/roster/testcluster"
)

func newTestclusterCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "testcluster", Short: "Run a real multi-node cluster on this machine"}
	o := testcluster.ProcOptions{}
	var fresh bool
	up := &cobra.Command{
		Use:   "up",
		Short: "Start N agent processes on loopback, joined into one cluster; Ctrl-C stops them",
		Long: `Start N roster agents as separate processes on 127.0.0.1, node i on ports
base+3(i-1) (HTTP), +1 (gossip) and +2 (Raft), so node1 answers on the default
address. It stays in the foreground; Ctrl-C (or "roster testcluster down" from
another terminal) stops every agent cleanly. Their data stays in --dir, and running
it again brings the same cluster back; --fresh starts from an empty one.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return testclusterUp(cmd.Context(), g, o, fresh) },
	}
	fl := up.Flags()
	fl.IntVar(&o.Nodes, "nodes", 3, "number of agents (1-20)")
	fl.StringVar(&o.Dir, "dir", "", "data and logs (default: $XDG_STATE_HOME/roster-testcluster or ~/.local/state/roster-testcluster)")
	fl.IntVar(&o.BasePort, "base-port", 11337, "HTTP port of node1; every node takes three ports from here on")
	fl.IntVar(&o.Voters, "voters", 3, "number of Raft voters")
	fl.IntVar(&o.Servers, "servers", 0, "servers the leader keeps (default 5); the other nodes run as client agents")
	fl.StringVar(&o.Timing, "timing", "local", "gossip and Raft timings: local (fast, for one machine) or lan")
	fl.StringArrayVar(&o.Args, "agent-arg", nil, "extra flag for every agent, repeatable (--agent-arg=--enable-debug)")
	fl.BoolVar(&fresh, "fresh", false, "start from an empty catalog: remove the data of a previous run in --dir first")
	fl.BoolVar(&o.ACL, "acl", false, "require tokens (--acl on every agent); the management token is made once, kept in DIR/management-token and printed")
	fl.BoolVar(&o.Insecure, "insecure", false, "run without TLS and gossip encryption (by default the cluster gets a CA, node certificates and a gossip key in DIR/pki)")
	var downDir string
	down := &cobra.Command{
		Use:   "down",
		Short: "Stop a test cluster running from another terminal or in the background",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := testclusterDir(downDir)
			if err != nil {
				return err
			}
			return testclusterDown(g, dir)
		},
	}
	down.Flags().StringVar(&downDir, "dir", "", "the cluster's --dir (default: as for up)")
	var envDir string
	env := &cobra.Command{
		Use:   "env",
		Short: `Print the exports that point the CLI at a test cluster: eval "$(roster testcluster env)"`,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := testclusterDir(envDir)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(filepath.Join(dir, envFile))
			if err != nil {
				return fmt.Errorf("no test cluster has been started from %s (`roster testcluster up` writes %s): %v", dir, envFile, err)
			}
			_, err = g.out.Write(b)
			return err
		},
	}
	env.Flags().StringVar(&envDir, "dir", "", "the cluster's --dir (default: as for up)")
	cmd.AddCommand(up, down, env)
	return cmd
}

// testclusterDir is --dir, or the default beside the agent's data dir.
func testclusterDir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	state, err := defaultDataDir()
	if err != nil {
		return "", err
	}
	return state + "-testcluster", nil
}

// nodeDirs are the node data dirs a test cluster left in dir.
func nodeDirs(dir string) []string {
	matches, _ := filepath.Glob(filepath.Join(dir, "node*"))
	var out []string
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && fi.IsDir() {
			out = append(out, m)
		}
	}
	return out
}

// inUse returns the error of the first node data dir another agent holds.
func inUse(dir string) error {
	for _, d := range nodeDirs(dir) {
		lock, err := node.LockDataDir(d)
		if err != nil {
			return err
		}
		lock.Release()
	}
	return nil
}

// testclusterDown stops every agent that holds a node dir of the cluster:
// SIGTERM to the pid in its lock file, then waits for the lock to free.
func testclusterDown(g *globals, dir string) error {
	stopped := 0
	for _, d := range nodeDirs(dir) {
		pid, held := node.DataDirHolder(d)
		if !held {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
			return fmt.Errorf("stop the agent of %s (pid %d): %w", d, pid, err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			if _, still := node.DataDirHolder(d); !still {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the agent of %s (pid %d) did not stop within 20 s", d, pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
		fmt.Fprintf(g.out, "Stopped %s (pid %d).\n", filepath.Base(d), pid)
		stopped++
	}
	if stopped == 0 {
		fmt.Fprintf(g.out, "No test cluster is running from %s.\n", dir)
	}
	return nil
}

func testclusterUp(ctx context.Context, g *globals, o testcluster.ProcOptions, fresh bool) error {
	if o.Nodes < 1 || o.Nodes > 20 {
		return usagef("--nodes %d: want 1-20", o.Nodes)
	}
	if o.BasePort < 1 || o.BasePort+3*o.Nodes > 65536 {
		return usagef("--base-port %d: no room for %d nodes below 65536", o.BasePort, o.Nodes)
	}
	dir, err := testclusterDir(o.Dir)
	if err != nil {
		return err
	}
	o.Dir = dir
	if err := inUse(o.Dir); err != nil {
		return fmt.Errorf("%v; is this test cluster already running? `roster testcluster down` stops it", err)
	}
	if fresh {
		for _, d := range nodeDirs(o.Dir) {
			if err := os.RemoveAll(d); err != nil {
				return fmt.Errorf("--fresh: %w", err)
			}
		}
	}
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the roster binary: %w", err)
	}
	o.Binary = bin
	if err := testcluster.CheckPortsFree(o.BasePort, 3*o.Nodes); err != nil {
		return fmt.Errorf("%v (another roster agent or test cluster?); choose another --base-port", err)
	}
	fmt.Fprintf(g.out, "Starting %d roster agents (data and logs in %s)...\n", o.Nodes, o.Dir)
	c, err := testcluster.StartProcesses(o)
	if err != nil {
		return err
	}
	stop := func() error {
		fmt.Fprintf(g.out, "\nStopping %d agents...\n", o.Nodes)
		err := c.Stop(15 * time.Second)
		if err == nil {
			fmt.Fprintf(g.out, "Stopped. The data stays in %s; `roster testcluster up` brings this cluster back.\n", o.Dir)
		}
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	leader, err := c.WaitLeader(wctx)
	cancel()
	if err != nil {
		for i := range o.Nodes {
			if !c.Running(i) {
				fmt.Fprintf(g.errOut, "%s exited early; last lines of %s:\n%s\n", c.ID(i), c.LogPath(i), tail(c.LogPath(i), 10))
			}
		}
		stop()
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("the cluster did not elect a leader: %w", err)
	}
	if o.ACL {
		if err := testclusterToken(ctx, o.Dir, c); err != nil {
			stop()
			return err
		}
	}
	if err := writeEnv(o.Dir, c); err != nil {
		fmt.Fprintf(g.errOut, "warning: %v\n", err)
	}
	printUp(g, c, leader)
	exited := make(chan int, o.Nodes)
	for i := range o.Nodes {
		done, _ := c.Exited(i)
		go func() { <-done; exited <- i }()
	}
	for running := o.Nodes; ; {
		select {
		case <-ctx.Done():
			return stop()
		case i := <-exited:
			_, how := c.Exited(i)
			if running--; running == 0 {
				fmt.Fprintf(g.out, "Every agent has stopped. The data stays in %s.\n", o.Dir)
				return nil
			}
			fmt.Fprintf(g.errOut, "%s exited (%v); its log is %s. The other agents keep running.\n", c.ID(i), how(), c.LogPath(i))
		}
	}
}

func printUp(g *globals, c *testcluster.ProcCluster, leader int) {
	fmt.Fprintf(g.out, "\nThe cluster is up; %s leads.\n\n", c.ID(leader))
	for i := range c.Size() {
		fmt.Fprintf(g.out, "  %-7s %-24s log %s\n", c.ID(i), c.URL(i), c.LogPath(i))
	}
	self := os.Args[0]
	if filepath.Base(self) == self {
		self = "roster"
	}
	if t := c.Token(); t != "" {
		fmt.Fprintf(g.out, "\nTokens are required. The management token (kept in %s):\n  %s\n", filepath.Join(c.Dir(), managementTokenFile), t)
	}
	fmt.Fprintf(g.out, "\nTry, in another terminal:\n")
	if c.PKI() != nil || c.URL(0) != "http://127.0.0.1:11337" || c.Token() != "" {
		fmt.Fprintf(g.out, "  eval \"$(%s testcluster env%s)\"   # ROSTER_ADDR, the cluster's TLS files and token\n", self, dirFlag(c))
	}
	fmt.Fprintf(g.out, "  %s status\n  %s put /registry-svc/instance --url=http://127.0.0.1:8080 --slug=demo\n  %s instances ls\n  %s nodes ls\n",
		self, self, self, self)
	fmt.Fprintf(g.out, "\nCtrl-C stops every agent; the data stays for next time.\n")
}

// envFile holds the exports `roster testcluster env` prints.
const envFile = "env"

// writeEnv writes the shell exports that point the CLI at node1.
func writeEnv(dir string, c *testcluster.ProcCluster) error {
	var b strings.Builder
	for _, kv := range c.Env(0) {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(v))
	}
	// 600: with --acl it holds the management token.
	path := filepath.Join(dir, envFile)
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.Chmod(path, 0o600) // a file from an earlier run keeps its mode on write
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// dirFlag repeats --dir for the env command when it is not the default.
func dirFlag(c *testcluster.ProcCluster) string {
	if def, err := testclusterDir(""); err == nil && def == c.Dir() {
		return ""
	}
	return " --dir " + shellQuote(c.Dir())
}

// tail returns the last n lines of a file, for reporting a crash.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// managementTokenFile keeps a test cluster's management token between runs:
// the bootstrap works once per cluster.
const managementTokenFile = "management-token"

// testclusterToken bootstraps the ACL of a new test cluster, or reuses the
// token an earlier run made.
func testclusterToken(ctx context.Context, dir string, c *testcluster.ProcCluster) error {
	path := filepath.Join(dir, managementTokenFile)
	if b, err := os.ReadFile(path); err == nil && len(bytes.TrimSpace(b)) > 0 {
		c.UseToken(string(bytes.TrimSpace(b)))
		return nil
	}
	secret, err := c.BootstrapACL(ctx)
	if err != nil {
		return fmt.Errorf("%w (a cluster bootstrapped before whose %s is gone needs --fresh)", err, path)
	}
	c.UseToken(secret)
	return os.WriteFile(path, []byte(secret+"\n"), 0o600)
}
