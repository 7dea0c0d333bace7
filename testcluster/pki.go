package testcluster

import (
	"crypto/tls"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"

	"github.com/rosterhq/roster/certs"
)

// PKI is a test cluster's CA, node certificates, operator certificate and
// gossip key, in Dir. A cluster started again on the same directory keeps
// them, so its nodes still trust each other.
type PKI struct {
	Dir string
}

// OperatorName is the client certificate the test cluster makes for its
// CLI (keyring changes take one).
const OperatorName = "operator"

// MakePKI makes (or keeps) the CA, a certificate per node ID, the operator's
// client certificate and a gossip key in dir.
func MakePKI(dir string, ids []string) (PKI, error) {
	return PKI{Dir: dir}, certs.Init(dir, "Roster test cluster CA", ids, OperatorName)
}

// CA is the CA certificate's path.
func (p PKI) CA() string { return filepath.Join(p.Dir, certs.CAFile) }

// Node is node id's certificate and key.
func (p PKI) Node(id string) (cert, key string) {
	c, k := certs.NodeFiles(id)
	return filepath.Join(p.Dir, c), filepath.Join(p.Dir, k)
}

// Operator is the operator's client certificate and key.
func (p PKI) Operator() (cert, key string) {
	c, k := certs.ClientFiles(OperatorName)
	return filepath.Join(p.Dir, c), filepath.Join(p.Dir, k)
}

// GossipKey is the gossip key file.
func (p PKI) GossipKey() string { return filepath.Join(p.Dir, certs.GossipKeyFile) }

// Bundle loads node id's TLS bundle.
func (p PKI) Bundle(id string) (*certs.Bundle, error) {
	c, k := p.Node(id)
	return certs.LoadNode(p.CA(), c, k)
}

// Key reads the gossip key.
func (p PKI) Key() ([]byte, error) {
	raw, err := os.ReadFile(p.GossipKey())
	if err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
}

// ClientTLS is what a client of the cluster uses: the CA and the
// operator's certificate.
func (p PKI) ClientTLS() (*tls.Config, error) {
	c, k := p.Operator()
	return certs.Client(p.CA(), c, k)
}

// Env is the environment that points the CLI at this PKI.
func (p PKI) Env() []string {
	c, k := p.Operator()
	return []string{"ROSTER_CACERT=" + p.CA(), "ROSTER_CLIENT_CERT=" + c, "ROSTER_CLIENT_KEY=" + k}
}

// AgentArgs are the TLS and gossip key flags of node id.
func (p PKI) AgentArgs(id string) []string {
	c, k := p.Node(id)
	return []string{"--tls-ca-file", p.CA(), "--tls-cert-file", c, "--tls-key-file", k, "--encrypt-file", p.GossipKey()}
}
