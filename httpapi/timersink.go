package httpapi

import (
	"strings"
	"sync"

	gometrics "github.com/hashicorp/go-metrics/compat"
	gmprom "github.com/hashicorp/go-metrics/compat/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// timerSink is the go-metrics sink behind the library bridge. Gauges and
// counters go to go-metrics' Prometheus sink as they are; samples (raft's
// and memberlist's timers, emitted on every commit, RPC and probe) go into
// Prometheus histograms instead of that sink's summaries. A summary keeps
// a quantile stream per age bucket, about 110 KB each: some 3 MB live for
// the ~30 timers a busy server emits, twice that in RSS at the default
// GOGC, and a sort of its sample buffer every few hundred observations.
// A histogram is a fixed row of counters.
type timerSink struct {
	*gmprom.PrometheusSink
	mu     sync.RWMutex
	timers map[string]prometheus.Histogram // by name and labels
}

// timerBuckets are upper bounds in milliseconds, the unit go-metrics'
// timers emit: from a fast fsync to a stalled election.
var timerBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000}

// keyChars is what go-metrics' Prometheus sink replaces in a key, kept
// the same so that every figure keeps the name it had under that sink.
var keyChars = strings.NewReplacer(" ", "_", ".", "_", "=", "_", "-", "_", "/", "_")

func newTimerSink(reg prometheus.Registerer) (*timerSink, error) {
	opts := gmprom.DefaultPrometheusOpts
	opts.Registerer = reg
	inner, err := gmprom.NewPrometheusSinkFrom(opts)
	if err != nil {
		return nil, err
	}
	s := &timerSink{PrometheusSink: inner, timers: map[string]prometheus.Histogram{}}
	return s, reg.Register(timerCollector{s})
}

func (s *timerSink) AddSample(key []string, val float32) { s.AddSampleWithLabels(key, val, nil) }

func (s *timerSink) AddSampleWithLabels(key []string, val float32, labels []gometrics.Label) {
	name := keyChars.Replace(strings.Join(key, "_"))
	id := name
	for _, l := range labels {
		id += ";" + l.Name + "=" + l.Value
	}
	s.mu.RLock()
	h, ok := s.timers[id]
	s.mu.RUnlock()
	if !ok {
		s.mu.Lock()
		if h, ok = s.timers[id]; !ok {
			constLabels := prometheus.Labels{}
			for _, l := range labels {
				constLabels[l.Name] = l.Value
			}
			h = prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: name, ConstLabels: constLabels, Buckets: timerBuckets})
			s.timers[id] = h
		}
		s.mu.Unlock()
	}
	h.Observe(float64(val))
}

// timerCollector serves the histograms. It describes nothing: timers
// appear as the libraries first emit them (an unchecked collector, as
// go-metrics' own sink is).
type timerCollector struct{ s *timerSink }

func (timerCollector) Describe(chan<- *prometheus.Desc) {}

func (c timerCollector) Collect(ch chan<- prometheus.Metric) {
	c.s.mu.RLock()
	defer c.s.mu.RUnlock()
	for _, h := range c.s.timers {
		ch <- h
	}
}
