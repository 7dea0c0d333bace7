package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi/client"
	"github.com/rosterhq/roster/testcluster"
)

// clientRows measures what client agents cost the servers: the same write
// load through a follower server of 3 servers with 0, 20 and 50 client
// agents streaming the catalog (processes on loopback). The leader's CPU
// per write must stay flat as clients are added: clients stream from the
// followers, never from the leader while a follower is alive. Every agent
// shares this machine's cores and every client applies every write, so
// the write rate falls as clients are added, and the leader's fixed cost
// (heartbeats, Raft's commit appends, gossip) is spread over fewer writes:
// its CPU per write is therefore also given above its idle CPU, measured
// just before the writes.
func (s *suite) clientRows(ctx context.Context) error {
	sizes := []int{0, 20, 50}
	if s.o.Scale < 0.5 {
		sizes = []int{0, 2}
	}
	var rates, idle, entries, streams []string
	var failed error
	for k, n := range sizes {
		// The idle and visibility rows on the second cluster (20 client
		// agents): 53 agents on a 2-core machine leave too little CPU
		// for either to say what one agent costs.
		r, err := s.withClients(ctx, n, k == 1)
		if err != nil && ctx.Err() == nil {
			// What the smaller clusters measured still goes in the
			// table, with the reason the larger one did not.
			failed = fmt.Errorf("%d client agents did not settle or hold the load on this machine (%d cores; see 8c for what an idle agent takes): %w",
				n, runtime.NumCPU(), err)
			rates = append(rates, fmt.Sprintf("%d: failed", n))
			break
		}
		if err != nil {
			return err
		}
		rates = append(rates, fmt.Sprintf("%d: %.0f/s (leader %.0f ms, %.0f ms above idle)", n, r.rate, r.leaderCPU, r.aboveIdle))
		idle = append(idle, fmt.Sprintf("%d: %.1f%%", n, r.leaderIdle))
		streams = append(streams, fmt.Sprintf("%d: %d", n, r.leaderStreams))
		entries = append(entries, fmt.Sprintf("%d: %.1f", n, r.writesPerEntry))
	}
	if failed != nil {
		s.add("8", "client agents", "failed", failed.Error())
	}
	s.add("8a", "writes/s via a follower server at full load (64 clients), 3 servers + N client agents", strings.Join(rates, ", "),
		fmt.Sprintf("in brackets the leader's CPU per 1,000 writes, and the same less its idle CPU (8b) over the run: the second must stay flat as clients are added; %d registrations or %v a run, median of %d runs; writes per Raft entry %s; every agent shares this machine's %d cores and every client applies every write, so the rate falls with clients and, at 50, the writes' share of the leader's CPU is within its idle noise",
			s.o.count(10000), s.o.span(20*time.Second), s.o.Runs, strings.Join(entries, ", "), runtime.NumCPU()))
	s.add("8b", "leader idle CPU, 3 servers + N client agents", strings.Join(idle, ", "),
		"user+system time of the leader's process (/proc) over "+s.o.span(10*time.Second).String()+" with nothing written, just before the 8a runs: heartbeats, Raft's commit appends, gossip; client streams the leader served after the runs: "+strings.Join(streams, ", "))
	return nil
}

type clientResult struct {
	rate, leaderCPU, aboveIdle, leaderIdle float64
	// leaderStreams is the most replica streams the leader served after a
	// run: 0 while a follower server is alive.
	leaderStreams int
	// writesPerEntry is the batch size at full load: the leader's cost
	// is mostly per Raft entry, so its CPU per write follows it.
	writesPerEntry float64
}

