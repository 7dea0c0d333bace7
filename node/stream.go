package node

import (
	"context"
	"net"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/internal/faultnet"
)

// streamLayer is Raft's TCP stream layer with the node's fault switch (nil
// in production: plain TCP) in front of its dials. Dials end when the node
// closes, so a dial into a test partition cannot hold up Raft's shutdown.
type streamLayer struct {
	net.Listener
	advertise net.Addr
	sw        *faultnet.Switch
	ctx       context.Context
}

var _ raft.StreamLayer = (*streamLayer)(nil)

func (l *streamLayer) Addr() net.Addr { return l.advertise }

func (l *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(l.ctx, timeout)
	defer cancel()
	return l.sw.DialContext(ctx, "tcp", string(addr))
}
