package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi/client"
	"github.com/rosterhq/roster/testcluster"
)

// insecureRows measures rows 2b, 3a and 3b again on a fresh cluster
// without TLS and gossip encryption, and states what TLS costs. (The TLS
// rows ran earlier in the suite; the same load, on the same machine.)
func (s *suite) insecureRows(ctx context.Context) error {
	return s.onPlainCluster(ctx, "cluster-insecure", func() error {
		return s.againstTLSRows(ctx, "'", "without TLS", "plain", func(rate, withTLS float64, id string) string {
			return fmt.Sprintf("row %s with TLS: %.0f/s (%s)", id, withTLS, costOf(withTLS, rate))
		})
	})
}

// againstTLSRows measures rows 2b, 3a and 3b on s.pc (another cluster than
// the TLS rows'), as rows id+suffix, each detailed by versus.
func (s *suite) againstTLSRows(ctx context.Context, suffix, what, prefix string, versus func(rate, tlsRate float64, id string) string) error {
	f, err := s.follower(ctx)
	if err != nil {
		return err
	}
	total := s.o.count(20000)
	var writes []*Result
	for run := range s.o.Runs {
		r, err := s.load(ctx, LoadConfig{Addrs: []string{s.pc.URL(f)}, Mode: ModeRegister, Clients: 64, Total: total,
			Prefix: fmt.Sprintf("%s64-%d", prefix, run)})
		if err != nil {
			return err
		}
		writes = append(writes, r)
	}
	add := func(id, name string, rs []*Result) {
		rate, p50, p99, errs := s.medians(rs)
		s.add(id+suffix, name+", "+what, fmt.Sprintf("%.0f/s", rate), fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, errors %d; %s",
			p50, p99, errs, versus(rate, s.rates[id], id)))
	}
	add("2b", "registrations/s via a follower, 64 clients", writes)
	for _, consistent := range []bool{false, true} {
		rs, err := s.readRuns(ctx, consistent, prefix+"-reads")
		if err != nil {
			return err
		}
		id, kind := "3a", "local"
		if consistent {
			id, kind = "3b", "consistent"
		}
		add(id, kind+" reads/s", rs)
	}
	return nil
}

// costOf is how much slower rate with is than rate without, as a signed
// percentage of throughput.
func costOf(with, without float64) string {
	if with <= 0 || without <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%+.0f%%", (with/without-1)*100)
}

// aclRows measures rows 2b, 3a and 3b on a fresh TLS cluster that requires
// tokens, with a token that holds the instance permissions (not the
// management token's "*", so the permission check does its real work).
func (s *suite) aclRows(ctx context.Context) error {
	base, err := testcluster.FreeBasePort(9)
	if err != nil {
		return err
	}
	pc, err := testcluster.StartProcesses(testcluster.ProcOptions{
		Binary: s.o.Binary, Nodes: 3, Dir: filepath.Join(s.dir, "cluster-acl"), BasePort: base, Timing: "lan", ACL: true,
	})
	if err != nil {
		return err
	}
	tc, err := pc.PKI().ClientTLS()
	if err != nil {
		pc.Stop(10 * time.Second)
		return err
	}
	saved, savedTLS, savedToken := s.pc, s.tls, s.token
	s.pc, s.tls = pc, tc
	defer func() {
		pc.Stop(10 * time.Second)
		s.pc, s.tls, s.token = saved, savedTLS, savedToken
	}()
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if _, err := pc.WaitLeader(wctx); err != nil {
		return err
	}
	if _, err := pc.BootstrapACL(wctx); err != nil {
		return err
	}
	if err := s.waitFull(wctx); err != nil {
		return err
	}
	tok, err := pc.Client(0).CreateToken(wctx, api.CreateTokenRequest{Description: "bench", Permissions: []string{
		api.PermInstanceView, api.PermInstanceEdit, api.PermInstanceDelete, api.PermInstanceStatus}})
	if err != nil {
		return err
	}
	s.token = tok.SecretID
	// Every node must know the token before the load starts.
	for i := range 3 {
		cl, err := pc.Client(i).With(pc.URL(i))
		if err != nil {
			return err
		}
		cl.Token = s.token
		if err := testcluster.Eventually(wctx, func() error {
			_, _, err := cl.ListInstances(wctx, api.InstanceFilter{Slug: "none"}, client.ListOptions{})
			return err
		}); err != nil {
			return err
		}
	}
	return s.againstTLSRows(ctx, "ᵗ", "with tokens", "acl", func(rate, tlsRate float64, id string) string {
		return fmt.Sprintf("row %s (TLS, no tokens, its own cluster): %.0f/s (%s with tokens)", id, tlsRate, costOf(rate, tlsRate))
	})
}
