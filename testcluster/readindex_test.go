package testcluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/forward"
	"github.com/rosterhq/roster/httpapi"
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
	leader.SetFollowerCheck(func(context.Context, string, string, uint64) error {
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

// With three voters, a voter's read-index request is its own yes: the
// leader's and the asker's are a quorum, so a ?consistent read through a
// follower is proven without the leader asking anyone, even when every
// voter it would ask says no. A request whose word does not hold (another
// term, an asker that is not a voter, the leader itself, no word at all)
// still needs the voters, and a malformed word is refused naming it.
func TestAVotersReadIndexRequestIsItsOwnYes(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3})
	l := c.Leader()
	register(t, c, l, "http://10.7.0.3:80", "ri")
	leader := c.Agent(l).Node
	var asked atomic.Int32
	leader.SetFollowerCheck(func(context.Context, string, string, uint64) error {
		asked.Add(1)
		return &api.Error{Code: api.CodeConflict, Message: "no"}
	})
	f := follower(c)
	resp, body := do(t, http.MethodGet, c.Member(f).URL+"/registry-svc/instances?slug=ri&consistent", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "10.7.0.3") {
		t.Fatalf("consistent read through voter %d: %d %s", f, resp.StatusCode, body)
	}
	if n := asked.Load(); n != 0 {
		t.Fatalf("the leader asked the voters %d times for a round a voter's request proves", n)
	}
	term := leader.Status().Term
	ask := func(asker, query string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, c.Member(l).URL+forward.ReadIndexPath+query, nil)
		req.Header.Set(forward.Header, asker)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	voter := c.Agent(f).Node.ID()
	if code := ask(voter, fmt.Sprintf("?voterTerm=%d", term)); code != http.StatusOK || asked.Load() != 0 {
		t.Fatalf("voter %s in term %d: %d after %d questions", voter, term, code, asked.Load())
	}
	for _, q := range []struct{ asker, query string }{
		{voter, fmt.Sprintf("?voterTerm=%d", term+1)},
		{voter, fmt.Sprintf("?voterTerm=%d", term-1)},
		{voter, ""},
		{"node-not-in-the-cluster", fmt.Sprintf("?voterTerm=%d", term)},
		{leader.ID(), fmt.Sprintf("?voterTerm=%d", term)},
		{"", fmt.Sprintf("?voterTerm=%d", term)},
	} {
		before := asked.Load()
		if code := ask(q.asker, q.query); code == http.StatusOK || asked.Load() == before {
			t.Errorf("asker %q with %q: %d after %d new questions; want the voters asked (and their no)", q.asker, q.query, code, asked.Load()-before)
		}
	}
	for _, bad := range []string{"?voterTerm=0", "?voterTerm=abc", "?voterTerm=-1"} {
		if code := ask(voter, bad); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, code)
		}
	}
}

// With five voters the asking voter's word and the leader's are two of the
// three a quorum takes: the leader still asks the others, and their no
// refuses the read index.
func TestWithFiveVotersAVotersWordIsNotAQuorum(t *testing.T) {
	c := startCluster(t, Options{Nodes: 5, Voters: 5})
	l := c.Leader()
	leader := c.Agent(l).Node
	within(t, 30*time.Second, "five voters", func() error {
		if v := leader.Status().Voters; v != 5 {
			return fmt.Errorf("%d voters", v)
		}
		return nil
	})
	var asked atomic.Int32
	leader.SetFollowerCheck(func(context.Context, string, string, uint64) error {
		asked.Add(1)
		return &api.Error{Code: api.CodeConflict, Message: "no"}
	})
	voter := c.Agent(follower(c)).Node.ID()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s%s?voterTerm=%d", c.Member(l).URL, forward.ReadIndexPath, leader.Status().Term), nil)
	req.Header.Set(forward.Header, voter)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK || asked.Load() == 0 {
		t.Fatalf("voter %s's word among five voters: %d after %d questions; want the others asked (and their no)", voter, resp.StatusCode, asked.Load())
	}
}

