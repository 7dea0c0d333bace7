package httpapi

import (
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/gossip/resource"
)

// Metrics: GET /metrics in Prometheus' text format, with the official
// client (no hand-written exposition). Each server has its own registry, so
// several agents in one process (a test cluster) never mix their figures.
// Request figures are counted as requests end; the node's state (Raft,
// gossip, catalog, disk) is read when Prometheus scrapes.

type metrics struct {
	reg *prometheus.Registry
	// gather is reg, with the libraries' figures when they are bridged.
	gather   prometheus.Gatherer
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	proxied  *prometheus.CounterVec
	// batches is the size of the batches of writes forwarded to this
	// node as leader.
	batches prometheus.Histogram
}

func newMetrics(s *Server, library prometheus.Gatherer) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_http_requests_total", Help: "HTTP requests answered, by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "roster_http_request_duration_seconds", Help: "Time to answer an HTTP request, by route template and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route", "method"}),
		proxied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_proxy_requests_total", Help: "Requests proxied to instances, by slug and status code (slug \"\" for no such slug).",
		}, []string{"slug", "code"}),
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "roster_forward_batch_writes", Help: "Writes per batch forwarded to this node as leader by followers.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
		}),
	}
	m.reg.MustRegister(m.requests, m.duration, m.proxied, m.batches, &stateCollector{s: s},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.gather = m.reg
	if library != nil {
		m.gather = prometheus.Gatherers{m.reg, library}
	}
	return m
}

// observe counts a request once it has been answered.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	code := strconv.Itoa(c.Writer.Status())
	if route == "" {
		route = "unmatched"
		if slugOf(c.Request.URL.Path) != "" {
			route = "/{slug}/*"
			// Only a slug the catalog knows is a label: made-up ones
			// would grow the series without bound.
			s.metrics.proxied.WithLabelValues(c.GetString(knownSlugKey), code).Inc()
		}
	}
	s.metrics.requests.WithLabelValues(route, c.Request.Method, code).Inc()
	s.metrics.duration.WithLabelValues(route, c.Request.Method).Observe(time.Since(start).Seconds())
}

// knownSlugKey holds, in a proxied request's context, its slug once the
// catalog knows it.
const knownSlugKey = "roster.slug"

func (s *Server) serveMetrics(c *gin.Context) {
	promhttp.HandlerFor(s.metrics.gather, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).ServeHTTP(c.Writer, c.Request)
}

// stateCollector reads the node's state at each scrape.
type stateCollector struct{ s *Server }

var (
	descLeader     = prometheus.NewDesc("roster_raft_leader", "1 while this node is the Raft leader.", nil, nil)
	descTerm       = prometheus.NewDesc("roster_raft_term", "This node's current Raft term.", nil, nil)
	descCommit     = prometheus.NewDesc("roster_raft_commit_index", "Raft commit index.", nil, nil)
	descApplied    = prometheus.NewDesc("roster_raft_applied_index", "Last Raft index the catalog applied.", nil, nil)
	descLastLog    = prometheus.NewDesc("roster_raft_last_log_index", "Last index in this node's Raft log.", nil, nil)
	descContact    = prometheus.NewDesc("roster_raft_last_contact_seconds", "Time since this follower last heard from the leader (0 on the leader).", nil, nil)
	descVoters     = prometheus.NewDesc("roster_raft_voters", "Voters in the Raft configuration.", nil, nil)
	descTolerance  = prometheus.NewDesc("roster_raft_fault_tolerance", "Voters that may fail with writes still working.", nil, nil)
	descMembers    = prometheus.NewDesc("roster_gossip_members", "Gossip members by state.", []string{"state"}, nil)
	descInstances  = prometheus.NewDesc("roster_catalog_instances", "Instances in this node's replica, by status.", []string{"status"}, nil)
	descDefs       = prometheus.NewDesc("roster_catalog_definitions", "Definitions in this node's replica.", nil, nil)
	descTokens     = prometheus.NewDesc("roster_catalog_tokens", "ACL tokens in this node's replica.", nil, nil)
	descBytes      = prometheus.NewDesc("roster_catalog_bytes", "Estimated size of the catalog, as the byte quota counts it.", nil, nil)
	descDiskAlarm  = prometheus.NewDesc("roster_disk_alarm", "1 while this node refuses writes for lack of disk.", nil, nil)
	descWatchers   = prometheus.NewDesc("roster_http_blocking_reads", "Blocking reads parked on this node.", nil, nil)
	descCheckUnhlt = prometheus.NewDesc("roster_health_self_preservation", "1 while automatic deregistration is paused (too many Unhealthy).", nil, nil)
	descChecks     = prometheus.NewDesc("roster_health_checks_total", "Checks this node ran, by type.", []string{"type"}, nil)
	descChecksBad  = prometheus.NewDesc("roster_health_checks_failed_total", "Checks this node ran that failed, by type.", []string{"type"}, nil)
	descSampleAge  = prometheus.NewDesc("roster_gossip_usage_sample_age_seconds", "Age of the newest resource sample of each alive node known here (by the sender's clock).", []string{"node"}, nil)
)

