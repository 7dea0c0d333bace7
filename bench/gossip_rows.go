package bench

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gometrics "github.com/hashicorp/go-metrics/compat"

	"github.com/rosterhq/roster/gossip"
	"github.com/rosterhq/roster/gossip/collect"
	"github.com/rosterhq/roster/testcluster"
)

// gossipRows measures real memberlist pools in this process, one size at a
// time: how fast one node's usage sample reaches the others (6), the bytes
// each member sends per second (6b), and how fast a death is known to 99%
// of the members (6c). Per-member bandwidth must stay flat as the pool
// grows: usage samples ride memberlist's piggybacked broadcasts, and the
// sampling interval stretches with the pool (gossip/publish.go).
func (s *suite) gossipRows(ctx context.Context) error {
	sent := installByteCounter()
	var bw, deaths []string
	for _, n := range s.o.GossipSizes {
		p, err := startPool(ctx, n, s.dir)
		if err != nil && ctx.Err() == nil {
			// All members share this machine's cores: past some size
			// they starve each other's probes and the pool never
			// settles. That is the row's finding; larger pools are not
			// tried.
			s.add("6", fmt.Sprintf("gossip: a pool of %d members on this machine", n), "did not form",
				fmt.Sprintf("%v (every member in one process on %d cores)", err, runtime.NumCPU()))
			break
		}
		if err != nil {
			return err
		}
		err = s.measurePool(ctx, p, sent, &bw, &deaths)
		p.stop()
		if err != nil {
			return fmt.Errorf("%d nodes: %w", n, err)
		}
	}
	s.add("6b", "gossip: bytes/s each member sends (UDP + TCP)", strings.Join(bw, ", "),
		"memberlist's own counters over a steady window, divided by the members; usage samples included")
	s.add("6c", "gossip: a death known to 99% of members", strings.Join(deaths, ", "),
		"one member stops without leaving; memberlist's suspicion timeout grows with log(members)")
	return nil
}

func (s *suite) measurePool(ctx context.Context, p *pool, sent *byteCounter, bw, deaths *[]string) error {
	n := len(p.members)
	var p50s, p99s []float64
	name := fmt.Sprintf("gossip: a usage sample reaches %d nodes", n)
	for range s.o.Runs {
		lat, missed, err := sampleSpread(ctx, p.members)
		if err != nil {
			return err
		}
		if missed > 0 {
			// A finding, not a failure of the benchmark: the table says
			// so. Push/pull anti-entropy brings the sample later.
			s.add("6", name, fmt.Sprintf("reached %d of %d within %v", n-1-missed, n-1, spreadLimit),
				fmt.Sprintf("p50 %.0f ms among those reached; the rest get it by push/pull anti-entropy", ms(lat.P50)))
			p50s = nil
			break
		}
		p50s, p99s = append(p50s, ms(lat.P50)), append(p99s, ms(lat.P99))
	}
	if p50s != nil {
		s.add("6", name, fmt.Sprintf("99%% in %.0f ms", median(p99s)),
			fmt.Sprintf("p50 %.0f ms (medians of %d samples, polled every 20 ms; the sample interval here is %v)",
				median(p50s), s.o.Runs, p.members[0].UsageInterval().Round(time.Second)))
	}
	window := s.o.span(20 * time.Second)
	before := sent.total()
	start := time.Now()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(window):
	}
	perMember := (sent.total() - before) / time.Since(start).Seconds() / float64(n)
	*bw = append(*bw, fmt.Sprintf("%d: %.1f KB/s", n, perMember/1000))

	d, err := deathSpread(ctx, p)
	if err != nil {
		return err
	}
	*deaths = append(*deaths, fmt.Sprintf("%d: %.1f s", n, d.Seconds()))
	return nil
}

// pool is an in-process gossip pool.
type pool struct {
	members  []*gossip.Gossip
	samplers []*collect.Sampler
	stopped  []bool
}

func (p *pool) stop() {
	var wg sync.WaitGroup
	for i, g := range p.members {
		if !p.stopped[i] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				g.Shutdown()
			}()
		}
	}
	wg.Wait()
	for _, sm := range p.samplers {
		sm.Close()
	}
}

