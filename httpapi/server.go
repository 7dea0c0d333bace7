// Package httpapi serves Roster's HTTP API with gin over a Node (a
// *node.Node in an agent): the Registry Svc routes, the leader's side of
// forwarding, consistent and blocking reads, the proxy, and one error
// table. Calls to the leader go through package forward.
package httpapi

import (
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/forward"
	"github.com/rosterhq/roster/internal/oneshot"
	"github.com/rosterhq/roster/node/health"
)

// Options tune the server.
type Options struct {
	// Forwarder is this node's road to the leader (the agent shares it with
	// the health checker); nil builds one with the default hold.
	Forwarder *forward.Forwarder
	// OnLeave is called by PUT /registry-svc/agent/leave to make this agent
	// leave the cluster and stop; nil disables the endpoint.
	OnLeave func()
	// Health is this node's health checker: it takes heartbeats, names the
	// default check and reports self-preservation. nil: no checks run here.
	Health *health.Checker
	// Debug serves Go's profiler under /debug/pprof/ (as Consul's
	// enable_debug): for finding where time and memory go.
	Debug bool
	// Targets are the addresses instances may point at (the proxy's and
	// the checks' policy; the agent passes the checker's).
	Targets health.Targets
	// AllowOrigins are browser origins besides the node's own that may
	// call the registry API (--allow-origin).
	AllowOrigins []string
	// ProxyTimeout bounds the wait for an instance's response headers
	// (default 30s); ProxyConcurrency the proxied requests in flight per
	// slug on this node (default 256).
	ProxyTimeout     time.Duration
	ProxyConcurrency int
	// MaxBlockingReads caps the blocking reads (?index=) this node holds
	// parked at once (default 4096); more answer 429 with Retry-After.
	MaxBlockingReads int
	// WriteTimeout bounds the writing of one answer (default 30s); a
	// blocking read's starts when its wait ends, and proxied answers,
	// which may stream for long, have none.
	WriteTimeout time.Duration
	// WriteSpacing: while this node is busy answering reads (busyReadRate
	// or more a second), the writes it forwards leave for the leader at
	// most one batch per WriteSpacing (0: always at once). See
	// forward.Forwarder.SpaceWhen.
	WriteSpacing time.Duration
	// MaxConnsPerClient caps the connections one client address holds
	// open (default 200, negative: no cap); the agent enforces it.
	MaxConnsPerClient int
	// ACL makes every public route (but the health probes, the ACL
	// bootstrap and the proxy) take a token with its permission.
	ACL bool
	// LibraryMetrics, when set, is served at /metrics beside Roster's own
	// (BridgeLibraryMetrics: raft's and memberlist's).
	LibraryMetrics prometheus.Gatherer
	// Quota bounds the catalog; this node stamps it into the writes it
	// builds (zero fields: no bound).
	Quota api.Quota
	// Registrator, when this agent registers its Docker containers, says
	// what it did (GET /registry-svc/registrator).
	Registrator interface{ Status() api.RegistratorStatus }
	Logger      *slog.Logger
}

// Server is the HTTP API of one node.
type Server struct {
	n       Node
	log     *slog.Logger
	onLeave func()
	health  *health.Checker
	reg     interface{ Status() api.RegistratorStatus }
	road    *forward.Forwarder
	proxy   *proxy
	lists   *listCache
	engine  *gin.Engine
	// lastRead is when this node last began a read of its catalog
	// (UnixNano): viaBatch waits for its writes' apply while reads come.
	lastRead atomic.Int64
	// ackedGaveUp is the highest answered-write index a read waited its
	// second for in vain (readYourWrites): reads do not wait for it again.
	ackedGaveUp atomic.Uint64
	// tls: the cluster runs with TLS, and the routes between nodes take
	// node certificates.
	tls          bool
	targets      health.Targets
	allowOrigins []string
	// writeTimeout is Options.WriteTimeout with its default.
	writeTimeout time.Duration
	// acl: requests need tokens (Options.ACL).
	acl bool
	// quota is stamped into growing writes; nil without bounds.
	quota *api.Quota
	// table is every public route with its permission (routes.go).
	table []Route
	// metrics is this server's Prometheus registry (metrics.go).
	metrics *metrics
	// restoring holds the one snapshot restore a node runs at a time.
	restoring chan struct{}
	// done is closed by Close: change streams end.
	done      chan struct{}
	closeOnce sync.Once
	// parked holds a slot per blocking read waiting for a change.
	parked chan struct{}
	// tokens confirms unknown tokens with the leader (tokenconfirm.go).
	tokens *tokenConfirmer
	// addrs are the nodes' URLs by host:port (nodeaddrs.go).
	addrs atomic.Pointer[nodeAddrs]
	// reads measures the rate of catalog reads answered here, blocking
	// ones (?index=) not included.
	reads rateMeter
}

