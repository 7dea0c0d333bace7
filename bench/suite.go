package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/rosterhq/roster/testcluster"
)

// SuiteOptions configure `make bench`.
type SuiteOptions struct {
	// Binary is the roster executable the agents run. Required.
	Binary string
	// Dir is the working directory (default: a new temporary one, removed
	// afterwards). fsync is measured and the cluster stores its data there.
	Dir string
	// Log gets progress lines (default: discarded).
	Log io.Writer
	// Scale multiplies instance counts and durations: 1 is the full suite;
	// the suite's own test runs a tiny one.
	Scale float64
	// Runs is how many times each throughput figure is measured; the table
	// shows the median (default 3). Kills is the number of kill runs
	// (default 5).
	Runs, Kills int
	// GossipSizes are the in-process gossip pools measured (default 100,
	// 200, 500; up to the first that does not form on this machine).
	GossipSizes []int
	// Etcd is the etcd executable of the peer rows (default: etcd on
	// PATH) and EtcdLoad the etcdload executable that loads it (default:
	// beside Binary). Without either the peer rows say why they were
	// skipped.
	Etcd, EtcdLoad string
}

// Row is one line of the table.
type Row struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Value  string `json:"value"`
	Detail string `json:"detail,omitempty"`
}

func (o *SuiteOptions) defaults() error {
	if o.Binary == "" {
		return errors.New("bench: the roster binary is required")
	}
	if o.Scale <= 0 {
		o.Scale = 1
	}
	if o.Runs <= 0 {
		o.Runs = 3
	}
	if o.Kills <= 0 {
		o.Kills = 5
	}
	if len(o.GossipSizes) == 0 {
		o.GossipSizes = []int{100, 200, 500}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return nil
}

func (o *SuiteOptions) count(n int) int { return max(int(float64(n)*o.Scale), 10) }

func (o *SuiteOptions) span(d time.Duration) time.Duration {
	return max(time.Duration(float64(d)*o.Scale), 500*time.Millisecond)
}

// suite is one run of the whole benchmark.
type suite struct {
	o   SuiteOptions
	dir string
	pc  *testcluster.ProcCluster
	// tls is how clients verify the cluster's nodes (nil when it runs
	// without TLS).
	tls *tls.Config
	// token is the bearer token the load sends ("" on a cluster
	// without tokens).
	token string
	rows  []Row
	fsync float64
	// registered counts the instances in the catalog, for the RSS rows.
	registered int
	// rates are the medians of the throughput rows, by row ID.
	rates map[string]float64
}

// Suite runs every measurement and returns the rows in order. Everything
// it starts it stops, on error and on cancellation too.
func Suite(ctx context.Context, o SuiteOptions) ([]Row, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	s := &suite{o: o, dir: o.Dir}
	if s.dir == "" {
		d, err := os.MkdirTemp("", "roster-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		s.dir = d
	}
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"fsync ceiling", s.fsyncRow},
		{"start a 3-node cluster", s.startCluster},
		{"registrations", s.writeRows},
		{"reads", s.readRows},
		{"leader kill", s.leaderKillRow},
		{"leader pause", s.pauseRows},
		{"node kill", s.nodeKillRow},
		{"watchers", s.watchRow},
		{"change streams", s.streamRows},
		{"memory", s.memoryRows},
		// The rows below run in this process: the agents, busy with a
		// 100,000-instance catalog, would only take CPU from them.
		{"stop the cluster", s.stopClusterStep},
		// Roster and etcd side by side, interleaved (etcd_rows.go).
		{"beside etcd", s.etcdRows},
		{"client agents", s.clientRows},
		{"gossip propagation", s.gossipRows},
		{"snapshot and restore", s.snapshotRow},
		// The cost of TLS: the write and read rows again on a cluster
		// without it.
		{"without TLS", s.insecureRows},
		// The cost of tokens: the same rows on a TLS cluster that
		// requires them, against the TLS rows above.
		{"with tokens", s.aclRows},
	}
	defer s.stopCluster()
	for _, st := range steps {
		fmt.Fprintf(o.Log, "== %s\n", st.name)
		if err := st.run(ctx); err != nil {
			return s.rows, fmt.Errorf("%s: %w", st.name, err)
		}
	}
	return s.rows, nil
}

func (s *suite) add(id, name, value, detail string) {
	s.rows = append(s.rows, Row{ID: id, Name: name, Value: value, Detail: detail})
	fmt.Fprintf(s.o.Log, "   %s %s: %s  %s\n", id, name, value, detail)
}

func (s *suite) startCluster(ctx context.Context) error {
	base, err := testcluster.FreeBasePort(9)
	if err != nil {
		return err
	}
	// LAN timings: the kill rows measure what a LAN deployment would see.
	s.pc, err = testcluster.StartProcesses(testcluster.ProcOptions{
		Binary: s.o.Binary, Nodes: 3, Dir: filepath.Join(s.dir, "cluster"), BasePort: base, Timing: "lan",
	})
	if err != nil {
		return err
	}
	if s.tls, err = s.pc.PKI().ClientTLS(); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return s.waitFull(wctx)
}

func (s *suite) stopCluster() {
	if s.pc != nil {
		s.pc.Stop(10 * time.Second)
		s.pc = nil
	}
}

func (s *suite) stopClusterStep(context.Context) error {
	s.stopCluster()
	return nil
}

// PrintTable writes the rows as one aligned table.
func PrintTable(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tMEASURE\tRESULT\tDETAIL")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, r.Name, r.Value, r.Detail)
	}
	tw.Flush()
}
