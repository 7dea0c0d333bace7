package node

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/fsm"
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

// startWithSnapshot runs a lone node on dir, writes a few definitions,
// takes a snapshot and stops it.
func startWithSnapshot(t *testing.T, dir string) {
	t.Helper()
	n, err := Open(soloConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	waitLeads(t, n)
	for i := range 20 {
		def := &fsm.Definition{ID: fmt.Sprintf("svc-%d", i), Image: &fsm.ImageSpec{Name: "nginx:alpine", InternalPorts: []uint16{80}},
			Ports: []fsm.PortMapping{{Internal: 80, Host: 8080}}}
		if _, err := n.Apply(t.Context(), &fsm.Command{Type: fsm.CmdSaveDefinition, Definition: def}); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
}

// Damage that raft would pass over in silence (it restores an older
// snapshot, or reads a log with a hole) is found by the start-up check.
func TestTheStartUpCheckFindsQuietDamage(t *testing.T) {
	for name, damage := range map[string]func(t *testing.T, dir string){
		"snapshot state flipped": func(t *testing.T, dir string) {
			states, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*", "state.bin"))
			if len(states) == 0 {
				t.Fatal("no snapshot")
			}
			b, err := os.ReadFile(states[0])
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0xff
			os.WriteFile(states[0], b, 0o600)
		},
		"raft.db pages overwritten": func(t *testing.T, dir string) {
			f, err := os.OpenFile(filepath.Join(dir, "raft.db"), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			junk := make([]byte, 4096)
			rand.Read(junk)
			// Every page after the two meta pages: some hold the log's
			// branches and leaves.
			for off := int64(2 * 4096); off < st.Size(); off += 4 * 4096 {
				f.WriteAt(junk, off)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			startWithSnapshot(t, dir)
			damage(t, dir)
			n, err := Open(soloConfig(t, dir))
			if err == nil {
				n.Close()
				t.Fatal("the node started on a damaged data dir")
			}
			if !strings.Contains(err.Error(), "is damaged") {
				t.Fatalf("not the damaged data dir error: %v", err)
			}
			t.Log(err.Error()[:min(len(err.Error()), 200)])
		})
	}
	// An undamaged one still starts.
	dir := t.TempDir()
	startWithSnapshot(t, dir)
	n, err := Open(soloConfig(t, dir))
	if err != nil {
		t.Fatalf("an undamaged data dir: %v", err)
	}
	n.Close()
}
