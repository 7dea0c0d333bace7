package httpapi

import (
	"strings"
	"testing"

	gometrics "github.com/hashicorp/go-metrics/compat"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Library timers become histograms under the names go-metrics' sink gave
// them, one per label set; gauges and counters pass through unchanged.
func TestTimerSinkKeepsNamesAndCountsEverySample(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := newTimerSink(reg)
	if err != nil {
		t.Fatal(err)
	}
	s.AddSample([]string{"roster", "raft", "commitTime"}, 0.75)
	s.AddSample([]string{"roster", "raft", "commitTime"}, 3)
	s.AddSample([]string{"roster", "raft", "commitTime"}, 40)
	s.AddSampleWithLabels([]string{"roster", "raft", "replication", "appendEntries", "rpc"}, 2, []gometrics.Label{{Name: "peer_id", Value: "node-2"}})
	s.AddSampleWithLabels([]string{"roster", "raft", "replication", "appendEntries", "rpc"}, 9, []gometrics.Label{{Name: "peer_id", Value: "node-3"}})
	s.SetGauge([]string{"roster", "memberlist", "health", "score"}, 2)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		byName[f.GetName()] = f
		if f.GetType() == dto.MetricType_SUMMARY {
			t.Errorf("%s is a summary", f.GetName())
		}
	}
	commit := byName["roster_raft_commitTime"]
	if commit == nil || commit.GetType() != dto.MetricType_HISTOGRAM || len(commit.Metric) != 1 {
		t.Fatalf("commitTime: %v", commit)
	}
	h := commit.Metric[0].GetHistogram()
	if h.GetSampleCount() != 3 || h.GetSampleSum() != 43.75 {
		t.Errorf("commitTime: %d samples, sum %v; want 3, 43.75", h.GetSampleCount(), h.GetSampleSum())
	}
	for _, b := range h.Bucket {
		want := uint64(0)
		for _, v := range []float64{0.75, 3, 40} {
			if v <= b.GetUpperBound() {
				want++
			}
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v holds %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	rpc := byName["roster_raft_replication_appendEntries_rpc"]
	if rpc == nil || len(rpc.Metric) != 2 {
		t.Fatalf("appendEntries rpc, one per peer: %v", rpc)
	}
	for _, m := range rpc.Metric {
		if len(m.Label) != 1 || m.Label[0].GetName() != "peer_id" || m.GetHistogram().GetSampleCount() != 1 {
			t.Errorf("appendEntries rpc: %v", m)
		}
	}
	if g := byName["roster_memberlist_health_score"]; g == nil || g.GetType() != dto.MetricType_GAUGE || g.Metric[0].GetGauge().GetValue() != 2 {
		t.Errorf("gauge: %v", g)
	}
}

// A timer's ID is its Prometheus name as go-metrics' sink spells it, and
// finding an existing timer allocates nothing (it runs on every commit).
func TestTimerSinkFindsATimerWithoutAllocating(t *testing.T) {
	key := []string{"roster raft", "fsm.apply", "a=b", "x-y/z"}
	labels := []gometrics.Label{{Name: "peer_id", Value: "node-2"}}
	got := string(appendTimerID(nil, key, labels))
	goMetrics := strings.NewReplacer(" ", "_", ".", "_", "=", "_", "-", "_", "/", "_") // its sink's own replacer
	want := goMetrics.Replace(strings.Join(key, "_")) + ";peer_id=node-2"
	if got != want {
		t.Fatalf("id %q, want %q", got, want)
	}
	s, err := newTimerSink(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	s.AddSampleWithLabels(key, 1, labels)
	if n := testing.AllocsPerRun(200, func() { s.AddSampleWithLabels(key, 2, labels) }); n != 0 {
		t.Errorf("%v allocations a sample", n)
	}
	if len(s.timers) != 1 {
		t.Errorf("%d timers, want 1", len(s.timers))
	}
}
