// Package oneshottest counts the writes that reach a server's connections,
// for tests of what leaves in one write (internal/oneshot).
package oneshottest

import (
	"net"
	"sync/atomic"
)

// Listener counts the writes to the connections it accepts.
type Listener struct {
	net.Listener
	writes atomic.Int64
}

// Accept wraps the next connection.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, l: l}, nil
}

// Writes is how many writes reached the accepted connections so far.
func (l *Listener) Writes() int { return int(l.writes.Load()) }

type conn struct {
	net.Conn
	l *Listener
}

func (c *conn) Write(p []byte) (int, error) {
	c.l.writes.Add(1)
	return c.Conn.Write(p)
}
