// Package faultnet is the switch in the middle of a node's network paths
// that tests use to inject faults: the memberlist transport, the Raft stream
// layer and the HTTP client that forwards to the leader all dial and send
// through a *Switch. A nil *Switch (production) is a plain pass-through.
//
// A Switch governs what its node sends: connections it opens and packets it
// writes. Blocking an address drops packets to it, makes new dials to it
// hang until their timeout (as a dropped SYN does) and breaks the open
// connections this node made to it. A symmetric partition blocks each side
// on the other's switch; blocking on one side only cuts one direction of
// initiation (the other side can still open connections and be answered).
// Slowing an address delays every packet and every write to it.
package faultnet

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// ErrBlocked is the cause inside the timeout error of a blocked dial.
var ErrBlocked = errors.New("faultnet: address blocked")

// Switch holds one node's faults.
type Switch struct {
	mu      sync.Mutex
	blocked map[string]bool
	delay   map[string]time.Duration
	conns   map[*conn]struct{}
	// changed is closed and replaced on every change, waking blocked dials
	// so that they fail at once after a heal instead of at their timeout.
	changed chan struct{}
}

// New returns a switch with no faults.
func New() *Switch {
	return &Switch{
		blocked: map[string]bool{},
		delay:   map[string]time.Duration{},
		conns:   map[*conn]struct{}{},
		changed: make(chan struct{}),
	}
}

// Block stops traffic from this node to addrs (host:port) and breaks the
// connections this node opened to them.
func (s *Switch) Block(addrs ...string) {
	if s == nil {
		return
	}
	var cut []*conn
	s.mu.Lock()
	for _, a := range addrs {
		s.blocked[norm(a)] = true
	}
	for c := range s.conns {
		if s.blocked[c.remote] {
			cut = append(cut, c)
		}
	}
	s.changedLocked()
	s.mu.Unlock()
	for _, c := range cut {
		c.Conn.Close()
	}
}

// Slow delays every packet and write from this node to addrs by d
// (0 removes the delay).
func (s *Switch) Slow(d time.Duration, addrs ...string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range addrs {
		if d <= 0 {
			delete(s.delay, norm(a))
		} else {
			s.delay[norm(a)] = d
		}
	}
	s.changedLocked()
}

// Heal removes every fault.
func (s *Switch) Heal() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.blocked)
	clear(s.delay)
	s.changedLocked()
}

func (s *Switch) changedLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// state tells whether addr is blocked now and by how much it is slowed.
func (s *Switch) state(addr string) (blocked bool, delay time.Duration, changed <-chan struct{}) {
	if s == nil {
		return false, 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := norm(addr)
	return s.blocked[a], s.delay[a], s.changed
}

// Blocked reports whether this node's traffic to addr is dropped.
func (s *Switch) Blocked(addr string) bool {
	b, _, _ := s.state(addr)
	return b
}

// Delay is the delay added to this node's traffic to addr.
func (s *Switch) Delay(addr string) time.Duration {
	_, d, _ := s.state(addr)
	return d
}

// DialContext dials through the switch: a blocked address waits until the
// context ends or the address is unblocked, then fails as a dial timeout.
func (s *Switch) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	if s == nil {
		return d.DialContext(ctx, network, addr)
	}
	for {
		blocked, _, changed := s.state(addr)
		if !blocked {
			break
		}
		select {
		case <-ctx.Done():
			return nil, &net.OpError{Op: "dial", Net: network, Addr: tcpAddr(addr), Err: timeoutError{}}
		case <-changed:
		}
	}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return s.track(c, addr), nil
}

// DialTimeout is DialContext with a timeout, the form memberlist and Raft use.
func (s *Switch) DialTimeout(network, addr string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.DialContext(ctx, network, addr)
}

func (s *Switch) track(c net.Conn, addr string) net.Conn {
	w := &conn{Conn: c, s: s, remote: norm(addr)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.blocked[w.remote] {
		c.Close() // blocked while dialling
	}
	s.conns[w] = struct{}{}
	return w
}

// conn is a connection this node opened; it fails once its remote is
// blocked and delays writes while its remote is slowed.
type conn struct {
	net.Conn
	s      *Switch
	remote string
	once   sync.Once
}

func (c *conn) Write(b []byte) (int, error) {
	blocked, delay, _ := c.s.state(c.remote)
	if blocked {
		c.Conn.Close()
		return 0, &net.OpError{Op: "write", Net: "tcp", Addr: c.RemoteAddr(), Err: ErrBlocked}
	}
	if delay > 0 {
		time.Sleep(delay)
	}
	return c.Conn.Write(b)
}

func (c *conn) Read(b []byte) (int, error) {
	if c.s.Blocked(c.remote) {
		c.Conn.Close()
		return 0, &net.OpError{Op: "read", Net: "tcp", Addr: c.RemoteAddr(), Err: ErrBlocked}
	}
	return c.Conn.Read(b)
}

func (c *conn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}

// timeoutError is what a dial into a partition ends with.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout (" + ErrBlocked.Error() + ")" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
func (timeoutError) Unwrap() error   { return ErrBlocked }

func tcpAddr(addr string) net.Addr {
	a, _ := net.ResolveTCPAddr("tcp", addr)
	if a == nil {
		return nil
	}
	return a
}

// norm makes "localhost:1" and "127.0.0.1:1" different keys but strips
// nothing else; callers block the exact addresses the node dials.
func norm(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return net.JoinHostPort(host, port)
}
