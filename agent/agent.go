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

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi"
	"github.com/rosterhq/roster/node"
	"github.com/rosterhq/roster/node/health"
)

// Agent is a running node with its HTTP server.
type Agent struct {
	Node   *node.Node
	api    *httpapi.Server
	health *health.Checker
	srv    *http.Server
	log    *slog.Logger

	once    sync.Once
	served  chan struct{}
	serveMu sync.Mutex
	err     error
}

// Start opens the node and serves its API on cfg.HTTPAddr. The HTTP port is
// taken first, so a port clash fails before any state is touched.
func Start(cfg node.Config, opts httpapi.Options) (*Agent, error) {
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:11337"
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
	// The checker proposes through the HTTP layer, which forwards to the
	// leader; the HTTP layer hands heartbeats to the checker.
	a.health = health.New(health.Config{
		Node:   n,
		Submit: func(ctx context.Context, us []api.StatusUpdate) error { return a.api.ProposeStatuses(ctx, us) },
		Logger: log.With("component", "health", "node", n.ID()),
	})
	opts.Health = a.health
	a.api = httpapi.New(n, opts)
	a.health.Start()
	a.srv = &http.Server{Handler: a.api.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		defer close(a.served)
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.serveMu.Lock()
			a.err = err
			a.serveMu.Unlock()
			log.Error("HTTP server stopped", "err", err)
		}
	}()
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
