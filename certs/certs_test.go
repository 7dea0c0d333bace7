package certs

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pki makes a CA and returns it with its directory.
func pki(t *testing.T) (*CA, string) {
	t.Helper()
	dir := t.TempDir()
	cp, kp, err := CreateCA(dir, "Roster test CA", 30)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := LoadCA(cp, kp)
	if err != nil {
		t.Fatal(err)
	}
	return ca, dir
}

func node(t *testing.T, ca *CA, dir, id string) *Bundle {
	t.Helper()
	cp, kp, err := ca.CreateNode(dir, NodeCert{NodeID: id, Days: 10})
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadNode(filepath.Join(dir, CAFile), cp, kp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// handshake runs a TLS handshake over loopback TCP and returns the server's
// error and the client's.
func handshake(server, client *tls.Config) (serr, cerr error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err, err
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		a, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		s := tls.Server(a, server)
		err = s.Handshake()
		if err == nil {
			// TLS 1.3 client certificates are checked after the client's
			// handshake returns: read to see the server's verdict.
			if _, err = s.Read(make([]byte, 1)); err == nil {
				_, err = s.Write([]byte{1})
			}
		}
		a.Close()
		done <- err
	}()
	b, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return err, err
	}
	c := tls.Client(b, client)
	cerr = c.Handshake()
	if cerr == nil {
		c.Write([]byte{1})
		_, cerr = c.Read(make([]byte, 1))
	}
	b.Close()
	return <-done, cerr
}

func TestNodeCertificateNamesItsNode(t *testing.T) {
	ca, dir := pki(t)
	b := node(t, ca, dir, "node1")
	if b.NodeID != "node1" {
		t.Fatalf("NodeID = %q", b.NodeID)
	}
	if st, _ := os.Stat(filepath.Join(dir, "node1-key.pem")); st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v, want 600", st.Mode().Perm())
	}
	if _, _, err := ca.CreateNode(dir, NodeCert{NodeID: "node1", Days: 10}); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("second node1 certificate: %v, want a refusal to overwrite", err)
	}
	if _, _, err := ca.CreateNode(dir, NodeCert{NodeID: "bad\nid", Days: 10}); err == nil {
		t.Fatal("a node ID with a newline was accepted")
	}
	if _, _, err := CreateCA(dir, "again", 30); err == nil {
		t.Fatal("a second CA overwrote the first")
	}
}

func TestRaftHandshake(t *testing.T) {
	ca, dir := pki(t)
	n1, n2 := node(t, ca, dir, "node1"), node(t, ca, dir, "node2")
	other, odir := pki(t)
	stranger := node(t, other, odir, "node2")

	if serr, cerr := handshake(n1.RaftServer(), n2.Peer("node1")); serr != nil || cerr != nil {
		t.Fatalf("two nodes of one CA: server %v, client %v", serr, cerr)
	}
	if _, cerr := handshake(n1.RaftServer(), n2.Peer("node3")); cerr == nil || !strings.Contains(cerr.Error(), `names node "node1", not "node3"`) {
		t.Fatalf("dialling node3 at node1's address: %v, want the identity refused", cerr)
	}
	if serr, _ := handshake(n1.RaftServer(), stranger.Peer("")); serr == nil {
		t.Fatal("a certificate of another CA was accepted by Raft")
	}
	if serr, _ := handshake(n1.RaftServer(), &tls.Config{RootCAs: n2.CA, ServerName: ServerName}); serr == nil {
		t.Fatal("a peer without a certificate was accepted by Raft")
	}
	cp, kp, err := ca.CreateClient(dir, "ops", 10)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := Client(filepath.Join(dir, CAFile), cp, kp)
	if err != nil {
		t.Fatal(err)
	}
	cc.ServerName = ServerName
	if serr, _ := handshake(n1.RaftServer(), cc); serr == nil || !strings.Contains(serr.Error(), "not a node certificate") {
		t.Fatalf("an operator's client certificate on Raft: %v, want refused", serr)
	}
	if _, err := LoadNode(filepath.Join(dir, CAFile), cp, kp); err == nil {
		t.Fatal("a client certificate loaded as a node's")
	}
	if _, err := LoadNode(filepath.Join(odir, CAFile), filepath.Join(dir, "node1.pem"), filepath.Join(dir, "node1-key.pem")); err == nil {
		t.Fatal("a node certificate loaded against another CA")
	}
}

func TestHTTPServerTakesUsersWithoutCertificates(t *testing.T) {
	ca, dir := pki(t)
	n1 := node(t, ca, dir, "node1")
	cc, err := Client(filepath.Join(dir, CAFile), "", "")
	if err != nil {
		t.Fatal(err)
	}
	cc.ServerName = "localhost"
	if serr, cerr := handshake(n1.HTTPServer(), cc); serr != nil || cerr != nil {
		t.Fatalf("a user without a certificate: server %v, client %v", serr, cerr)
	}
}

// Init makes a whole cluster's files once and keeps them after.
func TestInitMakesWhatIsMissingAndKeepsTheRest(t *testing.T) {
	dir := t.TempDir()
	if err := Init(dir, "Test CA", []string{"node1"}, "ops"); err != nil {
		t.Fatal(err)
	}
	ca, _ := os.ReadFile(filepath.Join(dir, CAFile))
	if err := Init(dir, "Test CA", []string{"node1", "node2"}, "ops"); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, CAFile)); string(again) != string(ca) {
		t.Fatal("a second Init replaced the CA")
	}
	for _, f := range []string{"node1.pem", "node2.pem", "client-ops.pem", GossipKeyFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if _, err := LoadNode(filepath.Join(dir, CAFile), filepath.Join(dir, "node2.pem"), filepath.Join(dir, "node2-key.pem")); err != nil {
		t.Fatalf("node2 signed by the kept CA: %v", err)
	}
}
