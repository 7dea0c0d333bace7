package cli

import (
	"bytes"
	"context"
	"net/http"
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
