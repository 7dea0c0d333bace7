package agent

import (
	"log/slog"
	"net"
	"sync"
	"time"
)

// perClientListener caps the connections one client address may hold open
// (as Consul's http_max_conns_per_client does): one host opening hundreds
// of slow connections cannot take every descriptor of the agent. An
// excess connection is closed as soon as it is accepted, before TLS or
// HTTP reads anything from it.
type perClientListener struct {
	net.Listener
	max int
	log *slog.Logger

	mu      sync.Mutex
	open    map[string]int
	warned  map[string]time.Time
	refused uint64
}

func limitPerClient(ln net.Listener, max int, log *slog.Logger) net.Listener {
	if max <= 0 {
		return ln
	}
	return &perClientListener{Listener: ln, max: max, log: log, open: map[string]int{}, warned: map[string]time.Time{}}
}

func (l *perClientListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		l.mu.Lock()
		if l.open[host] >= l.max {
			l.refused++
			warn := time.Since(l.warned[host]) > time.Minute
			if warn {
				l.warned[host] = time.Now()
			}
			l.mu.Unlock()
			c.Close()
			if warn {
				l.log.Warn("refusing connections from a client over its limit (--http-max-conns-per-client)",
					"client", host, "limit", l.max)
			}
			continue
		}
		l.open[host]++
		l.mu.Unlock()
		return &countedConn{Conn: c, release: func() { l.release(host) }}, nil
	}
}

func (l *perClientListener) release(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[host]--; l.open[host] <= 0 {
		delete(l.open, host)
	}
}

// countedConn gives its slot back once, when closed.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