func (sc *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLeader, descTerm, descCommit, descApplied, descLastLog, descContact, descVoters,
		descTolerance, descMembers, descInstances, descDefs, descTokens, descBytes, descDiskAlarm, descWatchers, descCheckUnhlt, descChecks, descChecksBad, descSampleAge} {
		ch <- d
	}
}

func (sc *stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := sc.s
	st := s.n.Status()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(descLeader, boolGauge(st.LeaderID != "" && st.LeaderID == st.NodeID))
	gauge(descTerm, float64(st.Term))
	gauge(descCommit, float64(st.CommitIndex))
	gauge(descApplied, float64(st.AppliedIndex))
	gauge(descLastLog, float64(st.LastLogIndex))
	gauge(descContact, max(s.n.LastContact(), 0).Seconds())
	gauge(descVoters, float64(st.Voters))
	gauge(descTolerance, float64(st.FaultTolerance.Tolerance))
	byState := map[string]int{"alive": 0, "suspect": 0, "dead": 0, "left": 0}
	for _, m := range st.Members {
		byState[m.State]++
	}
	for state, n := range byState {
		gauge(descMembers, float64(n), state)
	}
	byStatus := map[api.Status]int{}
	for _, st := range api.Statuses {
		byStatus[st] = 0
	}
	for st, n := range s.n.FSM().InstancesByStatus() {
		byStatus[st] += n
	}
	for status, n := range byStatus {
		gauge(descInstances, float64(n), string(status))
	}
	u := s.n.FSM().Usage()
	gauge(descDefs, float64(u.Definitions))
	gauge(descTokens, float64(u.Tokens))
	gauge(descBytes, float64(u.Bytes))
	gauge(descDiskAlarm, boolGauge(st.DiskAlarm != nil))
	gauge(descWatchers, float64(len(s.parked)))
	if s.health != nil {
		gauge(descCheckUnhlt, boolGauge(s.health.Status().SelfPreservation))
		for _, n := range s.health.Counts() {
			ch <- prometheus.MustNewConstMetric(descChecks, prometheus.CounterValue, float64(n.Ran), string(n.Type))
			ch <- prometheus.MustNewConstMetric(descChecksBad, prometheus.CounterValue, float64(n.Failed), string(n.Type))
		}
	}
	now := time.Now()
	for _, n := range s.n.NodeView(false).Nodes {
		if r := n.Row; r.LastHeartbeat != nil && (r.Status == resource.StatusAlive || r.Status == resource.StatusSuspect) {
			gauge(descSampleAge, max(now.Sub(*r.LastHeartbeat), 0).Seconds(), r.ID)
		}
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
