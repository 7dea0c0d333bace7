package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rosterhq/roster/httpapi/client"
	"github.com/rosterhq/roster/testcluster"
)

// waitFull waits until there is one leader, three voters, every node sees
// every node alive, and every node has applied what the leader committed
// (a restarted node that is still catching up would slow the next
// election down and blur the kill rows).
func (s *suite) waitFull(ctx context.Context) error {
	l, err := s.pc.WaitLeader(ctx)
	if err != nil {
		return err
	}
	return testcluster.Eventually(ctx, func() error {
		lst, err := s.pc.Client(l).ClusterStatus(ctx)
		if err != nil {
			return err
		}
		for i := range s.pc.Size() {
			st, err := s.pc.Client(i).ClusterStatus(ctx)
			if err != nil {
				return err
			}
			if st.Voters != 3 {
				return fmt.Errorf("%s sees %d voters", st.NodeID, st.Voters)
			}
			// Both are the catalog's applied index (the FSM's; Raft's own
			// entries such as configurations do not reach it).
			if st.AppliedIndex < lst.AppliedIndex {
				return fmt.Errorf("%s has applied %d of %d", st.NodeID, st.AppliedIndex, lst.AppliedIndex)
			}
			nodes, err := s.pc.Client(i).ListNodes(ctx, client.ListNodesRequest{})
			if err != nil {
				return err
			}
			for _, n := range nodes {
				if n.Status != "alive" {
					return fmt.Errorf("%s sees %s %s", st.NodeID, n.ID, n.Status)
				}
			}
		}
		return nil
	})
}

func (s *suite) follower(ctx context.Context) (int, error) {
	l, err := s.pc.WaitLeader(ctx)
	return (l + 1) % s.pc.Size(), err
}

func (s *suite) urls() []string {
	var out []string
	for i := range s.pc.Size() {
		out = append(out, s.pc.URL(i))
	}
	return out
}

// writeRows: registrations through a follower with 1 and 64 clients, while
// a watcher counts false "dead" reports of live nodes.
func (s *suite) writeRows(ctx context.Context) error {
	f, err := s.follower(ctx)
	if err != nil {
		return err
	}
	watch := s.watchFalseDead(ctx)
	total := s.o.count(20000)
	var many, one []*Result
	for run := range s.o.Runs {
		r, err := s.load(ctx, LoadConfig{Addrs: []string{s.pc.URL(f)}, Mode: ModeRegister, Clients: 64, Total: total,
			Prefix: fmt.Sprintf("w64-%d", run)})
		if err != nil {
			return err
		}
		many = append(many, r)
		s.registered += r.Ops - r.Errors
		if run == 0 {
			if err := s.rssRow("7a", "RSS per node at "+strconv.Itoa(s.registered)+" instances"); err != nil {
				return err
			}
		}
	}
	for run := range s.o.Runs {
		r, err := s.load(ctx, LoadConfig{Addrs: []string{s.pc.URL(f)}, Mode: ModeRegister, Clients: 1,
			Duration: s.o.span(10 * time.Second), Prefix: fmt.Sprintf("w1-%d", run)})
		if err != nil {
			return err
		}
		one = append(one, r)
		s.registered += r.Ops - r.Errors
	}
	falseDead := watch()
	s.writeRow("2a", "registrations/s via a follower, 1 client", one, fmt.Sprintf("%v runs", s.o.span(10*time.Second)))
	s.writeRow("2b", fmt.Sprintf("registrations/s via a follower, 64 clients, %d instances", total), many,
		fmt.Sprintf("false dead during writes: %d", falseDead))
	return nil
}

func (s *suite) writeRow(id, name string, rs []*Result, extra string) {
	rate, p50, p99, errs := s.medians(rs)
	s.rate(id, rate)
	s.add(id, name, fmt.Sprintf("%.0f/s", rate), fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, %.2fx the fsync ceiling, errors %d; %s",
		p50, p99, rate/s.fsync, errs, extra))
}