// New builds the API over n.
func New(n Node, o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Forwarder == nil {
		o.Forwarder = NewForwarder(n, 0, o.Logger)
	}
	gin.SetMode(gin.ReleaseMode)
	s := &Server{n: n, log: o.Logger, onLeave: o.OnLeave, health: o.Health, reg: o.Registrator, road: o.Forwarder, lists: newListCache(),
		tls: n.PeerTLS("") != nil, targets: o.Targets, allowOrigins: o.AllowOrigins, acl: o.ACL}
	if o.MaxBlockingReads <= 0 {
		o.MaxBlockingReads = 4096
	}
	s.parked = make(chan struct{}, o.MaxBlockingReads)
	s.done = make(chan struct{})
	s.restoring = make(chan struct{}, 1)
	s.tokens = newTokenConfirmer(s)
	s.road.SpaceWhen(s.busyReading, o.WriteSpacing)
	s.writeTimeout = o.WriteTimeout
	if s.writeTimeout <= 0 {
		s.writeTimeout = 30 * time.Second
	}
	if o.Quota != (api.Quota{}) {
		q := o.Quota
		s.quota = &q
	}
	e := gin.New()
	// The node URL in DELETE /registry-svc/node/{url} arrives path-escaped.
	e.UseRawPath = true
	e.UnescapePathValues = true
	e.HandleMethodNotAllowed = true
	s.metrics = newMetrics(s, o.LibraryMetrics)
	e.Use(s.observe, s.recover, s.limitHeaders, s.writeDeadline, s.headers, s.gateForwarded, s.readYourWrites)
	s.routes(e, o)
	s.engine = e
	return s
}

// Handler is the http.Handler to serve.
func (s *Server) Handler() http.Handler { return headAsGet(s.engine) }

// NewForwarder builds a node's road to the leader over an HTTP client that
// dials through the node (so tests' fault switches cut it too).
func NewForwarder(n Node, hold time.Duration, log *slog.Logger) *forward.Forwarder {
	return forward.New(forward.Config{
		Node: n, Hold: hold, Logger: log, VoterTerm: n.VoterTerm, LearnCommit: n.LearnCommit,
		HTTP: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
			DialContext:         n.DialContext,
			TLSClientConfig:     n.PeerTLS(""),
			MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second,
		}},
		// A voter's yes and a server's replica stream only from that node:
		// with TLS its certificate must name it.
		PeerHTTP: func(expectID string) *http.Client {
			return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
				DialContext:         n.DialContext,
				TLSClientConfig:     n.PeerTLS(expectID),
				MaxIdleConnsPerHost: 8, IdleConnTimeout: 90 * time.Second,
			}}
		},
	})
}

// Close ends forwarding still under way (its callers get "shutting down")
// and releases idle forwarding and proxy connections.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.done) }) // ends change streams
	s.road.Close()
	s.tokens.close()
	s.proxy.transport.CloseIdleConnections()
}

// headers stamps every answer with this node's view of leadership.
func (s *Server) headers(c *gin.Context) {
	h := c.Writer.Header()
	known := headerFalse
	if id, _ := s.n.Leader(); id != "" {
		known = headerTrue
	}
	h["X-Registry-Known-Leader"] = known
	ms := max(s.n.LastContact().Milliseconds(), 0)
	if ms < int64(len(headerSmallInts)) {
		h["X-Registry-Last-Contact"] = headerSmallInts[ms]
	} else {
		h["X-Registry-Last-Contact"] = []string{strconv.FormatInt(ms, 10)}
	}
	c.Next()
}

