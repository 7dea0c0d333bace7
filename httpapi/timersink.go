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

// keyChars are the bytes go-metrics' Prometheus sink replaces with "_" in
// a key, kept the same so that every figure keeps the name it had under
// that sink.
const keyChars = " .=-/"

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

// AddSampleWithLabels runs on every Raft commit, append and FSM batch, so
// finding the timer allocates nothing: its ID is built in a buffer on the
// stack and looked up without becoming a string.
func (s *timerSink) AddSampleWithLabels(key []string, val float32, labels []gometrics.Label) {
	var buf [160]byte
	id := appendTimerID(buf[:0], key, labels)
	s.mu.RLock()
	h, ok := s.timers[string(id)]
	s.mu.RUnlock()
	if !ok {
		h = s.newTimer(string(id), key, labels)
	}
	h.Observe(float64(val))
}

// newTimer returns the timer of id, made on first use.
func (s *timerSink) newTimer(id string, key []string, labels []gometrics.Label) prometheus.Histogram {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := s.timers[id]; ok {
		return h
	}
	name := string(appendTimerID(nil, key, nil))
	constLabels := prometheus.Labels{}
	for _, l := range labels {
		constLabels[l.Name] = l.Value
	}
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: name, ConstLabels: constLabels, Buckets: timerBuckets})
	s.timers[id] = h
	return h
}

// appendTimerID appends a timer's ID to b: its Prometheus name (the key's
// parts joined by "_", keyChars replaced by "_") and each label as
// ";name=value".
func appendTimerID(b []byte, key []string, labels []gometrics.Label) []byte {
	for i, k := range key {
		if i > 0 {
			b = append(b, '_')
		}
		for j := 0; j < len(k); j++ {
			if c := k[j]; strings.IndexByte(keyChars, c) < 0 {
				b = append(b, c)
			} else {
				b = append(b, '_')
			}
		}
	}
	for _, l := range labels {
		b = append(append(append(append(b, ';'), l.Name...), '='), l.Value...)
	}
	return b
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