// medians of throughput and latency over repeated runs, and all errors.
func (s *suite) medians(rs []*Result) (rate, p50, p99 float64, errs int) {
	var rates, p50s, p99s []float64
	for _, r := range rs {
		rates = append(rates, r.OpsPerSec)
		p50s = append(p50s, ms(r.Latency.P50))
		p99s = append(p99s, ms(r.Latency.P99))
		errs += r.Errors
	}
	return median(rates), median(p50s), median(p99s), errs
}

func (s *suite) rate(id string, r float64) {
	if s.rates == nil {
		s.rates = map[string]float64{}
	}
	s.rates[id] = r
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (s *suite) load(ctx context.Context, cfg LoadConfig) (*Result, error) {
	cfg.Progress, cfg.TLS, cfg.Token = s.o.Log, s.tls, s.token
	r, err := Load(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if r.Errors > 0 {
		fmt.Fprintf(s.o.Log, "   %d errors: %v\n", r.Errors, r.ErrorsByCode)
	}
	return r, nil
}

// watchFalseDead polls every node's view every 200 ms and counts reports of
// a node as dead or suspect while all are running; the returned function
// stops it and gives the count.
func (s *suite) watchFalseDead(ctx context.Context) func() int {
	ctx, cancel := context.WithCancel(ctx)
	var bad atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			for i := range s.pc.Size() {
				nodes, err := s.pc.Client(i).ListNodes(ctx, client.ListNodesRequest{})
				if err != nil {
					continue
				}
				for _, n := range nodes {
					if n.Status == "dead" || n.Status == "suspect" {
						bad.Add(1)
						fmt.Fprintf(s.o.Log, "   %s reported %s by node %d\n", n.ID, n.Status, i+1)
					}
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return func() int { cancel(); wg.Wait(); return int(bad.Load()) }
}

// readRows: local and consistent reads of a 100-instance slug, 64
// connections spread over the three nodes.
func (s *suite) readRows(ctx context.Context) error {
	for _, consistent := range []bool{false, true} {
		rs, err := s.readRuns(ctx, consistent, "reads")
		if err != nil {
			return err
		}
		rate, p50, p99, errs := s.medians(rs)
		id, kind := "3a", "local"
		if consistent {
			id, kind = "3b", "consistent (?consistent)"
		}
		s.rate(id, rate)
		s.add(id, kind+" reads/s, slug of 100, 64 connections over 3 nodes", fmt.Sprintf("%.0f/s", rate),
			fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, errors %d", p50, p99, errs))
	}
	return nil
}

// readRuns reads a 100-instance slug with 64 connections over every node,
// Runs times.
func (s *suite) readRuns(ctx context.Context, consistent bool, prefix string) ([]*Result, error) {
	var rs []*Result
	for range s.o.Runs {
		r, err := s.load(ctx, LoadConfig{Addrs: s.urls(), Mode: ModeRead, Clients: 64, Duration: s.o.span(10 * time.Second),
			InstancesPerSlug: 100, Consistent: consistent, Prefix: prefix})
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// leaderKillRow: kill -9 the leader, then time the first successful write
// through a survivor.
func (s *suite) leaderKillRow(ctx context.Context) error {
	var took []float64
	for k := range s.o.Kills {
		l, err := s.pc.WaitLeader(ctx)
		if err != nil {
			return err
		}
		start := time.Now()
		if err := s.pc.Kill(l); err != nil {
			return err
		}
		survivors := []int{(l + 1) % 3, (l + 2) % 3}
		for try := 0; ; try++ {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if s.writeOnce(ctx, s.pc.URL(survivors[try%2]), fmt.Sprintf("kill-%d", k)) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		took = append(took, ms(time.Since(start)))
		s.registered++
		if err := s.restart(ctx, l); err != nil {
			return err
		}
	}
	s.add("4", "leader kill -9 -> first write through a survivor", fmt.Sprintf("%.0f ms", median(took)), runsText(took))
	return nil
}

// writeOnce registers one instance with a short deadline on a fresh
// connection; true on 201. The deadline is short so that an attempt caught
// in the election does not hide the moment writes work again.
func (s *suite) writeOnce(ctx context.Context, addr, key string) bool {
	ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	l := &loader{cfg: LoadConfig{Prefix: "leader"}, hc: &rawClient{tls: s.tls}}
	defer l.hc.closeIdle()
	code, err := l.register(ctx, addr, "leader-kill", key)
	return err == nil && code == http.StatusCreated
}

// nodeKillRow: kill -9 a follower, then time until every survivor lists it
// dead.
func (s *suite) nodeKillRow(ctx context.Context) error {
	var took []float64
	for k := range s.o.Kills {
		l, err := s.pc.WaitLeader(ctx)
		if err != nil {
			return err
		}
		victim := (l + 1 + k%2) % 3
		id := s.pc.ID(victim)
		start := time.Now()
		if err := s.pc.Kill(victim); err != nil {
			return err
		}
		err = testcluster.Eventually(ctx, func() error {
			for i := range s.pc.Size() {
				if i == victim {
					continue
				}
				nodes, err := s.pc.Client(i).ListNodes(ctx, client.ListNodesRequest{IDs: []string{id}})
				if err != nil || len(nodes) != 1 || nodes[0].Status != "dead" {
					return fmt.Errorf("node %d does not list %s dead yet", i+1, id)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		took = append(took, ms(time.Since(start)))
		if err := s.restart(ctx, victim); err != nil {
			return err
		}
	}
	s.add("5", "node kill -9 -> dead on every survivor", fmt.Sprintf("%.0f ms", median(took)), runsText(took))
	return nil
}

func (s *suite) restart(ctx context.Context, i int) error { return s.bringBack(ctx, s.pc.Restart(i)) }

// bringBack waits (a minute at most) until the cluster is whole again after
// a node came back (err: it could not be brought back).
func (s *suite) bringBack(ctx context.Context, err error) error {
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return s.waitFull(wctx)
}

func runsText(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.Itoa(int(x))
	}
	return fmt.Sprintf("median of %d runs: %s ms", len(xs), strings.Join(parts, ", "))
}

// memoryRows fills the catalog to 100,000 instances and measures RSS.
func (s *suite) memoryRows(ctx context.Context) error {
	target := s.o.count(100000)
	if n := target - s.registered; n > 0 {
		f, err := s.follower(ctx)
		if err != nil {
			return err
		}
		r, err := s.load(ctx, LoadConfig{Addrs: []string{s.pc.URL(f)}, Mode: ModeRegister, Clients: 64, Total: n, Prefix: "fill"})
		if err != nil {
			return err
		}
		s.registered += r.Ops - r.Errors
	}
	return s.rssRow("7b", "RSS per node at "+strconv.Itoa(s.registered)+" instances")
}

func (s *suite) rssRow(id, name string) error {
	var parts []string
	var worst float64
	for i := range s.pc.Size() {
		rss, anon, err := rssMB(s.pc.PID(i))
		if err != nil {
			return err
		}
		worst = max(worst, rss)
		parts = append(parts, fmt.Sprintf("%s %.0f (anon %.0f)", s.pc.ID(i), rss, anon))
	}
	s.add(id, name, fmt.Sprintf("%.0f MB max", worst), strings.Join(parts, ", ")+
		" MB; the rest of RSS is raft.db pages mapped by bolt")
	return nil
}

// rssMB reads a process's resident set size and its anonymous part (heap,
// stacks; the rest is mapped files) from /proc.
func rssMB(pid int) (rss, anon float64, err error) {
	if pid == 0 {
		return 0, 0, fmt.Errorf("process is not running")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, perr := strconv.ParseFloat(f[1], 64)
		switch {
		case perr != nil:
		case f[0] == "VmRSS:":
			rss = kb / 1024
		case f[0] == "RssAnon:":
			anon = kb / 1024
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return rss, anon, nil
}
