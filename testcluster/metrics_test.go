package testcluster

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads node i's /metrics with Prometheus' own parser.
func scrape(t *testing.T, c *Cluster, i int) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(c.Member(i).URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: HTTP %d: %s", resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value is the sum of a family's series whose labels include want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f, ok := fams[name]
	if !ok {
		return -1
	}
	var sum float64
	for _, m := range f.GetMetric() {
		match := true
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

// The figures move with what happens: writes, proxied requests, an
// election after the leader is killed.
func TestMetricsMoveWithWritesAndElections(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3})
	f := follower(c)
	before := scrape(t, c, f)
	for _, name := range []string{"roster_raft_term", "roster_catalog_instances",
		"roster_gossip_members", "roster_raft_leader", "go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := before[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
	for i := range 5 {
		register(t, c, f, fmt.Sprintf("http://10.9.9.%d:80", i+1), "metered")
	}
	http.Get(c.Member(f).URL + "/metered/x") // proxied (the instance is unreachable: 502 or 503)
	http.Get(c.Member(f).URL + "/nosuchslug/x")
	after := scrape(t, c, f)
	reg := map[string]string{"route": "/registry-svc/instance", "method": "PUT", "code": "201"}
	if d := value(after, "roster_http_requests_total", reg) - max(value(before, "roster_http_requests_total", reg), 0); d != 5 {
		t.Errorf("registrations counted: %v, want 5", d)
	}
	if n := value(after, "roster_catalog_instances", nil); n != 5 {
		t.Errorf("catalog instances: %v, want 5", n)
	}
	if n := value(after, "roster_proxy_requests_total", map[string]string{"slug": "metered"}); n != 1 {
		t.Errorf("proxied requests of slug metered: %v, want 1", n)
	}
	if n := value(after, "roster_proxy_requests_total", map[string]string{"slug": ""}); n != 1 {
		t.Errorf("proxied requests of an unknown slug (no label): %v, want 1", n)
	}
	if n := value(after, "roster_gossip_members", map[string]string{"state": "alive"}); n != 3 {
		t.Errorf("alive members: %v", n)
	}
	if n := value(after, "roster_raft_leader", nil); n != 0 {
		t.Errorf("a follower says it leads: %v", n)
	}

	l := c.Leader()
	term := value(after, "roster_raft_term", nil)
	if err := c.Kill(l); err != nil {
		t.Fatal(err)
	}
	within(t, 15*time.Second, "a new term in the metrics", func() error {
		if got := value(scrape(t, c, f), "roster_raft_term", nil); got <= term {
			return fmt.Errorf("term %v, was %v", got, term)
		}
		return nil
	})
	within(t, 15*time.Second, "one survivor leads", func() error {
		var leaders float64
		for _, i := range c.Running() {
			leaders += value(scrape(t, c, i), "roster_raft_leader", nil)
		}
		if leaders != 1 {
			return fmt.Errorf("%v leaders", leaders)
		}
		return nil
	})
}
