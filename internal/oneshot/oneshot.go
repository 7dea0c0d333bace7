// Package oneshot sends an HTTP/1.1 answer of more than a few KB to the
// kernel in one write instead of two or more.
//
// net/http puts an answer's status line and headers in the connection's
// 4 KB buffer and then the body after them: a 35 KB list leaves as the
// buffer's 4 KB and the remaining 31 KB, two writes, and over TLS as one
// write a record (16 KB) besides. On loopback and on a busy machine each
// write costs about as much as the bytes it carries (the stack runs the
// receiver's side of the delivery and wakes it), and the reader is woken
// for each part: measured on a 2-core VM, a slug of 100 instances spent a
// third of the serving node's CPU in the two writes. A handler about to
// write a large answer holds the connection's writes (Hold), writes its
// answer and flushes it (net/http's buffers pass every byte down), and
// Release sends what was held in one write.
package oneshot

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
)

// Listener wraps every accepted connection so that handlers can hold its
// writes; pair it with ConnContext on the http.Server.
type Listener struct{ net.Listener }

// Accept wraps the next connection.
func (l Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &Conn{Conn: c}, nil
}

// maxHeld bounds what one held answer keeps in memory: past it, what was
// held and the write that would pass it go out at once (an answer of MBs
// then costs a write every 256 KB, still far fewer than net/http's).
const maxHeld = 256 << 10

// held buffers are shared between connections: a connection keeps none
// between answers, so ten thousand idle clients hold no memory here.
var held = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// Conn is a connection whose writes a handler may hold. Writes come from
// the goroutine serving the connection, but tls.Conn may send its closing
// alert from the one that closes it, so the state is locked.
type Conn struct {
	net.Conn
	mu      sync.Mutex
	holding bool
	buf     *[]byte
}

// Write passes p on, or keeps a copy of it while the writes are held.
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.holding {
		return c.Conn.Write(p)
	}
	if len(*c.buf)+len(p) > maxHeld {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > maxHeld {
			return c.Conn.Write(p)
		}
	}
	*c.buf = append(*c.buf, p...)
	return len(p), nil
}

// hold starts keeping writes; false when they are kept already (a nested
// hold changes nothing, and only the outer release sends).
func (c *Conn) hold() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.holding {
		return false
	}
	c.holding = true
	c.buf = held.Get().(*[]byte)
	return true
}

// release sends what was held in one write and stops holding.
func (c *Conn) release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.flushLocked()
	c.holding = false
	if cap(*c.buf) <= maxHeld {
		held.Put(c.buf)
	}
	c.buf = nil
	return err
}

func (c *Conn) flushLocked() error {
	if len(*c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(*c.buf)
	*c.buf = (*c.buf)[:0]
	return err
}

type connKey struct{}

// ConnContext is http.Server's ConnContext: it makes the connection's
// *Conn, under TLS if any, known to Hold.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	if oc, ok := c.(*Conn); ok {
		return context.WithValue(ctx, connKey{}, oc)
	}
	return ctx
}

// Hold keeps the writes of r's connection until the returned release is
// called; the caller must flush its answer through net/http before that
// (http.Flusher), and must call release on every path. Only HTTP/1.x
// holds: an HTTP/2 connection carries other streams' frames, written by
// its own goroutine. Where nothing can be held, release does nothing.
func Hold(r *http.Request) (release func() error) {
	c, _ := r.Context().Value(connKey{}).(*Conn)
	if c == nil || r.ProtoMajor != 1 || !c.hold() {
		return noRelease
	}
	return c.release
}

func noRelease() error { return nil }
