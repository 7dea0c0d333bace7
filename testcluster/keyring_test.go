package testcluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/gossip"
	"github.com/rosterhq/roster/httpapi/client"
)

// A gossip key rotation (install, use, remove) on a TLS cluster while
// writes flow through a follower: every step reaches every member, no write
// fails, and a member killed afterwards rejoins with the keyring it saved,
// although its --encrypt-file still holds the old key.
func TestKeyRotationWhileWritesFlow(t *testing.T) {
	bin := buildRoster(t)
	c, err := StartProcesses(ProcOptions{Binary: bin, Nodes: 3, Dir: t.TempDir(), BasePort: mustFreeBase(t, 9)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(10 * time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	leader, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	oldKey, err := c.PKI().Key()
	if err != nil {
		t.Fatal(err)
	}
	follower := (leader + 1) % 3
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	wctx, stopWrites := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; wctx.Err() == nil; n++ {
				_, err := c.Client(follower).RegisterInstance(wctx, client.RegisterRequest{
					URL: fmt.Sprintf("http://10.9.%d.%d:80", w, n%250), Slug: "rotation", Check: &api.Check{Type: "none"}})
				switch {
				case err == nil:
					ok.Add(1)
				case wctx.Err() == nil:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}

	raw := make([]byte, 32)
	rand.Read(raw)
	newKey := base64.StdEncoding.EncodeToString(raw)
	oldID, newID := gossip.KeyID(oldKey), gossip.KeyID(raw)
	cl := c.Client(leader)
	for _, step := range []struct {
		ch            api.KeyringChange
		primary, keys string
	}{
		{api.KeyringChange{Op: "install", Key: newKey}, oldID, "2 keys"},
		{api.KeyringChange{Op: "use", KeyID: newID}, newID, "2 keys"},
		{api.KeyringChange{Op: "remove", KeyID: oldID}, newID, "1 keys"},
	} {
		time.Sleep(time.Second) // writes flow between the steps
		k, err := cl.ChangeKeyring(ctx, step.ch)
		if err != nil {
			t.Fatalf("%s: %v", step.ch.Op, err)
		}
		if k.Failed != 0 || len(k.Nodes) != 3 {
			t.Fatalf("%s: %+v", step.ch.Op, k)
		}
		for _, n := range k.Nodes {
			if n.Primary != step.primary || fmt.Sprintf("%d keys", len(n.Keys)) != step.keys {
				t.Fatalf("%s: %s has primary %s and %v, want %s and %s", step.ch.Op, n.Node, n.Primary, n.Keys, step.primary, step.keys)
			}
		}
	}
	time.Sleep(time.Second)
	stopWrites()
	wg.Wait()
	if failed.Load() != 0 || ok.Load() < 20 {
		t.Fatalf("%d writes failed during the rotation (first: %v), %d succeeded", failed.Load(), firstErr.Load(), ok.Load())
	}
	t.Logf("%d writes during the rotation, none failed", ok.Load())

	// A member killed now comes back with its saved keyring.
	victim := (leader + 2) % 3
	if err := c.Kill(victim); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(victim); err != nil {
		t.Fatal(err)
	}
	if err := Eventually(ctx, func() error {
		st, err := c.Client(leader).ClusterStatus(ctx)
		if err != nil {
			return err
		}
		for _, m := range st.Members {
			if m.ID == c.ID(victim) && m.State != "alive" {
				return fmt.Errorf("%s is %s", m.ID, m.State)
			}
		}
		_, err = c.Client(victim).RegisterInstance(ctx, client.RegisterRequest{URL: "http://10.9.9.9:80", Slug: "after"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// The CLI, pointed at the cluster the way `roster testcluster env`
	// does, talks https and presents the operator's certificate.
	for _, args := range [][]string{{"status"}, {"keyring", "ls"}} {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(cleanEnv(os.Environ()), c.Env(victim)...)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), map[string]string{"status": "Leader:", "keyring": newID}[args[0]]) {
			t.Fatalf("roster %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	k, err := c.Client(victim).Keyring(ctx)
	if err != nil || k.Failed != 0 {
		t.Fatal(k, err)
	}
	for _, n := range k.Nodes {
		if n.Primary != newID || len(n.Keys) != 1 {
			t.Fatalf("after the restart %s has primary %s and %v", n.Node, n.Primary, n.Keys)
		}
	}
}
