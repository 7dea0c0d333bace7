package testcluster

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/forward"
)

// The leader proves a read index by asking the voters on the nodes' HTTP
// routes, not by a log entry: with those routes cut (Raft still up, so it
// stays leader and writes still commit) no ?consistent read is served,
// neither on the leader nor through a follower, and they are served again
// once the routes are back. A voter asked by a node that is not its leader,
// or about another term, says no. Voters of an older build, which answer
// the question with 404 not_found, get a barrier instead.
func TestAReadIndexNeedsTheVotersAnswers(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3})
	l := c.Leader()
	register(t, c, l, "http://10.7.0.1:80", "ri")
	consistent := func(i int) (int, string) {
		resp, body := do(t, http.MethodGet, c.Member(i).URL+"/registry-svc/instances?slug=ri&consistent", "")
		return resp.StatusCode, body
	}
	if code, body := consistent(l); code != http.StatusOK || !strings.Contains(body, "10.7.0.1") {
		t.Fatalf("consistent read on the leader: %d %s", code, body)
	}
	// The leader's own HTTP client can no longer reach the others.
	for j := range c.Size() {
		if j != l {
			c.BlockOneWay(l, j, Forward)
		}
	}
	if code, body := consistent(l); code != http.StatusServiceUnavailable {
		t.Fatalf("consistent read on a leader no voter could confirm: %d %s", code, body)
	}
	if !c.Agent(l).Node.IsLeader() {
		t.Fatal("the leader lost its place: the test cut more than the HTTP routes")
	}
	c.Heal()
	within(t, 10*time.Second, "consistent reads once the voters answer again", func() error {
		if code, body := consistent(follower(c)); code != http.StatusOK {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	})
	// The route itself: only the leader of the term gets a yes.
	f := follower(c)
	term := c.Agent(l).Node.Status().Term
	for _, q := range []struct {
		asker string
		term  uint64
		want  int
	}{
		{c.Agent(l).Node.ID(), term, http.StatusNoContent},
		{c.Agent(l).Node.ID(), term + 1, http.StatusConflict},
		{c.Agent(f).Node.ID(), term, http.StatusConflict},
	} {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/registry-svc/internal/follower-check?term=%d", c.Member(f).URL, q.term), nil)
		req.Header.Set("X-Registry-Forwarded-By", q.asker)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != q.want {
			t.Errorf("asked by %s about term %d: %d, want %d", q.asker, q.term, resp.StatusCode, q.want)
		}
	}

	// A rolling upgrade: the voters do not know the question yet.
	leader := c.Agent(l).Node
	leader.SetFollowerCheck(func(context.Context, string, uint64) error {
		return &api.Error{Code: api.CodeNotFound, Message: "no route for GET " + forward.FollowerCheckPath}
	})
	before := leader.Status().LastLogIndex
	if code, body := consistent(l); code != http.StatusOK || !strings.Contains(body, "10.7.0.1") {
		t.Fatalf("consistent read with voters of an older build: %d %s", code, body)
	}
	if after := leader.Status().LastLogIndex; after <= before {
		t.Fatalf("the log stayed at %d: the round was not proven by a barrier", after)
	}
}
