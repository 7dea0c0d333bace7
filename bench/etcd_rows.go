package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rosterhq/roster/testcluster"
)

// etcdRows measures Roster and etcd side by side: a fresh three-node
// Roster cluster and a three-member etcd cluster, both on loopback without
// TLS, both up for the whole step, each measurement taken on one and then
// the other so that the machine's noise hits both. etcd is driven by its
// own Go client (etcdload), Roster by this suite's HTTP load; the records
// written are the same JSON. Rows 9a-9e: Roster, etcd and Roster/etcd.
func (s *suite) etcdRows(ctx context.Context) error {
	etcd, load, why := s.o.findEtcd()
	if why != "" {
		s.add("9", "Roster beside etcd", "skipped", why)
		return nil
	}
	peer, err := startEtcd(ctx, etcd, load, filepath.Join(s.dir, "etcd"))
	if err != nil {
		return err
	}
	defer peer.stop()
	return s.onPlainCluster(ctx, "cluster-beside-etcd", func() error {
		if err := s.etcdWriteRows(ctx, peer); err != nil {
			return err
		}
		return s.etcdMixedRows(ctx, peer)
	})
}

// onPlainCluster runs fn with s.pc a fresh cluster without TLS and gossip
// encryption, and stops it after.
func (s *suite) onPlainCluster(ctx context.Context, dir string, fn func() error) error {
	base, err := testcluster.FreeBasePort(9)
	if err != nil {
		return err
	}
	pc, err := testcluster.StartProcesses(testcluster.ProcOptions{
		Binary: s.o.Binary, Nodes: 3, Dir: filepath.Join(s.dir, dir), BasePort: base, Timing: "lan", Insecure: true,
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
	return fn()
}

// etcdWriteRows: 9a writes through a follower with 64 clients, 9b and 9c
// the largest server's RSS once each holds 20,000 and 100,000 records.
func (s *suite) etcdWriteRows(ctx context.Context, peer *etcdPeer) error {
	f, ef, err := s.followers(ctx, peer)
	if err != nil {
		return err
	}
	total := s.o.count(20000)
	watch := s.watchFalseDead(ctx)
	var ours, theirs []*Result
	var rss20 [2]float64
	var cpu writeCPU
	for run := range s.o.Runs {
		servers, loader, err := s.cpuNow()
		if err != nil {
			return err
		}
		r, err := s.load(ctx, LoadConfig{Addrs: []string{f}, Mode: ModeRegister, Clients: 64, Total: total,
			Prefix: fmt.Sprintf("e64-%d", run)})
		if err != nil {
			return err
		}
		if err := cpu.addOurs(s, servers, loader, r.Ops); err != nil {
			return err
		}
		members, err := peer.cpu()
		if err != nil {
			return err
		}
		e, err := peer.measure(ctx, "put", "--endpoints", ef, "--clients", "64", "--total", strconv.Itoa(total),
			"--prefix", fmt.Sprintf("e64-%d", run))
		if err != nil {
			return err
		}
		if err := cpu.addTheirs(peer, members, e); err != nil {
			return err
		}
		ours, theirs = append(ours, r), append(theirs, &e.Result)
		if run == 0 {
			if rss20, err = s.bothRSS(peer); err != nil {
				return err
			}
		}
	}
	falseDead := watch()
	s.versus("9a", fmt.Sprintf("writes/s via a follower, 64 clients, %d distinct records", total), ours, theirs,
		fmt.Sprintf("%s; false dead during Roster's writes: %d", cpu, falseDead))
	s.rssVersus("9b", total, rss20)
	// Both up to 100,000 records.
	held := s.o.Runs * total
	if more := s.o.count(100000) - held; more > 0 {
		r, err := s.load(ctx, LoadConfig{Addrs: []string{f}, Mode: ModeRegister, Clients: 64, Total: more, Prefix: "e64-fill"})
		if err != nil {
			return err
		}
		if _, err := peer.measure(ctx, "put", "--endpoints", ef, "--clients", "64", "--total", strconv.Itoa(more), "--prefix", "e64-fill"); err != nil {
			return err
		}
		held += r.Ops - r.Errors
	}
	rss, err := s.bothRSS(peer)
	if err != nil {
		return err
	}
	s.rssVersus("9c", held, rss)
	return nil
}

// followers are the URLs of a Roster server and an etcd member that do not
// lead: every row here goes through a follower on both sides.
func (s *suite) followers(ctx context.Context, peer *etcdPeer) (roster, etcd string, err error) {
	f, err := s.follower(ctx)
	if err != nil {
		return "", "", err
	}
	etcd, err = peer.follower(ctx)
	return s.pc.URL(f), etcd, err
}

// bothRSS is the largest Roster server's RSS and the largest etcd
// member's, in MB.
func (s *suite) bothRSS(peer *etcdPeer) ([2]float64, error) {
	var worst float64
	for i := range s.pc.Size() {
		rss, _, err := rssMB(s.pc.PID(i))
		if err != nil {
			return [2]float64{}, err
		}
		worst = max(worst, rss)
	}
	e, err := peer.rssMB()
	return [2]float64{worst, e}, err
}

func (s *suite) rssVersus(id string, records int, rss [2]float64) {
	s.add(id, fmt.Sprintf("RSS of the largest server at %d records", records),
		fmt.Sprintf("%.0f MB vs etcd %.0f MB = %.2fx", rss[0], rss[1], rss[0]/rss[1]),
		"goal: at most 1x")
}

// versus adds a row of Roster's and etcd's medians and their ratio.
func (s *suite) versus(id, name string, ours, theirs []*Result, extra string) {
	r, _, rp99, rerr := s.medians(ours)
	e, _, ep99, eerr := s.medians(theirs)
	s.rate(id, r)
	s.add(id, name, fmt.Sprintf("%.0f/s vs etcd %.0f/s = %.2fx", r, e, r/e),
		fmt.Sprintf("p99 %.1f ms vs %.1f ms, errors %d vs %d; runs: %s vs %s; %s", rp99, ep99, rerr, eerr,
			ratesText(ours), ratesText(theirs), extra))
}

// ratesText lists each run's rate.
func ratesText(rs []*Result) string {
	var v []string
	for _, r := range rs {
		v = append(v, strconv.Itoa(int(r.OpsPerSec)))
	}
	return strings.Join(v, ", ") + " /s"
}

// Mixed load: 64 clients read a slug of 100 on a follower while paced
// writers put 500 records/s elsewhere and rewrite the read slug's records
// 50 times a second, through the same follower.
const mixedOtherRate, mixedSameRate = 500, 50

// etcdMixedRows: 9d local reads against etcd's serializable range, 9e
// ?consistent reads against its linearizable range, under the mixed load;
// each row also says how many writes got through on each side.
func (s *suite) etcdMixedRows(ctx context.Context, peer *etcdPeer) error {
	f, ef, err := s.followers(ctx, peer)
	if err != nil {
		return err
	}
	span := s.o.span(10 * time.Second)
	for _, consistent := range []bool{false, true} {
		var ours, theirs []*Result
		var ourWrites, theirWrites []float64
		for run := range s.o.Runs {
			prefix := fmt.Sprintf("mix%d-%t", run, consistent)
			r, w, err := s.mixedRun(ctx, f, prefix, consistent, span)
			if err != nil {
				return err
			}
			if err := peer.seed(ctx, ef, prefix+"-read"); err != nil {
				return err
			}
			args := []string{"mixed", "--endpoints", ef, "--clients", "64", "--duration", span.String(), "--prefix", prefix + "-read",
				"--write-rate", strconv.Itoa(mixedOtherRate), "--same-rate", strconv.Itoa(mixedSameRate)}
			if !consistent {
				args = append(args, "--serializable")
			}
			e, err := peer.measure(ctx, args...)
			if err != nil {
				return err
			}
			ours, theirs = append(ours, r), append(theirs, &e.Result)
			ourWrites = append(ourWrites, w)
			theirWrites = append(theirWrites, float64(e.Writes)/e.Seconds)
		}
		id, name := "9d", "local reads/s vs etcd serializable"
		if consistent {
			id, name = "9e", "?consistent reads/s vs etcd linearizable"
		}
		s.versus(id, name+fmt.Sprintf(", slug of 100, 64 clients on a follower, %d+%d writes/s", mixedOtherRate, mixedSameRate),
			ours, theirs, fmt.Sprintf("writes through: %.0f/s vs %.0f/s", median(ourWrites), median(theirWrites)))
	}
	return nil
}

// mixedRun is one mixed measurement on Roster: the reads' result and the
// writes acknowledged per second.
func (s *suite) mixedRun(ctx context.Context, addr, prefix string, consistent bool, span time.Duration) (*Result, float64, error) {
	var wg sync.WaitGroup
	var other, same paced
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(2)
	go func() {
		defer wg.Done()
		other = s.pacedWrites(wctx, addr, prefix+"-other", mixedOtherRate, span, nil)
	}()
	go func() {
		defer wg.Done()
		same = s.pacedTo(wctx, addr, prefix, mixedSameRate, span, nil, func(k int) (string, string) {
			return prefix + "-read", "r" + strconv.Itoa(k%100) // the slug the readers read
		})
	}()
	r, err := s.load(ctx, LoadConfig{Addrs: []string{addr}, Mode: ModeRead, Clients: 64, Duration: span,
		InstancesPerSlug: 100, Consistent: consistent, Prefix: prefix})
	cancel()
	wg.Wait()
	if err != nil {
		return nil, 0, err
	}
	writes := float64(len(other.lat)+len(same.lat)) / max(other.elapsed, same.elapsed).Seconds()
	return r, writes, nil
}
