package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/rosterhq/roster/api"
)

// ServerName is the DNS name in every node certificate; peers verify it
// (as Consul verifies server.<dc>.consul) instead of the dialled address.
const ServerName = "server.roster"

// clientPrefix starts the common name of an operator's client certificate,
// so that it can never equal a node ID.
const clientPrefix = "client:"

// File names `roster tls` writes in its directory.
const (
	CAFile    = "ca.pem"
	CAKeyFile = "ca-key.pem"
)

// NodeFiles are the certificate and key file names of a node.
func NodeFiles(id string) (cert, key string) { return id + ".pem", id + "-key.pem" }

// ClientFiles are the certificate and key file names of a client.
func ClientFiles(name string) (cert, key string) {
	return "client-" + name + ".pem", "client-" + name + "-key.pem"
}

// CA is a loaded certificate authority that can sign.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// CreateCA makes a new CA valid for days and writes it into dir (the key
// mode 600). It refuses to overwrite an existing CA: every certificate
// signed by it would stop being trusted.
func CreateCA(dir, name string, days int) (certPath, keyPath string, err error) {
	if days < 1 || days > 36500 {
		return "", "", fmt.Errorf("days %d: want 1-36500", days)
	}
	certPath, keyPath = filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile)
	if err := refuseExisting(certPath, keyPath); err != nil {
		return "", "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl, err := template(name, days)
	if err != nil {
		return "", "", err
	}
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.MaxPathLenZero = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	return certPath, keyPath, writePair(dir, certPath, keyPath, der, key)
}

// NodeCert describes a node certificate to make.
type NodeCert struct {
	// NodeID is the agent's --node-id; it becomes the common name.
	NodeID string
	// IPs and DNSNames are where users reach the node's HTTP API (the CLI
	// and curl verify them); loopback and localhost are always added.
	IPs      []net.IP
	DNSNames []string
	Days     int
}

// CreateNode signs a node certificate and writes it into dir.
func (ca *CA) CreateNode(dir string, nc NodeCert) (certPath, keyPath string, err error) {
	if err := api.ValidateID("node-id", nc.NodeID); err != nil {
		return "", "", err
	}
	c, k := NodeFiles(nc.NodeID)
	certPath, keyPath = filepath.Join(dir, c), filepath.Join(dir, k)
	tmpl, err := template(nc.NodeID, nc.Days)
	if err != nil {
		return "", "", err
	}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	tmpl.DNSNames = append([]string{ServerName, "localhost"}, nc.DNSNames...)
	tmpl.IPAddresses = append([]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, nc.IPs...)
	return certPath, keyPath, ca.sign(dir, certPath, keyPath, tmpl)
}

// CreateClient signs an operator's client certificate (for the CLI's
// calls that need one) and writes it into dir.
func (ca *CA) CreateClient(dir, name string, days int) (certPath, keyPath string, err error) {
	if err := api.ValidateID("name", name); err != nil {
		return "", "", err
	}
	c, k := ClientFiles(name)
	certPath, keyPath = filepath.Join(dir, c), filepath.Join(dir, k)
	tmpl, err := template(clientPrefix+name, days)
	if err != nil {
		return "", "", err
	}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return certPath, keyPath, ca.sign(dir, certPath, keyPath, tmpl)
}

func (ca *CA) sign(dir, certPath, keyPath string, tmpl *x509.Certificate) error {
	if err := refuseExisting(certPath, keyPath); err != nil {
		return err
	}
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.AuthorityKeyId = ca.Cert.SubjectKeyId
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return err
	}
	return writePair(dir, certPath, keyPath, der, key)
}

// template is a certificate valid from a minute ago (clock skew) for days,
// with a random 128-bit serial.
func template(cn string, days int) (*x509.Certificate, error) {
	if days < 1 || days > 36500 {
		return nil, fmt.Errorf("days %d: want 1-36500", days)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Roster"}},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.AddDate(0, 0, days),
	}, nil
}

func refuseExisting(paths ...string) error {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s exists: refusing to overwrite it (remove it first if you mean to replace it)", p)
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

func writePair(dir, certPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// LoadCA reads a CA certificate and its key for signing.
func LoadCA(certPath, keyPath string) (*CA, error) {
	pair, err := tlsPair(certPath, keyPath)
	if err != nil {
		return nil, err
	}
	if !pair.Leaf.IsCA {
		return nil, fmt.Errorf("%s is not a CA certificate", certPath)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: want an ECDSA key (as `roster tls ca create` makes)", keyPath)
	}
	return &CA{Cert: pair.Leaf, Key: key}, nil
}