// startPool starts n members joined through the first and waits until
// every member knows every other.
func startPool(ctx context.Context, n int, dir string) (*pool, error) {
	base, err := testcluster.FreeBasePort(n)
	if err != nil {
		return nil, err
	}
	p := &pool{stopped: make([]bool, n)}
	seed := []string{"127.0.0.1:" + strconv.Itoa(base)}
	for i := range n {
		sm := collect.New(collect.Options{DiskPath: dir})
		p.samplers = append(p.samplers, sm)
		g, err := gossip.New(gossip.Config{
			BindAddr: "127.0.0.1:" + strconv.Itoa(base+i), AdvertiseIP: "127.0.0.1", Timing: "lan",
			Sampler: sm, Meta: gossip.Meta{ID: fmt.Sprintf("g%04d", i), URL: fmt.Sprintf("http://127.0.0.1:%d", 40000+i)},
		})
		if err != nil {
			p.stopped = p.stopped[:len(p.members)]
			p.stop()
			return nil, err
		}
		p.members = append(p.members, g)
		if i > 0 {
			g.Join(ctx, seed)
		}
	}
	jctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := testcluster.Eventually(jctx, func() error {
		for _, g := range p.members {
			if k := len(g.Members()); k != n {
				return fmt.Errorf("a member knows %d of %d members", k, n)
			}
		}
		return nil
	}); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// spreadLimit is how long a sample may take to reach every node before the
// row reports the nodes it never reached.
const spreadLimit = time.Minute

// sampleSpread waits for the first member's next sample and times its
// arrival at every other member, from the moment it was taken; missed
// counts the members it did not reach within spreadLimit.
func sampleSpread(ctx context.Context, members []*gossip.Gossip) (lat Latency, missed int, err error) {
	origin := members[0]
	id := origin.Self().ID
	self := func() time.Time { v, _ := origin.Node(id); return v.LastHeartbeat }
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
	seen := make([]time.Duration, len(members)-1)
	waiting := arrivals(ctx, members[1:], seen, at, spreadLimit, func(g *gossip.Gossip) bool {
		v, ok := g.Node(id)
		return ok && !v.LastHeartbeat.Before(at)
	})
	var got []time.Duration
	for _, d := range seen {
		if d != 0 {
			got = append(got, d)
		}
	}
	return summarise(got), waiting, ctx.Err()
}

// arrivals polls every 20 ms until arrived holds for each member or limit
// passes, recording in seen the time since from; it returns how many never
// did.
func arrivals(ctx context.Context, members []*gossip.Gossip, seen []time.Duration, from time.Time, limit time.Duration,
	arrived func(*gossip.Gossip) bool) int {
	deadline := time.After(limit)
	waiting := len(members)
	for waiting > 0 {
		for i, g := range members {
			if seen[i] == 0 && arrived(g) {
				seen[i] = max(time.Since(from), time.Millisecond)
				waiting--
			}
		}
		select {
		case <-ctx.Done():
			return waiting
		case <-deadline:
			return waiting
		case <-time.After(20 * time.Millisecond):
		}
	}
	return 0
}

// deathSpread stops the last member without leaving and returns the time
// until 99% of the others report it dead.
func deathSpread(ctx context.Context, p *pool) (time.Duration, error) {
	last := len(p.members) - 1
	victim := p.members[last].Self().ID
	from := time.Now()
	p.members[last].Shutdown()
	p.stopped[last] = true
	others := p.members[:last]
	seen := make([]time.Duration, len(others))
	arrivals(ctx, others, seen, from, 2*time.Minute, func(g *gossip.Gossip) bool {
		m, ok := g.Member(victim)
		return ok && m.State == gossip.StateDead
	})
	var got []time.Duration
	for _, d := range seen {
		if d != 0 {
			got = append(got, d)
		}
	}
	if len(got)*100 < len(others)*99 {
		return 0, fmt.Errorf("the death reached %d of %d members in 2 minutes", len(got), len(others))
	}
	slices.Sort(got)
	return got[(len(others)*99+99)/100-1], ctx.Err()
}

// byteCounter sums memberlist's sent-bytes counters (process-wide: every
// member of an in-process pool adds to it).
type byteCounter struct {
	mu  sync.Mutex
	sum float64
}

var (
	counterOnce sync.Once
	counter     = &byteCounter{}
)

// installByteCounter points go-metrics' process-wide instance at the
// counter (once: `make bench` runs in its own process).
func installByteCounter() *byteCounter {
	counterOnce.Do(func() {
		cfg := gometrics.DefaultConfig("bench")
		cfg.EnableHostname, cfg.EnableRuntimeMetrics = false, false
		_, _ = gometrics.NewGlobal(cfg, counter)
	})
	return counter
}

func (c *byteCounter) total() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sum
}

func (c *byteCounter) add(key []string, val float32) {
	k := strings.Join(key, ".")
	if strings.HasSuffix(k, "memberlist.udp.sent") || strings.HasSuffix(k, "memberlist.tcp.sent") {
		c.mu.Lock()
		c.sum += float64(val)
		c.mu.Unlock()
	}
}

func (c *byteCounter) SetGauge([]string, float32)                               {}
func (c *byteCounter) SetGaugeWithLabels([]string, float32, []gometrics.Label)  {}
func (c *byteCounter) EmitKey([]string, float32)                                {}
func (c *byteCounter) IncrCounter(key []string, val float32)                    { c.add(key, val) }
func (c *byteCounter) AddSample([]string, float32)                              {}
func (c *byteCounter) AddSampleWithLabels([]string, float32, []gometrics.Label) {}
func (c *byteCounter) IncrCounterWithLabels(key []string, val float32, _ []gometrics.Label) {
	c.add(key, val)
}
