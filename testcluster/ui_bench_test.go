package testcluster

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/gossip"
	"github.com/rosterhq/roster/gossip/collect"
	"github.com/rosterhq/roster/httpapi/client"
)

// BenchmarkWebUIAtScale renders 5,000 instances and 200 nodes (3 agents
// and 197 gossip members on loopback, real memberlist) in Debian's
// chromium and reports, per page, the first contentful paint and the time
// until every row is on the page, from navigation start. `make bench` runs
// it once (-benchtime 1x); it asserts no time.
func BenchmarkWebUIAtScale(b *testing.B) {
	ctx := browser(b, 1280, 800)
	c := startCluster(b, Options{Nodes: 3})
	f := follower(c)
	const instances, members = 5000, 197
	register5000(b, c.Client(f), instances)
	total := members + 3
	joined := false
	for b.Loop() {
		// The instances page first, then the members join for the nodes
		// page: 197 memberlist members on these 2 cores would otherwise
		// take the CPU the instances page is measured on.
		measure(b, ctx, c.Member(f).URL, "instances", "[data-test=instance]", instances)
		if !joined {
			joinMembers(b, c, members)
			joined = true
		}
		within(b, 2*time.Minute, "every member in the follower's view", func() error {
			nodes, err := c.Client(f).ListNodes(b.Context(), client.ListNodesRequest{})
			if err != nil || len(nodes) < total {
				return fmt.Errorf("%d nodes, %v", len(nodes), err)
			}
			return nil
		})
		measure(b, ctx, c.Member(f).URL, "nodes", "[data-test=node]", total)
	}
}

func measure(b *testing.B, ctx context.Context, base, page, selector string, rows int) {
	fcp, settled := renderTimes(b, ctx, base+"/ui/#/"+page, selector, rows)
	b.ReportMetric(fcp, page+"-first-paint-ms")
	b.ReportMetric(settled, page+"-settled-ms")
	b.Logf("%s: %d rows, first contentful paint %.0f ms, every row shown %.0f ms", page, rows, fcp, settled)
}

// renderTimes loads a page afresh and reads, from the browser's own clock,
// the first contentful paint and when rows rows were in the document.
func renderTimes(b *testing.B, ctx context.Context, url, selector string, rows int) (fcp, settled float64) {
	b.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(url)); err != nil {
		b.Fatal(err)
	}
	js := `new Promise(done => { const f = () => document.querySelectorAll('` + selector + `').length >= ` + strconv.Itoa(rows) +
		` ? done(performance.now()) : requestAnimationFrame(f); f(); })`
	tctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	settled, err := chromedp.Run(tctx, chromedp.Evaluate[float64](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.Fatalf("%s: %v", url, err)
	}
	fcp, err = chromedp.Run(ctx, chromedp.Evaluate[float64](`performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1`))
	if err != nil {
		b.Fatal(err)
	}
	return fcp, settled
}

// register5000 registers n instances in 100-instance slugs, 32 at a time.
func register5000(b *testing.B, cl *client.Client, n int) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := int(next.Add(1)) - 1; k < n; k = int(next.Add(1)) - 1 {
				_, err := cl.RegisterInstance(b.Context(), client.RegisterRequest{
					URL: fmt.Sprintf("http://10.%d.%d.%d:80", 30+k/65536, k/256%256, k%256), Slug: fmt.Sprintf("svc-%02d", k/100),
					Check: &api.Check{Type: api.CheckNone}, Meta: map[string]string{"n": strconv.Itoa(k)},
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

// joinMembers adds n gossip members (each sampling this machine) to the
// cluster's pool: nodes without Raft, as the Nodes page lists them.
func joinMembers(b *testing.B, c *Cluster, n int) {
	b.Helper()
	base, err := FreeBasePort(n)
	if err != nil {
		b.Fatal(err)
	}
	seed := []string{c.Member(0).Config.GossipAddr}
	for i := range n {
		sm := collect.New(collect.Options{DiskPath: b.TempDir()})
		g, err := gossip.New(gossip.Config{
			// LAN timings, as members spread over machines would run:
			// the local timings' probing of 200 members would take the
			// cores the browser is measured on.
			BindAddr: "127.0.0.1:" + strconv.Itoa(base+i), AdvertiseIP: "127.0.0.1", Timing: "lan",
			Sampler: sm, StatusInterval: 5 * time.Second,
			Meta: gossip.Meta{ID: fmt.Sprintf("m%03d", i), URL: fmt.Sprintf("http://127.0.0.1:%d", 45000+i), AZ: fmt.Sprintf("az%d", i%3+1)},
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			g.Shutdown()
			sm.Close()
		})
		g.Join(b.Context(), seed)
	}
}
