package gossip

import (
	"bytes"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/rosterhq/roster/internal/faultnet"
)

// faultTransport is memberlist's own NetTransport with a fault switch in
// front of everything this member sends: tests partition and slow the real
// gossip path. Production leaves Config.Faults nil and memberlist builds its
// transport itself.
type faultTransport struct {
	*memberlist.NetTransport
	sw *faultnet.Switch
}

var _ memberlist.NodeAwareTransport = (*faultTransport)(nil)

func newFaultTransport(mc *memberlist.Config, sw *faultnet.Switch) (*faultTransport, error) {
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{mc.BindAddr},
		BindPort:  mc.BindPort,
		Logger:    mc.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("gossip transport on %s: %w", net.JoinHostPort(mc.BindAddr, fmt.Sprint(mc.BindPort)), err)
	}
	return &faultTransport{NetTransport: nt, sw: sw}, nil
}

func (t *faultTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress drops a packet to a blocked address, as a partition does:
// the sender learns nothing. A slowed packet leaves later, in the
// background, so gossip's own goroutine is not held up.
func (t *faultTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if t.sw.Blocked(a.Addr) {
		return time.Now(), nil
	}
	if d := t.sw.Delay(a.Addr); d > 0 {
		buf := bytes.Clone(b)
		time.AfterFunc(d, func() { _, _ = t.NetTransport.WriteToAddress(buf, a) })
		return time.Now(), nil
	}
	return t.NetTransport.WriteToAddress(b, a)
}

func (t *faultTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.sw.DialTimeout("tcp", addr, timeout)
}

func (t *faultTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.sw.DialTimeout("tcp", a.Addr, timeout)
}
