package certs

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
)

// GossipKeyFile is the name Init gives the gossip key in its directory.
const GossipKeyFile = "gossip.key"

// Init makes, in dir, whatever is missing of a whole cluster's files: the
// CA (named caName), a certificate per node ID, a client certificate for
// operator and a 32-byte gossip key (base64, mode 600). What exists is
// kept, so running it again changes nothing and a cluster started again on
// the same files still trusts itself. `roster tls init` and the test
// clusters use it; for machines, keep the CA key off them and use
// CreateCA, CreateNode and CreateClient.
func Init(dir, caName string, nodeIDs []string, operator string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	caCert, caKey := filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile)
	if !exists(caCert) {
		if _, _, err := CreateCA(dir, caName, 3650); err != nil {
			return err
		}
	}
	ca, err := LoadCA(caCert, caKey)
	if err != nil {
		return err
	}
	for _, id := range nodeIDs {
		if c, _ := NodeFiles(id); exists(filepath.Join(dir, c)) {
			continue
		}
		if _, _, err := ca.CreateNode(dir, NodeCert{NodeID: id, Days: 3650}); err != nil {
			return err
		}
	}
	if c, _ := ClientFiles(operator); !exists(filepath.Join(dir, c)) {
		if _, _, err := ca.CreateClient(dir, operator, 3650); err != nil {
			return err
		}
	}
	if keyPath := filepath.Join(dir, GossipKeyFile); !exists(keyPath) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		if err := os.WriteFile(keyPath, []byte(base64.StdEncoding.EncodeToString(b)+"\n"), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, os.ErrNotExist)
}
