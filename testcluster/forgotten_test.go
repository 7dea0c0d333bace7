package testcluster

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A non-voter that died before every other node restarted is unknown to
// gossip but still in the Raft configuration (the leader dials it for
// good): DELETE /registry-svc/node/{id} removes it by ID all the same.
func TestAServerGossipForgotIsRemovedByID(t *testing.T) {
	c := startCluster(t, Options{Nodes: 4})
	servers := func() string {
		for _, i := range c.Running() {
			st, err := c.Client(i).ClusterStatus(t.Context())
			if err != nil || st.LeaderID == "" {
				continue
			}
			var ids []string
			for _, s := range st.Servers {
				ids = append(ids, s.ID)
			}
			return strings.Join(ids, ",")
		}
		return ""
	}
	within(t, 15*time.Second, "node4 is a server", func() error {
		if s := servers(); !strings.Contains(s, "node4") {
			return fmt.Errorf("servers %q", s)
		}
		return nil
	})
	if err := c.Kill(3); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := c.Kill(i); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if err := c.Restart(i); err != nil {
			t.Fatal(err)
		}
	}
	within(t, 20*time.Second, "a leader whose gossip has never seen node4, which Raft still lists", func() error {
		s := servers()
		if !strings.Contains(s, "node4") {
			return fmt.Errorf("servers %q", s)
		}
		for _, n := range listNodes(t, c.Member(0).URL, "") {
			if n.ID == "node4" {
				return fmt.Errorf("gossip still lists node4 as %s", n.Status)
			}
		}
		return nil
	})
	within(t, 15*time.Second, "node4 removed by ID", func() error {
		resp, body := do(t, http.MethodDelete, c.Member(0).URL+"/registry-svc/node/node4", "")
		if resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("DELETE: %d %s", resp.StatusCode, body)
		}
		return nil
	})
	// The node answering may be a follower a moment behind the leader.
	within(t, 5*time.Second, "node4 gone from the configuration", func() error {
		if s := servers(); strings.Contains(s, "node4") {
			return fmt.Errorf("node4 is still a server: %s", s)
		}
		return nil
	})
	if resp, _ := do(t, http.MethodDelete, c.Member(0).URL+"/registry-svc/node/node4", ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a second DELETE: %d, want 404", resp.StatusCode)
	}
}
