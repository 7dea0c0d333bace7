package certs

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
)

// RaftServer is the configuration of Raft's listener: a peer without a node
// certificate of the CA is refused in the handshake, before any RPC is read.
func (b *Bundle) RaftServer() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{b.Cert},
		ClientCAs:    b.CA,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if p, ok := PeerOf(&cs); !ok || !p.Node {
				return errNotNode
			}
			return nil
		},
	}
}

// HTTPServer is the configuration of the HTTP API's listener: users connect
// without a certificate (issue tokens decide what they may do); a
// certificate that is given must verify, and the routes between nodes
// require a node's (see PeerOf).
func (b *Bundle) HTTPServer() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{b.Cert},
		ClientCAs:    b.CA,
		ClientAuth:   tls.VerifyClientCertIfGiven,
		// Lists are tens of KB: full-size records from the first byte, not
		// 1 KB ones for each connection's first 128 KB (fewer writes).
		DynamicRecordSizingDisabled: true,
	}
}

// Peer is the configuration for dialling another node (Raft, forwarding,
// health batches): this node's certificate as the client's, the peer
// verified against the CA and ServerName, and, when expectID is not empty,
// its certificate must name that node: an address learnt from gossip
// cannot lend one node's place to another.
func (b *Bundle) Peer(expectID string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{b.Cert},
		RootCAs:      b.CA,
		ServerName:   ServerName,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return checkPeer(cs.PeerCertificates, expectID)
		},
	}
}

func checkPeer(chain []*x509.Certificate, expectID string) error {
	if len(chain) == 0 {
		return errNotNode
	}
	p := peerOf(chain[0])
	if !p.Node {
		return errNotNode
	}
	if expectID != "" && p.Name != expectID {
		return fmt.Errorf("the certificate at this address names node %q, not %q", p.Name, expectID)
	}
	return nil
}

// Client is the configuration of a CLI or Go client: the CA to verify the
// node by (empty: the system's roots) and, optionally, a client
// certificate.
func Client(caPath, certPath, keyPath string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caPath != "" {
		pool, err := LoadPool(caPath)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	if (certPath == "") != (keyPath == "") {
		return nil, fmt.Errorf("a client certificate needs both its file and its key file")
	}
	if certPath != "" {
		pair, err := tlsPair(certPath, keyPath)
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}
