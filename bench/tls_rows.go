package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/rosterhq/roster/testcluster"
)

// insecureRows measures rows 2b, 3a and 3b again on a fresh cluster
// without TLS and gossip encryption, and states what TLS costs. (The TLS
// rows ran earlier in the suite; the same load, on the same machine.)
func (s *suite) insecureRows(ctx context.Context) error {
	base, err := testcluster.FreeBasePort(9)
	if err != nil {
		return err
	}
	pc, err := testcluster.StartProcesses(testcluster.ProcOptions{
		Binary: s.o.Binary, Nodes: 3, Dir: filepath.Join(s.dir, "cluster-insecure"), BasePort: base, Timing: "lan", Insecure: true,
	})
	if err != nil {
		return err
	}
	saved, savedTLS := s.pc, s.tls
	s.pc, s.tls = pc, nil
	defer func() {
		pc.Stop(10 * time.Second)
		s.pc, s.tls = saved, savedTLS
	}()
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := s.waitFull(wctx); err != nil {
		return err
	}
	f, err := s.follower(ctx)
	if err != nil {
		return err
	}
	total := s.o.count(20000)
	var writes []*Result
	for run := range s.o.Runs {
		r, err := s.load(ctx, LoadConfig{Addrs: []string{pc.URL(f)}, Mode: ModeRegister, Clients: 64, Total: total,
			Prefix: fmt.Sprintf("plain64-%d", run)})
		if err != nil {
			return err
		}
		writes = append(writes, r)
	}
	s.compare("2b", "registrations/s via a follower, 64 clients, without TLS", writes)
	for _, consistent := range []bool{false, true} {
		rs, err := s.readRuns(ctx, consistent, "plain-reads")
		if err != nil {
			return err
		}
		id, kind := "3a", "local"
		if consistent {
			id, kind = "3b", "consistent"
		}
		s.compare(id, kind+" reads/s without TLS", rs)
	}
	return nil
}

// compare adds row id' (the same measure without TLS) beside row id.
func (s *suite) compare(id, name string, rs []*Result) {
	rate, p50, p99, errs := s.medians(rs)
	withTLS := s.rates[id]
	cost := "n/a"
	if rate > 0 && withTLS > 0 {
		cost = fmt.Sprintf("%+.0f%%", (withTLS/rate-1)*100)
	}
	s.add(id+"'", name, fmt.Sprintf("%.0f/s", rate), fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, errors %d; row %s with TLS: %.0f/s (%s)",
		p50, p99, errs, id, withTLS, cost))
}
