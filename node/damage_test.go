package node

import (
	"context"
	"crypto/rand"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// soloConfig is a lone loopback node on free ports.
func soloConfig(t *testing.T, dir string) Config {
	t.Helper()
	port := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	return Config{DataDir: dir, NodeID: "solo", HTTPAddr: "127.0.0.1:1", GossipAddr: port(), RaftAddr: port(), Timing: "local"}
}

// startOnce runs a lone node on dir until it leads (its raft.db then holds
// a term, a vote and a configuration) and stops it.
func startOnce(t *testing.T, dir string) {
	t.Helper()
	n, err := Open(soloConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for !n.IsLeader() {
		select {
		case <-ctx.Done():
			t.Fatal("the lone node did not lead")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
}

// A data dir whose raft.db is gone, empty or overwritten is refused with
// the recovery steps, never started on (a node without its term and vote
// could vote twice) and never a panic.
func TestADamagedDataDirIsRefused(t *testing.T) {
	overwrite := func(path string, at int64, n int) {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, n)
		rand.Read(b)
		if _, err := f.WriteAt(b, at); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	for name, damage := range map[string]func(dir string){
		"raft.db deleted":         func(dir string) { os.Remove(filepath.Join(dir, "raft.db")) },
		"raft.db truncated to 0":  func(dir string) { os.Truncate(filepath.Join(dir, "raft.db"), 0) },
		"bolt meta pages garbage": func(dir string) { overwrite(filepath.Join(dir, "raft.db"), 0, 8192) },
		"raft.db all garbage, 1MB": func(dir string) {
			os.Truncate(filepath.Join(dir, "raft.db"), 1<<20)
			overwrite(filepath.Join(dir, "raft.db"), 0, 1<<20)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			startOnce(t, dir)
			damage(dir)
			n, err := Open(soloConfig(t, dir))
			if err == nil {
				n.Close()
				t.Fatal("the node started on a damaged data dir")
			}
			if !strings.Contains(err.Error(), "is damaged") || !strings.Contains(err.Error(), "Recover") {
				t.Fatalf("the error does not say what is wrong and how to recover: %v", err)
			}
		})
	}
}
