package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/fsm"
	"github.com/rosterhq/roster/gossip"
	"github.com/rosterhq/roster/gossip/collect"
	"github.com/rosterhq/roster/testcluster"
)

// fsyncRow measures the disk's ceiling for an unbatched write path: 4 KiB
// appended and fsynced, again and again, in the directory the cluster uses.
func (s *suite) fsyncRow(ctx context.Context) error {
	var rates []float64
	for range s.o.Runs {
		r, err := fsyncRate(ctx, s.dir, s.o.span(2*time.Second))
		if err != nil {
			return err
		}
		rates = append(rates, r)
	}
	s.fsync = median(rates)
	s.add("1", "disk fsync ceiling (4 KiB write + fsync)", fmt.Sprintf("%.0f/s", s.fsync), fmt.Sprintf("in %s", s.dir))
	return nil
}

func fsyncRate(ctx context.Context, dir string, d time.Duration) (float64, error) {
	f, err := os.CreateTemp(dir, "fsync-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	n := 0
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		if _, err := f.Write(buf); err != nil {
			return 0, err
		}
		if err := f.Sync(); err != nil {
			return 0, err
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds(), ctx.Err()
}

// gossipRows measures how fast one node's usage sample reaches the others,
// with real memberlist pools in this process.
func (s *suite) gossipRows(ctx context.Context) error {
	for _, n := range s.o.GossipSizes {
		p50, p99, all, missed, err := s.propagation(ctx, n)
		name := fmt.Sprintf("gossip: a usage sample reaches %d nodes", n)
		switch {
		case err != nil:
			return fmt.Errorf("%d nodes: %w", n, err)
		case missed > 0:
			// A finding, not a failure of the benchmark: the table says so.
			// Memberlist's push/pull anti-entropy brings the sample to the
			// rest later; a busy machine makes this likelier.
			s.add("6", name, fmt.Sprintf("reached %d of %d within %v", n-1-missed, n-1, spreadLimit),
				fmt.Sprintf("p50 %.0f ms among those reached; the rest get it by push/pull anti-entropy", p50))
		default:
			s.add("6", name, fmt.Sprintf("all in %.0f ms", all),
				fmt.Sprintf("p50 %.0f ms, p99 %.0f ms (medians of %d samples, polled every 20 ms)", p50, p99, s.o.Runs))
		}
	}
	return nil
}

func (s *suite) propagation(ctx context.Context, n int) (p50, p99, all float64, missed int, err error) {
	base, err := testcluster.FreeBasePort(n)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	pool := make([]*gossip.Gossip, 0, n)
	samplers := make([]*collect.Sampler, 0, n)
	defer func() {
		for _, g := range pool {
			g.Shutdown()
		}
		for _, sm := range samplers {
			sm.Close()
		}
	}()
	seed := []string{"127.0.0.1:" + strconv.Itoa(base)}
	for i := range n {
		sm := collect.New(collect.Options{DiskPath: s.dir})
		samplers = append(samplers, sm)
		g, err := gossip.New(gossip.Config{
			BindAddr: "127.0.0.1:" + strconv.Itoa(base+i), AdvertiseIP: "127.0.0.1", Timing: "lan",
			Sampler: sm, Meta: gossip.Meta{ID: fmt.Sprintf("g%03d", i), URL: fmt.Sprintf("http://127.0.0.1:%d", 40000+i)},
		})
		if err != nil {
			return 0, 0, 0, 0, err
		}
		pool = append(pool, g)
		if i > 0 {
			g.Join(ctx, seed)
		}
	}
	// Every node must know every other, with a first sample of g000.
	jctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := testcluster.Eventually(jctx, func() error {
		for _, g := range pool {
			if len(g.Members()) != n {
				return fmt.Errorf("a node knows %d of %d members", len(g.Members()), n)
			}
		}
		return nil
	}); err != nil {
		return 0, 0, 0, 0, err
	}
	var p50s, p99s, alls []float64
	for range s.o.Runs {
		lat, miss, err := sampleSpread(ctx, pool)
		if err != nil {
			return 0, 0, 0, 0, err
		}
		if miss > 0 {
			return lat.P50.Seconds() * 1000, 0, 0, miss, nil
		}
		p50s, p99s, alls = append(p50s, lat.P50.Seconds()*1000), append(p99s, lat.P99.Seconds()*1000), append(alls, lat.Max.Seconds()*1000)
	}
	return median(p50s), median(p99s), median(alls), 0, nil
}

// spreadLimit is how long a sample may take to reach every node before the
// row reports the nodes it never reached.
const spreadLimit = time.Minute

// sampleSpread waits for g000's next sample and times its arrival at every
// other node, from the moment it was taken; missed counts the nodes it did
// not reach within spreadLimit.
func sampleSpread(ctx context.Context, pool []*gossip.Gossip) (lat Latency, missed int, err error) {
	origin := pool[0]
	self := func() time.Time { v, _ := origin.Node("g000"); return v.LastHeartbeat }
	prev := self()
	var at time.Time
	for {
		if at = self(); at.After(prev) {
			break
		}
		select {
		case <-ctx.Done():
			return Latency{}, 0, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	limit := time.After(spreadLimit)
	seen := make([]time.Duration, len(pool)-1)
	waiting := len(seen)
	for waiting > 0 {
		for i, g := range pool[1:] {
			if seen[i] != 0 {
				continue
			}
			if v, ok := g.Node("g000"); ok && !v.LastHeartbeat.Before(at) {
				seen[i] = max(time.Since(at), time.Millisecond)
				waiting--
			}
		}
		select {
		case <-ctx.Done():
			return Latency{}, 0, ctx.Err()
		case <-limit:
			var got []time.Duration
			for _, d := range seen {
				if d != 0 {
					got = append(got, d)
				}
			}
			return summarise(got), waiting, nil
		case <-time.After(20 * time.Millisecond):
		}
	}
	return summarise(slices.Clone(seen)), 0, nil
}

// snapshotRow times a Raft snapshot of a 100,000-instance catalog to a real
// file store (fsync on close) and its restore into a fresh state machine.
func (s *suite) snapshotRow(ctx context.Context) error {
	n := s.o.count(100000)
	f := fsm.New(nil)
	now := time.Now().UTC()
	batch := make([]*raft.Log, 0, 256)
	for i := range n {
		in := api.Instance{URL: fmt.Sprintf("http://10.%d.%d.%d:8080/svc", i>>16&255, i>>8&255, i&255), Slug: fmt.Sprintf("svc-%d", i/100),
			Check: &api.Check{Type: api.CheckNone}}
		if err := fsm.NormalizeInstance(&in); err != nil {
			return err
		}
		data, err := (&fsm.Command{Type: fsm.CmdRegisterInstance, Register: &fsm.RegisterCommand{
			Instance: in, NewID: fmt.Sprintf("inst-%d", i), Now: now}}).Encode()
		if err != nil {
			return err
		}
		batch = append(batch, &raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: data})
		if len(batch) == cap(batch) || i == n-1 {
			f.ApplyBatch(batch)
			batch = batch[:0]
		}
	}
	store, err := raft.NewFileSnapshotStore(filepath.Join(s.dir, "snapshots"), 1, io.Discard)
	if err != nil {
		return err
	}
	start := time.Now()
	snap, err := f.Snapshot()
	if err != nil {
		return err
	}
	sink, err := store.Create(raft.SnapshotVersionMax, uint64(n), 1, raft.Configuration{}, 1, nil)
	if err != nil {
		return err
	}
	if err := snap.Persist(sink); err != nil {
		return err
	}
	took := time.Since(start)
	metas, err := store.List()
	if err != nil || len(metas) == 0 {
		return fmt.Errorf("snapshot not listed: %v", err)
	}
	_, rc, err := store.Open(metas[0].ID)
	if err != nil {
		return err
	}
	start = time.Now()
	restored := fsm.New(nil)
	if err := restored.Restore(rc); err != nil {
		return err
	}
	back := time.Since(start)
	got, _, err := restored.Instances(nil, api.InstanceFilter{})
	if err != nil || len(got) != n {
		return fmt.Errorf("restored %d of %d instances (%v)", len(got), n, err)
	}
	s.add("7c", fmt.Sprintf("snapshot / restore of %d instances", n), fmt.Sprintf("%.0f ms / %.0f ms", ms(took), ms(back)),
		fmt.Sprintf("%.1f MB on disk, file store with fsync", float64(metas[0].Size)/(1<<20)))
	return ctx.Err()
}
