package node

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/rosterhq/roster/certs"
)

func testBundle(t *testing.T, id string) *certs.Bundle {
	t.Helper()
	dir := t.TempDir()
	cp, kp, err := certs.CreateCA(dir, "test", 10)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := certs.LoadCA(cp, kp)
	if err != nil {
		t.Fatal(err)
	}
	c, k, err := ca.CreateNode(dir, certs.NodeCert{NodeID: id, Days: 10})
	if err != nil {
		t.Fatal(err)
	}
	b, err := certs.LoadNode(filepath.Join(dir, certs.CAFile), c, k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestANodeWithoutTLSStaysOnLoopback(t *testing.T) {
	c, err := Config{DataDir: "d"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.GossipAddr != "127.0.0.1:11338" || c.RaftAddr != "127.0.0.1:11339" || c.Advertise != "127.0.0.1" {
		t.Fatalf("a node without TLS binds gossip %s, Raft %s, advertises %s: want loopback", c.GossipAddr, c.RaftAddr, c.Advertise)
	}
	for _, open := range []Config{
		{DataDir: "d", Advertise: "10.0.0.5"},
		{DataDir: "d", GossipAddr: "0.0.0.0:11338"},
		{DataDir: "d", HTTPAddr: "0.0.0.0:11337"},
		{DataDir: "d", Join: []string{"10.0.0.6:11338"}},
		{DataDir: "d", Advertise: "10.0.0.5", EncryptKey: make([]byte, 32)},
	} {
		_, err := open.withDefaults()
		if err == nil || !strings.Contains(err.Error(), "reachable from other machines") || !strings.Contains(err.Error(), "--insecure") {
			t.Errorf("%+v started open: %v", open, err)
		}
	}
	if _, err := (Config{DataDir: "d", Advertise: "10.0.0.5", EncryptKey: make([]byte, 32)}).withDefaults(); err == nil ||
		!strings.Contains(err.Error(), "no TLS") || strings.Contains(err.Error(), "gossip key") {
		t.Errorf("the error must name only what is missing: %v", err)
	}
	c, err = Config{DataDir: "d", Advertise: "10.0.0.5", Insecure: true}.withDefaults()
	if err != nil || c.GossipAddr != "10.0.0.5:11338" {
		t.Fatalf("--insecure: gossip %s, %v", c.GossipAddr, err)
	}
}

func TestTLSNeedsAGossipKeyAndServesHTTPS(t *testing.T) {
	b := testBundle(t, "node1")
	if _, err := (Config{DataDir: "d", TLS: b}).withDefaults(); err == nil || !strings.Contains(err.Error(), "gossip has no key") {
		t.Fatalf("TLS without a gossip key: %v", err)
	}
	c, err := Config{DataDir: "d", TLS: b, EncryptKey: make([]byte, 32), Advertise: "10.0.0.5", HTTPAddr: ":11337"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.SelfURL != "https://10.0.0.5:11337" || c.RaftAddr != "10.0.0.5:11339" || c.GossipAddr != "10.0.0.5:11338" {
		t.Fatalf("self URL %s, Raft %s, gossip %s: want https and the advertise IP", c.SelfURL, c.RaftAddr, c.GossipAddr)
	}
	if _, err := (Config{DataDir: "d", TLS: b, EncryptKey: make([]byte, 32), SelfURL: "http://127.0.0.1:11337"}).withDefaults(); err == nil ||
		!strings.Contains(err.Error(), "want a https:// URL") {
		t.Fatalf("an http self URL with TLS: %v", err)
	}
	if _, err := Open(Config{DataDir: t.TempDir(), NodeID: "node2", TLS: b, EncryptKey: make([]byte, 32)}); err == nil ||
		!strings.Contains(err.Error(), `certificate names node "node1"`) {
		t.Fatalf("a certificate of another node: %v", err)
	}
}