// Header values every answer carries are shared, never changed slices
// (c.Header allocates a new one per call, two per answer; net/http copies
// the values when it writes the header). Keys are in canonical form.
var (
	headerTrue, headerFalse = []string{"true"}, []string{"false"}
	headerSmallInts         = func() [][]string {
		v := make([][]string, 1000) // a leader's last contact is 0, a follower's a few ms
		for i := range v {
			v[i] = []string{strconv.Itoa(i)}
		}
		return v
	}()
	headerJSON = []string{jsonContentType}
)

// writeJSON answers with a body already encoded as JSON, in one piece or
// several written in order, as c.Data would with jsonContentType, without
// allocating the header's value. The length is set, so that an answer over
// net/http's 2 KB buffer (a batch's answer, a list) goes out whole instead
// of chunked, and its reader (a follower, for a batch) reads it into one
// buffer of its size instead of growing one.
func writeJSON(c *gin.Context, status int, body ...[]byte) {
	n := 0
	for _, b := range body {
		n += len(b)
	}
	h := c.Writer.Header()
	h["Content-Type"] = headerJSON
	h["Content-Length"] = []string{strconv.Itoa(n)}
	c.Status(status)
	if n < oneWriteAbove {
		for _, b := range body {
			_, _ = c.Writer.Write(b)
		}
		return
	}
	// Headers and body in one write to the kernel (internal/oneshot).
	release := oneshot.Hold(c.Request)
	defer release() //nolint:errcheck // a failed write shows on the client's side
	for _, b := range body {
		_, _ = c.Writer.Write(b)
	}
	c.Writer.Flush()
}

// oneWriteAbove: a smaller answer and its headers fit net/http's 4 KB
// connection buffer and leave in one write anyway.
const oneWriteAbove = 3 << 10

// An instance's answer around the row's bytes: written in pieces into the
// connection's buffer rather than joined into a body of its own.
var (
	instancePrefix = []byte(`{"instance":`)
	instanceSuffix = []byte(`}`)
)

// recover turns a handler panic into a logged 500, never a dropped connection.
func (s *Server) recover(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("handler panic", append(logAttrs(c), "panic", r)...)
			c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": "internal error", "code": "internal"})
		}
	}()
	c.Next()
}

func setIndex(c *gin.Context, index uint64) {
	// Index 0 would make blocking clients spin; Consul answers 1 instead.
	c.Header("X-Registry-Index", strconv.FormatUint(max(index, 1), 10))
}

func (s *Server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok", "node": s.n.ID()})
}

// readyz is 200 while this node can take writes and answer local reads: it
// knows a leader, has applied the log, and has caught up with what it held
// before a restart (until then its local reads wait, then answer
// catching_up). A cluster that still writes with less fault tolerance than
// --voters asks for stays ready, and says "degraded" with the reasons.
func (s *Server) readyz(c *gin.Context) {
	st := s.n.Status()
	ft := st.FaultTolerance
	body := gin.H{"ready": true, "leader": st.LeaderID, "faultTolerance": ft.Tolerance, "faultToleranceWanted": ft.Wanted,
		"degraded": ft.Degraded}
	if ft.Degraded {
		body["reasons"] = ft.Reasons
	}
	switch {
	case st.LeaderID == "":
		body["ready"], body["reason"] = false, "no known leader"
	case st.AppliedIndex+1000 < st.CommitIndex:
		body["ready"], body["reason"] = false, "catching up"
		body["applied"], body["commit"] = st.AppliedIndex, st.CommitIndex
	case !s.n.CaughtUp():
		body["ready"], body["reason"] = false, "catching up: local reads are held until this node's catalog is as new as before its restart (on a client agent, until its replica stream has synced)"
		body["applied"], body["commit"] = st.AppliedIndex, st.CommitIndex
	}
	if body["ready"] == false {
		c.JSON(http.StatusServiceUnavailable, body)
		return
	}
	c.JSON(http.StatusOK, body)
}

// leave makes this agent leave the cluster; it answers before leaving.
func (s *Server) leave(c *gin.Context) {
	if s.onLeave == nil {
		c.JSON(http.StatusNotImplemented, gin.H{"error": "this agent cannot be asked to leave over HTTP", "code": "not_implemented"})
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"leaving": s.n.ID()})
	go s.onLeave()
}
