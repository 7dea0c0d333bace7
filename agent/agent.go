// Package agent starts a whole Roster agent: the node engine and its HTTP
// API on one listener. The CLI's `roster agent` and the test cluster both
// start agents only through Start, so there is one copy of the wiring.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rosterhq/roster/httpapi"
	"github.com/rosterhq/roster/internal/oneshot"
	"github.com/rosterhq/roster/node"
	"github.com/rosterhq/roster/node/health"
	"github.com/rosterhq/roster/registrator"
)

// DefaultMaxConnsPerClient is how many connections one client address may
// hold open to the HTTP API (Consul's default is 200 too).
const DefaultMaxConnsPerClient = 200

// Agent is a running node with its HTTP server.
type Agent struct {
	Node   *node.Node
	api    *httpapi.Server
	health *health.Checker
	reg    *registrator.Registrator
	srv    *http.Server
	log    *slog.Logger

	once    sync.Once
	served  chan struct{}
	serveMu sync.Mutex
	err     error
}

// Config is everything an agent is started with.
type Config struct {
	Node   node.Config
	Health health.Settings
	HTTP   httpapi.Options
	// ACL: whether requests need tokens (default: when the agent is
	// reachable from other machines).
	ACL ACLMode
	// Docker, when set, registers this node's Docker containers from
	// their DeMi labels (registrator package).
	Docker *DockerConfig
}

// DockerConfig turns on the registrator.
type DockerConfig struct {
	// Namespace is the label prefix: demi (every site) or demi.SITE.
	Namespace string
	// Token is the registrator's token when the cluster requires tokens
	// (instance:view, instance:edit, instance:delete, instance:status,
	// kv:view, kv:edit).
	Token string
}

// Start opens the node and serves its API on cfg.Node.HTTPAddr. The HTTP
// port is taken first, so a port clash fails before any state is touched.
func Start(c Config) (*Agent, error) {
	cfg, opts := c.Node, c.HTTP
	settings, err := c.Health.WithDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = node.DefaultConfig().HTTPAddr
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen for HTTP on %s: %w", cfg.HTTPAddr, err)
	}
	n, err := node.Open(cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = log.With("component", "http", "node", n.ID())
	}
	a := &Agent{Node: n, log: log, served: make(chan struct{})}
	if opts.OnLeave == nil {
		opts.OnLeave = func() {
			if err := a.Leave(10 * time.Second); err != nil {
				log.Warn("leave", "err", err)
			}
		}
	}
	// One road to the leader: the checker proposes its status batches on
	// it, and the HTTP layer forwards writes and read indexes on it; the
	// HTTP layer hands heartbeats to the checker.
	if opts.Forwarder == nil {
		opts.Forwarder = httpapi.NewForwarder(n, 0, log.With("component", "forward", "node", n.ID()))
	}
	// A client agent's replica streams travel the same road, and a
	// leader's read indexes are proven by asking the voters on it.
	n.FollowServers(opts.Forwarder.OpenReplica)
	n.SetFollowerCheck(opts.Forwarder.CheckFollower)
	// Instances on loopback are only for a cluster of one machine; the
	// proxy and the checks share one target policy.
	settings.Targets.Loopback = n.LoopbackOnly()
	if opts.ACL, err = c.ACL.resolve(n.LoopbackOnly(), cfg.Insecure, cfg.TLS != nil, log); err != nil {
		n.Close()
		ln.Close()
		return nil, err
	}
	opts.Targets = settings.Targets
	a.health = health.New(health.Config{
		Node:     n,
		Settings: settings,
		Submit:   opts.Forwarder.ProposeStatuses,
		Logger:   log.With("component", "health", "node", n.ID()),
	})
	opts.Health = a.health
	if c.Docker != nil {
		if a.reg, err = newRegistrator(n, *c.Docker, log); err != nil {
			n.Close()
			ln.Close()
			return nil, err
		}
		opts.Registrator = a.reg
	}
	a.api = httpapi.New(n, opts)
	a.health.Start()
	// A client gets 10 s for its headers and 30 s for its whole request
	// (a body sent a byte at a time no longer holds a connection for
	// good); blocking reads are not cut: the handler's time is not the
	// request's.
	a.srv = &http.Server{Handler: a.api.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: httpapi.ServerMaxHeaderBytes}
	maxConns := opts.MaxConnsPerClient
	if maxConns == 0 {
		maxConns = DefaultMaxConnsPerClient
	}
	ln = oneshot.Listener{Listener: limitPerClient(ln, maxConns, log.With("component", "http", "node", n.ID()))}
	a.srv.ConnContext = oneshot.ConnContext
	serve := func() error { return a.srv.Serve(ln) }
	if cfg.TLS != nil {
		// HTTPS on the same port: users need no certificate, the routes
		// between nodes take a node's (httpapi/peers.go).
		a.srv.TLSConfig = cfg.TLS.HTTPServer()
		serve = func() error { return a.srv.ServeTLS(ln, "", "") }
	}
	go func() {
		defer close(a.served)
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.serveMu.Lock()
			a.err = err
			a.serveMu.Unlock()
			log.Error("HTTP server stopped", "err", err)
		}
	}()
	if a.reg != nil {
		a.reg.Start()
	}
	log.Info("agent ready", "node", n.ID(), "http", ln.Addr().String(), "self_url", n.SelfURL())
	return a, nil
}

// Done is closed when the HTTP server has stopped.
func (a *Agent) Done() <-chan struct{} { return a.served }

// Close stops the agent without leaving the cluster (a restart).
func (a *Agent) Close() error {
	return a.stop(func() error { return a.Node.Close() })
}

// Leave removes the agent from the cluster on purpose, then stops it.
func (a *Agent) Leave(timeout time.Duration) error {
	return a.stop(func() error { return a.Node.Leave(timeout) })
}

func (a *Agent) stop(closeNode func() error) error {
	var err error
	a.once.Do(func() {
		// Checks stop first: they must not propose from a node that is
		// going. The node goes next so in-flight writes fail fast rather
		// than hanging; then HTTP drains what remains.
		a.health.Stop()
		if a.reg != nil {
			a.reg.Stop()
		}
		err = closeNode()
		// Writes queued for the leader and reads waiting for a read index
		// are answered "shutting down" now rather than after their hold.
		a.api.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if serr := a.srv.Shutdown(ctx); serr != nil {
			// Requests still held (a blocking read, a write waiting for a
			// leader that is gone) would keep the agent up: cut them off.
			// The node is already stopped, so this is not a failure.
			a.log.Info("closing HTTP connections still in use after 5s", "err", serr)
			a.srv.Close()
		}
		<-a.served
	})
	return err
}

// Health is the agent's health checker.
func (a *Agent) Health() *health.Checker { return a.health }
