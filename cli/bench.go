package cli

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/bench"
)

func newBenchCmd(g *globals) *cobra.Command {
	var cfg bench.LoadConfig
	var mode string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load a cluster: register, deregister, read or mixed; prints ops/s and latency",
		Long: `Load any Roster cluster and measure it. --addr takes several nodes, comma-separated,
used round robin. Registered instances have unique URLs under a run prefix and a "none"
check, so the cluster does not probe them; remove them with the prefix's slugs afterwards.

  roster bench --addr http://127.0.0.1:11340 --mode register --clients 64 --total 20000
  roster bench --mode read --consistent --clients 64 --duration 10s`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.checkOutput("table", "json"); err != nil {
				return err
			}
			addr := g.addr
			if addr == "" {
				c, err := g.client() // the env fallbacks and the default
				if err != nil {
					return err
				}
				addr = c.Base()
			}
			cfg.Addrs, cfg.Mode = bench.SplitAddrs(addr), bench.Mode(mode)
			var err error
			if cfg.TLS, err = g.tlsConfig(); err != nil {
				return err
			}
			if cfg.Token, err = g.tokenValue(); err != nil {
				return err
			}
			if g.output == "table" {
				cfg.Progress = os.Stderr
			}
			if err := cfg.Validate(); err != nil {
				return usagef("%v", err)
			}
			res, err := bench.Load(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if g.output == "json" {
				if err := printStructured(g, res); err != nil {
					return err
				}
			} else {
				printLoadResult(g, res)
			}
			if res.Ops > 0 && res.Errors == res.Ops {
				return fmt.Errorf("every operation failed (first: %s)", dash(res.FirstError))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&mode, "mode", "register", "register, deregister, read or mixed")
	fl.IntVar(&cfg.Clients, "clients", 16, "concurrent clients (1-4096)")
	fl.IntVar(&cfg.Total, "total", 0, "operations to run (deregister: instances to register, then remove)")
	fl.DurationVar(&cfg.Duration, "duration", 0, "how long to run (default 10s when --total is not given)")
	fl.IntVar(&cfg.InstancesPerSlug, "instances-per-slug", 100, "instances per slug when registering; the size of the slug reads list")
	fl.BoolVar(&cfg.Consistent, "consistent", false, "linearizable reads: a follower asks the leader for a read index (quorum-checked) and answers once it has applied that far")
	fl.Float64Var(&cfg.ReadRatio, "read-ratio", 0.9, "share of reads in mixed mode")
	fl.StringVar(&cfg.Prefix, "prefix", "", "slug and URL prefix of this run (default bench-<random>)")
	cmd.PreRun = func(*cobra.Command, []string) {
		if cfg.Total == 0 && cfg.Duration == 0 {
			cfg.Duration = 10 * time.Second
		}
	}
	cmd.AddCommand(newBenchSuiteCmd(g))
	return cmd
}

func printLoadResult(g *globals, r *bench.Result) {
	l := r.Latency
	fmt.Fprintf(g.out, "%s: %d ops in %.1fs with %d clients: %.0f ops/s\n", r.Mode, r.Ops, r.Seconds, r.Clients, r.OpsPerSec)
	fmt.Fprintf(g.out, "latency p50 %v  p95 %v  p99 %v  max %v\n", round(l.P50), round(l.P95), round(l.P99), round(l.Max))
	if r.Errors == 0 {
		fmt.Fprintln(g.out, "errors: none")
		return
	}
	codes := make([]string, 0, len(r.ErrorsByCode))
	for c := range r.ErrorsByCode {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	fmt.Fprintf(g.out, "errors: %d:", r.Errors)
	for _, c := range codes {
		fmt.Fprintf(g.out, " %s x%d", c, r.ErrorsByCode[c])
	}
	fmt.Fprintln(g.out)
}

func round(d time.Duration) time.Duration {
	if d > time.Millisecond {
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

func newBenchSuiteCmd(g *globals) *cobra.Command {
	o := bench.SuiteOptions{}
	cmd := &cobra.Command{
		Use:   "suite",
		Short: "The whole benchmark (make bench): a 3-node process cluster, one table of medians",
		Long: `Start a three-node cluster of agent processes on loopback (LAN timings, real fsync) in a
temporary directory and measure: the disk's fsync ceiling, registrations through a follower
(1 and 64 clients), local and consistent reads, leader kill -9 to first write, node kill -9 to
dead everywhere, gossip propagation, bandwidth and death spread in 100-, 200- and 500-member pools, client agents (3 servers + 0, 20, 50), RSS at 20,000 and 100,000
instances, snapshot and restore at 100,000, and rows beside a three-member etcd cluster (writes,
RSS, reads under writes; skipped with the reason when etcd or etcdload is missing). Everything
it starts it stops.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.checkOutput("table", "json"); err != nil {
				return err
			}
			if o.Binary == "" {
				exe, err := os.Executable()
				if err != nil {
					return err
				}
				o.Binary = exe
			}
			o.Log = g.errOut
			if o.Scale < 1 {
				// A quick look is quick everywhere: fewer repeats and kills,
				// smaller gossip pools, unless asked for explicitly.
				f := cmd.Flags()
				if !f.Changed("runs") {
					o.Runs = max(1, int(float64(o.Runs)*o.Scale+0.5))
				}
				if !f.Changed("kills") {
					o.Kills = max(1, int(float64(o.Kills)*o.Scale+0.5))
				}
				if !f.Changed("gossip-nodes") {
					for i, n := range o.GossipSizes {
						o.GossipSizes[i] = max(4, int(float64(n)*o.Scale))
					}
				}
			}
			start := time.Now()
			rows, err := bench.Suite(cmd.Context(), o)
			if g.output == "json" {
				if perr := printStructured(g, map[string]any{"rows": rows}); perr != nil {
					return perr
				}
			} else {
				fmt.Fprintf(g.out, "\nRoster benchmark (%s, %d CPUs), %s\n\n", time.Now().Format(time.DateOnly), runtime.NumCPU(), time.Since(start).Round(time.Second))
				bench.PrintTable(g.out, rows)
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Binary, "binary", "", "roster executable for the agents (default: this one)")
	fl.StringVar(&o.Dir, "dir", "", "working directory (default: a temporary one, removed after)")
	fl.Float64Var(&o.Scale, "scale", 1, "multiply instance counts, durations, repeats, kills and gossip pool sizes (0.1 for a quick look)")
	fl.IntVar(&o.Runs, "runs", 3, "repeats of each throughput figure (the median is shown)")
	fl.IntVar(&o.Kills, "kills", 5, "kill -9 runs for the failover rows")
	fl.StringVar(&o.Etcd, "etcd", "", "etcd executable for the rows beside etcd (default: etcd on PATH)")
	fl.StringVar(&o.EtcdLoad, "etcdload", "", "etcdload executable that loads etcd (default: beside --binary; make bench builds it)")
	fl.IntSliceVar(&o.GossipSizes, "gossip-nodes", []int{100, 200, 500}, "in-process gossip pool sizes (all members share this machine; 1000 is measured where it fits)")
	return cmd
}
