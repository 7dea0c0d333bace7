package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/rosterhq/roster/api"
)

// Bundle is what a node holds: the cluster's CA and its own certificate.
type Bundle struct {
	CA   *x509.CertPool
	Cert tls.Certificate
	// NodeID is the node ID the certificate names.
	NodeID string
}

// LoadNode reads and checks a node's files: the certificate must be signed
// by the CA, be a node certificate (both key usages, ServerName) and be
// valid now. Each failure names the file and the reason.
func LoadNode(caPath, certPath, keyPath string) (*Bundle, error) {
	for _, f := range []struct{ flag, path string }{{"--tls-ca-file", caPath}, {"--tls-cert-file", certPath}, {"--tls-key-file", keyPath}} {
		if f.path == "" {
			return nil, fmt.Errorf("%s is required with TLS (`roster tls` makes the files)", f.flag)
		}
	}
	pool, err := LoadPool(caPath)
	if err != nil {
		return nil, err
	}
	pair, err := tlsPair(certPath, keyPath)
	if err != nil {
		return nil, err
	}
	leaf := pair.Leaf
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots: pool, DNSName: ServerName,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return nil, fmt.Errorf("%s is not a node certificate of the CA in %s: %w", certPath, caPath, err)
	}
	id := leaf.Subject.CommonName
	if err := api.ValidateID("node-id", id); err != nil {
		return nil, fmt.Errorf("%s: its common name: %w", certPath, err)
	}
	return &Bundle{CA: pool, Cert: pair, NodeID: id}, nil
}

// Expires is when the node certificate stops being valid.
func (b *Bundle) Expires() time.Time { return b.Cert.Leaf.NotAfter }

// LoadPool reads a PEM file of CA certificates.
func LoadPool(path string) (*x509.CertPool, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := raw; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if !c.IsCA {
			return nil, fmt.Errorf("%s: %q is not a CA certificate", path, c.Subject.CommonName)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// tlsPair loads a certificate and its key and checks that the certificate
// is valid now.
func tlsPair(certPath, keyPath string) (tls.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return pair, fmt.Errorf("%s with %s: %w", certPath, keyPath, err)
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return pair, fmt.Errorf("%s: %w", certPath, err)
		}
	}
	now := time.Now()
	if now.Before(pair.Leaf.NotBefore) || now.After(pair.Leaf.NotAfter) {
		return pair, fmt.Errorf("%s is valid from %s to %s, not now", certPath,
			pair.Leaf.NotBefore.Format(time.RFC3339), pair.Leaf.NotAfter.Format(time.RFC3339))
	}
	if st, err := os.Stat(keyPath); err == nil && st.Mode().Perm()&0o077 != 0 {
		return pair, fmt.Errorf("%s is readable by other users (mode %s): chmod 600 it", keyPath, st.Mode().Perm())
	}
	return pair, nil
}

// Peer is who presented a verified certificate.
type Peer struct {
	// Name is the node ID of a node, or the name of a client certificate.
	Name string
	// Node is true for a node certificate.
	Node bool
}

// PeerOf reads the verified certificate of a TLS connection: ok is false
// when the peer presented none (or it did not verify).
func PeerOf(cs *tls.ConnectionState) (p Peer, ok bool) {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return Peer{}, false
	}
	return peerOf(cs.VerifiedChains[0][0]), true
}

func peerOf(leaf *x509.Certificate) Peer {
	cn := leaf.Subject.CommonName
	if name, ok := strings.CutPrefix(cn, clientPrefix); ok {
		return Peer{Name: name}
	}
	isNode := slices.Contains(leaf.DNSNames, ServerName) && slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	return Peer{Name: cn, Node: isNode}
}

// errNotNode refuses a client certificate where only nodes may speak.
var errNotNode = errors.New("the peer's certificate is not a node certificate")