// A round ends at a quorum of yes, but a check still under way is left to
// finish: net/http closes the connection of a request it cancels, so
// cancelling the slower voter's check every round made the next round dial
// (and, with TLS, handshake) again. A voter that does not answer at all
// does not gather a check per round: past a few, they are cancelled.
func TestAReadIndexRoundLeavesTheSlowerCheckRunning(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3})
	l := c.Leader()
	register(t, c, l, "http://10.7.0.2:80", "ri")
	slowURL := c.Member((l + 2) % 3).URL
	release := make(chan struct{})
	slow := make(chan error, 1)
	c.Agent(l).Node.SetFollowerCheck(func(ctx context.Context, _, url string, _ uint64) error {
		if url != slowURL {
			return nil // the other voter says yes at once: a quorum
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
		slow <- ctx.Err()
		return nil
	})
	read := func() {
		t.Helper()
		resp, body := do(t, http.MethodGet, c.Member(l).URL+"/registry-svc/instances?slug=ri&consistent", "")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "10.7.0.2") {
			t.Fatalf("consistent read: %d %s", resp.StatusCode, body)
		}
	}
	read()
	close(release)
	if err := <-slow; err != nil {
		t.Fatalf("the slower voter's check was cut short once the round had its quorum: %v", err)
	}

	// A voter that never answers: its checks stay under the bound. A check
	// runs until the node cancels it; counted are the ones not cancelled
	// when a new one starts (a cancelled one may take a moment to return
	// on a loaded machine, which once made 6 of a bound of 5).
	var mu sync.Mutex
	running := map[context.Context]bool{}
	most := 0
	c.Agent(l).Node.SetFollowerCheck(func(ctx context.Context, _, url string, _ uint64) error {
		if url != slowURL {
			return nil
		}
		mu.Lock()
		running[ctx] = true
		n := 0
		for rc := range running {
			if rc.Err() == nil {
				n++
			}
		}
		most = max(most, n)
		mu.Unlock()
		<-ctx.Done()
		mu.Lock()
		delete(running, ctx)
		mu.Unlock()
		return ctx.Err()
	})
	for range 20 {
		read()
	}
	// node's maxLingering (4) left over from earlier rounds, and this one's.
	mu.Lock()
	m := most
	mu.Unlock()
	if m > 5 {
		t.Fatalf("%d checks of a silent voter ran at once over 20 rounds", m)
	}
}

// A voter's yes and a server's replica stream come from that node only:
// asked at another node's address (a stale or forged gossip URL), the
// call fails, with TLS at the handshake (the certificate names the other
// node) and without it at the other node, which refuses a call meant for
// someone else.
func TestCallsMeantForOneNodeReachOnlyThatNode(t *testing.T) {
	for _, tlsOn := range []bool{true, false} {
		t.Run(fmt.Sprintf("tls=%v", tlsOn), func(t *testing.T) {
			c := startCluster(t, Options{Nodes: 3, TLS: tlsOn})
			l := c.Leader()
			f1, f2 := (l+1)%3, (l+2)%3
			n := c.Agent(l).Node
			fwd := httpapi.NewForwarder(n, time.Second, nil)
			defer fwd.Close()
			ctx := t.Context()
			id1 := c.Agent(f1).Node.ID()
			term := n.Status().Term
			if err := fwd.CheckFollower(ctx, id1, c.Member(f1).URL, term); err != nil {
				t.Fatalf("%s at its own address: %v", id1, err)
			}
			err := fwd.CheckFollower(ctx, id1, c.Member(f2).URL, term)
			var ae *api.Error
			switch {
			case err == nil:
				t.Fatalf("%s's yes came from %s's address", id1, c.Agent(f2).Node.ID())
			case tlsOn && (errors.As(err, &ae) || !strings.Contains(err.Error(), "names node")):
				t.Fatalf("with TLS the handshake must refuse the other node: %v", err)
			case !tlsOn && api.CodeOf(err) != api.CodeConflict:
				t.Fatalf("without TLS the other node must refuse: %v", err)
			}
			if body, err := fwd.OpenReplica(ctx, id1, c.Member(f2).URL, 0); err == nil {
				body.Close()
				t.Fatalf("a replica stream of %s opened at %s's address", id1, c.Agent(f2).Node.ID())
			}
		})
	}
}
