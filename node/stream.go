package node

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/certs"
	"github.com/rosterhq/roster/internal/faultnet"
)

// handshakeTimeout bounds a TLS handshake on the Raft port, so a peer that
// connects and says nothing cannot hold a goroutine.
const handshakeTimeout = 10 * time.Second

// streamLayer is Raft's TCP stream layer with the node's fault switch (nil
// in production: plain TCP) in front of its dials. Dials end when the node
// closes, so a dial into a test partition cannot hold up Raft's shutdown.
// With TLS, both ends present node certificates of the cluster's CA, and a
// dial to an address the Raft configuration gives to a server expects that
// server's node ID in the certificate.
type streamLayer struct {
	net.Listener
	advertise net.Addr
	sw        *faultnet.Switch
	ctx       context.Context
	tls       *certs.Bundle
	// ids maps a Raft address to the server ID the configuration gives it.
	ids *atomic.Pointer[map[string]string]
}

var _ raft.StreamLayer = (*streamLayer)(nil)

func (l *streamLayer) Addr() net.Addr { return l.advertise }

func (l *streamLayer) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil || l.tls == nil {
		return c, err
	}
	return &serverConn{Conn: tls.Server(c, l.tls.RaftServer())}, nil
}

func (l *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(l.ctx, timeout)
	defer cancel()
	// An address from the address book names the server it is for; one
	// from the configuration is that server's there.
	expect, hostPort := splitBookAddress(string(addr))
	c, err := l.sw.DialContext(ctx, "tcp", hostPort)
	if err != nil || l.tls == nil {
		return c, err
	}
	if m := l.ids.Load(); expect == "" && m != nil {
		expect = (*m)[hostPort]
	}
	tc := tls.Client(c, l.tls.Peer(expect))
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return tc, nil
}

// serverConn runs the TLS handshake of an accepted connection on its first
// read, under a deadline, in the goroutine Raft serves the connection on
// (not in the accept loop).
type serverConn struct {
	*tls.Conn
	once sync.Once
	err  error
}

func (c *serverConn) Read(b []byte) (int, error) {
	c.once.Do(func() {
		c.Conn.SetDeadline(time.Now().Add(handshakeTimeout))
		c.err = c.Conn.Handshake()
		c.Conn.SetDeadline(time.Time{})
	})
	if c.err != nil {
		return 0, c.err
	}
	return c.Conn.Read(b)
}
