package cli

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/testcluster"
)

// The seed's multi-node setup sets OB_SELF_URL and no listen address: the
// agent must serve the port it advertises, not the default 11337.
func TestAgentServesThePortOfOBSelfURL(t *testing.T) {
	base, err := testcluster.FreeBasePort(3)
	if err != nil {
		t.Fatal(err)
	}
	port := func(k int) string { return "127.0.0.1:" + strconv.Itoa(base+k) }
	t.Setenv("OB_SELF_URL", "http://"+port(0))
	t.Setenv("OB_NODE_ID", "seed-node")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var code int
	var out, errOut bytes.Buffer
	wg.Add(1)
	go func() {
		defer wg.Done()
		code = Run(ctx, []string{"agent", "--data-dir", t.TempDir(), "--gossip-addr", port(1), "--raft-addr", port(2)}, &out, &errOut)
	}()
	defer func() {
		cancel()
		wg.Wait()
		if code != 0 {
			t.Errorf("agent exited %d: %s", code, errOut.String())
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + port(0) + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("healthz: %s", resp.Status)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing serves the advertised %s: %v; agent log: %s", port(0), err, errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAgentRefusesASelfURLNobodyServes(t *testing.T) {
	t.Setenv("OB_SELF_URL", "http://127.0.0.1:13337")
	var out, errOut bytes.Buffer
	code := Run(context.Background(), []string{"agent", "--data-dir", t.TempDir(), "--http-addr", "127.0.0.1:1"}, &out, &errOut)
	if code == 0 || !strings.Contains(errOut.String(), "names port 13337, but the HTTP API listens on 127.0.0.1:1") {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
}

// The gossip key comes from a file or the environment, never argv.
func TestGossipKeyNeverFromTheCommandLine(t *testing.T) {
	key := "c2l4dGVlbiBieXRlIGtleQ==" // "sixteen byte key"
	var out, errOut bytes.Buffer
	if code := Run(context.Background(), []string{"agent", "--data-dir", t.TempDir(), "--encrypt", key}, &out, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), "visible to every user") {
		t.Fatalf("--encrypt on argv: exit %d, %s", code, errOut.String())
	}
	file := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(file, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if b, err := gossipKey(file, log); err != nil || len(b) != 16 {
		t.Fatalf("from file: %d bytes, %v", len(b), err)
	}
	t.Setenv("ROSTER_ENCRYPT", key)
	if b, err := gossipKey("", log); err != nil || len(b) != 16 {
		t.Fatalf("from env: %d bytes, %v", len(b), err)
	}
	t.Setenv("ROSTER_ENCRYPT", "c2hvcnQ=")
	if _, err := gossipKey("", log); err == nil || !strings.Contains(err.Error(), "ROSTER_ENCRYPT") {
		t.Fatalf("a 5-byte key: %v", err)
	}
}