func (s *suite) withClients(ctx context.Context, clients int, detail bool) (clientResult, error) {
	nodes := 3 + clients
	base, err := testcluster.FreeBasePort(3 * nodes)
	if err != nil {
		return clientResult{}, err
	}
	pc, err := testcluster.StartProcesses(testcluster.ProcOptions{
		Binary: s.o.Binary, Nodes: nodes, Servers: 3, Dir: filepath.Join(s.dir, fmt.Sprintf("clients-%d", clients)),
		BasePort: base, Timing: "lan",
	})
	if err != nil {
		return clientResult{}, err
	}
	saved, savedTLS := s.pc, s.tls
	s.pc = pc
	defer func() {
		pc.Stop(10 * time.Second)
		s.pc, s.tls = saved, savedTLS
	}()
	if s.tls, err = pc.PKI().ClientTLS(); err != nil {
		return clientResult{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	l, err := s.waitClients(wctx, clients)
	if err != nil {
		return clientResult{}, err
	}
	f := (l + 1) % 3 // nodes 1-3 bootstrapped the cluster: the servers
	if detail && clients > 0 {
		if err := s.idleClientRow(ctx, l); err != nil {
			return clientResult{}, err
		}
		if err := s.visibilityRow(ctx, f, clients); err != nil {
			return clientResult{}, err
		}
	}
	span := s.o.span(10 * time.Second)
	idle, err := cpuOver(ctx, pc.PID(l), span)
	if err != nil {
		return clientResult{}, err
	}
	idlePerSecond := idle / span.Seconds()
	var res clientResult
	var rs []*Result
	var cpu, above, writesPerEntry []float64
	for run := range s.o.Runs {
		before, err := cpuSeconds(pc.PID(l))
		if err != nil {
			return clientResult{}, err
		}
		st, err := s.pc.Client(l).ClusterStatus(ctx)
		if err != nil {
			return clientResult{}, err
		}
		first := st.LastLogIndex
		// Bounded in time too: a cluster that takes the cores (50 client
		// agents on 2) writes a few hundred a second.
		began := time.Now()
		r, err := s.load(ctx, LoadConfig{Addrs: []string{pc.URL(f)}, Mode: ModeRegister, Clients: 64, Total: s.o.count(10000),
			Duration: s.o.span(20 * time.Second), Prefix: fmt.Sprintf("c%d-%d", clients, run)})
		if err != nil {
			return clientResult{}, err
		}
		took := time.Since(began)
		after, err := cpuSeconds(pc.PID(l))
		if err != nil {
			return clientResult{}, err
		}
		if st, err = s.pc.Client(l).ClusterStatus(ctx); err != nil {
			return clientResult{}, err
		}
		last := st.LastLogIndex
		res.leaderStreams = max(res.leaderStreams, st.ReplicaStreams)
		rs = append(rs, r)
		if ok := r.Ops - r.Errors; ok > 0 && last > first {
			cpu = append(cpu, (after-before)*1e6/float64(ok))
			above = append(above, (after-before-idlePerSecond*took.Seconds())*1e6/float64(ok))
			writesPerEntry = append(writesPerEntry, float64(ok)/float64(last-first))
		}
	}
	res.leaderCPU, res.aboveIdle, res.leaderIdle, res.writesPerEntry = median(cpu), median(above), idlePerSecond*100, median(writesPerEntry)
	res.rate, _, _, _ = s.medians(rs)
	return res, nil
}

// waitClients waits until the cluster has its 3 servers and every other
// node streams from a follower, and returns the leader.
func (s *suite) waitClients(ctx context.Context, clients int) (int, error) {
	l, err := s.pc.WaitLeader(ctx)
	if err != nil {
		return -1, err
	}
	return l, testcluster.Eventually(ctx, func() error {
		st, err := s.pc.Client(l).ClusterStatus(ctx)
		if err != nil {
			return err
		}
		streaming := 0
		for _, c := range st.Clients {
			if c.Upstream != "" && c.Upstream != st.NodeID {
				streaming++
			}
		}
		if len(st.Servers) != 3 || streaming != clients {
			return fmt.Errorf("%d servers, %d of %d clients streaming from a follower", len(st.Servers), streaming, clients)
		}
		return nil
	})
}

// idleClientRow: what a client agent costs its machine while nothing is
// written (its CPU over 10 s, its RSS), beside the leader's.
func (s *suite) idleClientRow(ctx context.Context, l int) error {
	time.Sleep(3 * time.Second) // let the joins settle
	window := s.o.span(10 * time.Second)
	before := map[int]float64{}
	for i := range s.pc.Size() {
		c, err := cpuSeconds(s.pc.PID(i))
		if err != nil {
			return err
		}
		before[i] = c
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(window):
	}
	var clientCPU, clientRSS []float64
	var leaderCPU, leaderRSS float64
	for i := range s.pc.Size() {
		c, err := cpuSeconds(s.pc.PID(i))
		if err != nil {
			return err
		}
		rss, _, err := rssMB(s.pc.PID(i))
		if err != nil {
			return err
		}
		pct := (c - before[i]) / window.Seconds() * 100
		switch {
		case i == l:
			leaderCPU, leaderRSS = pct, rss
		case i >= 3:
			clientCPU, clientRSS = append(clientCPU, pct), append(clientRSS, rss)
		}
	}
	slices.Sort(clientRSS)
	s.add("8c", fmt.Sprintf("a client agent idle (%d of them)", len(clientCPU)),
		fmt.Sprintf("%.1f%% of a core, %.0f MB", median(clientCPU), median(clientRSS)),
		fmt.Sprintf("medians over %v; largest RSS %.0f MB; the leader idle: %.1f%%, %.0f MB", window, clientRSS[len(clientRSS)-1], leaderCPU, leaderRSS))
	return nil
}

// visibilityRow times writes through a follower server until every client
// agent's replica holds them: each client holds a blocking read parked on
// the write's slug before it is sent.
func (s *suite) visibilityRow(ctx context.Context, f, clients int) error {
	var all []time.Duration
	var perWrite []time.Duration
	retried := 0
	for k := range s.o.count(30) {
		slug := fmt.Sprintf("vis-%d", k)
		var idx []uint64
		for i := 3; i < s.pc.Size(); i++ {
			_, m, err := s.pc.Client(i).ListInstances(ctx, api.InstanceFilter{Slug: slug}, client.ListOptions{})
			if err != nil {
				return err
			}
			idx = append(idx, m.Index)
		}
		arrived := make([]time.Duration, clients)
		var wg sync.WaitGroup
		start := make(chan time.Time)
		var ready sync.WaitGroup
		for j := range clients {
			wg.Add(1)
			ready.Add(1)
			go func() {
				defer wg.Done()
				c := s.pc.Client(3 + j)
				ready.Done()
				t0 := <-start
				for {
					got, m, err := c.ListInstances(ctx, api.InstanceFilter{Slug: slug}, client.ListOptions{Index: idx[j], Wait: 10 * time.Second})
					if err != nil || len(got) > 0 {
						arrived[j] = time.Since(t0)
						return
					}
					idx[j] = m.Index
				}
			}()
		}
		ready.Wait()
		time.Sleep(20 * time.Millisecond) // the reads are parked
		t0 := time.Now()
		for range clients {
			start <- t0
		}
		// A write the cluster lost in an election (the agents share 2
		// cores) is sent again: the clients' reads wait for either.
		var err error
		for try := 0; try < 3; try++ {
			if _, err = s.pc.Client(f).RegisterInstance(ctx, client.RegisterRequest{URL: "http://10.77.0.1:" + strconv.Itoa(1000+k), Slug: slug}); err == nil ||
				!errors.Is(err, client.ErrIndeterminate) && !errors.Is(err, client.ErrUnavailable) {
				break
			}
			retried++
		}
		if err != nil {
			return err
		}
		wg.Wait()
		all = append(all, arrived...)
		perWrite = append(perWrite, slices.Max(arrived))
	}
	lat, last := summarise(all), summarise(perWrite)
	s.add("8d", fmt.Sprintf("a write through a follower server visible on all %d client agents", clients),
		fmt.Sprintf("p50 %.0f ms, p99 %.0f ms", ms(lat.P50), ms(lat.P99)),
		fmt.Sprintf("from sending the write to each client's parked blocking read answering, %d writes (%d sent again after an election); the last client: p50 %.0f ms, p99 %.0f ms",
			len(perWrite), retried, ms(last.P50), ms(last.P99)))
	return nil
}

// cpuOver is the CPU time a process takes over the next span.
func cpuOver(ctx context.Context, pid int, span time.Duration) (float64, error) {
	before, err := cpuSeconds(pid)
	if err != nil {
		return 0, err
	}
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(span):
	}
	after, err := cpuSeconds(pid)
	return after - before, err
}

// cpuSeconds is a process's user+system CPU time so far (/proc, in clock
// ticks of 10 ms).
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from after it.
	rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %v %v", pid, err1, err2)
	}
	return (utime + stime) / 100, nil
}
