package node

import (
	"fmt"
	"net"
	"strings"
)

// settleAddresses picks the advertise IP and the gossip and Raft bind
// addresses, and refuses an open node: one that other machines can reach
// without TLS and a gossip key could be joined, read and rewritten by any
// host on its network.
//
// A bind address without a host (the default ":11338") binds the advertise
// IP, never every interface. Without TLS (and without Insecure) the
// advertise IP defaults to loopback: such a node is a cluster of this
// machine only.
func (c *Config) settleAddresses() error {
	secure := c.TLS != nil && len(c.EncryptKey) > 0
	if !secure && !c.Insecure && c.Advertise == "" && !specificHost(c.RaftAddr) {
		c.Advertise = "127.0.0.1"
	}
	adv, err := advertiseIP(c.Advertise, c.RaftAddr)
	if err != nil {
		return err
	}
	c.Advertise = adv
	c.GossipAddr = bindHost(c.GossipAddr, adv)
	c.RaftAddr = bindHost(c.RaftAddr, adv)
	if secure || c.Insecure {
		return nil
	}
	var open []string
	for _, a := range []struct{ name, addr string }{
		{"--http-addr", c.HTTPAddr}, {"--gossip-addr", c.GossipAddr}, {"--raft-addr", c.RaftAddr},
	} {
		if !isLoopbackAddr(a.addr) {
			open = append(open, a.name+" "+a.addr)
		}
	}
	if ip := net.ParseIP(c.Advertise); ip == nil || !ip.IsLoopback() {
		open = append(open, "--advertise "+c.Advertise)
	}
	if joinsRemote(c.Join) {
		open = append(open, "--join "+strings.Join(c.Join, ","))
	}
	if len(open) == 0 {
		return nil
	}
	var missing []string
	if c.TLS == nil {
		missing = append(missing, "TLS (--tls-ca-file, --tls-cert-file, --tls-key-file; `roster tls` makes them)")
	}
	if len(c.EncryptKey) == 0 {
		missing = append(missing, "gossip key (--encrypt-file or ROSTER_ENCRYPT)")
	}
	return fmt.Errorf("this node is reachable from other machines (%s) but has no %s: any host on the network "+
		"could join the cluster, read the catalog and rewrite it. Give them, keep every address on loopback, "+
		"or pass --insecure to run an open node anyway", strings.Join(open, ", "), strings.Join(missing, " and no "))
}

// specificHost reports whether a bind address names a host.
func specificHost(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	return host != "" && (ip == nil || !ip.IsUnspecified())
}

// bindHost gives a bind address without a host the advertise IP; an
// explicit host, 0.0.0.0 included, stays.
func bindHost(addr, advertise string) string {
	host, port, _ := net.SplitHostPort(addr)
	if host != "" {
		return addr
	}
	return net.JoinHostPort(advertise, port)
}

// LoopbackOnly reports whether no other machine can reach this node: its
// HTTP API, gossip and Raft listen on loopback and it advertises loopback.
// Only such a node may register instances on loopback (see health.Targets).
func (n *Node) LoopbackOnly() bool {
	ip := net.ParseIP(n.cfg.Advertise)
	return isLoopbackAddr(n.cfg.HTTPAddr) && isLoopbackAddr(n.cfg.GossipAddr) && isLoopbackAddr(n.cfg.RaftAddr) &&
		ip != nil && ip.IsLoopback()
}
