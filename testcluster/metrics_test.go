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

	// Every alive node's newest sample has an age, and it is young.
	if ages := after["roster_gossip_usage_sample_age_seconds"]; ages == nil || len(ages.GetMetric()) != 3 {
		t.Errorf("sample ages: %v", ages)
	} else {
		for _, m := range ages.GetMetric() {
			if age := m.GetGauge().GetValue(); age < 0 || age > 30 {
				t.Errorf("a sample %v s old", age)
			}
		}
	}
	// The five writes reached the leader in forwarded batches.
	l := c.Leader()
	if h := scrape(t, c, l)["roster_forward_batch_writes"]; h == nil || h.GetMetric()[0].GetHistogram().GetSampleSum() < 5 {
		t.Errorf("forwarded batches on the leader: %v", h)
	}
	// Tcp checks run (on whichever node owns each instance), and fail
	// for one where nothing listens.
	register(t, c, f, "http://127.0.0.1:1", "closed")
	within(t, 30*time.Second, "tcp checks counted, failed ones too", func() error {
		var ran, failed float64
		for _, i := range c.Running() {
			fams := scrape(t, c, i)
			ran += value(fams, "roster_health_checks_total", map[string]string{"type": "tcp"})
			failed += value(fams, "roster_health_checks_failed_total", map[string]string{"type": "tcp"})
		}
		if ran < 5 || failed < 1 {
			return fmt.Errorf("%v tcp checks, %v failed", ran, failed)
		}
		return nil
	})

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
