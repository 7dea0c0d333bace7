package testcluster

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi/client"
	"github.com/rosterhq/roster/node"
)

// backend is a real HTTP server that can be stopped and started again on
// the same address, as a restarted service would be.
type backend struct {
	t    *testing.T
	addr string
	mu   sync.Mutex
	srv  *http.Server
}

func newBackend(t *testing.T) *backend {
	b := &backend{t: t}
	b.start()
	t.Cleanup(b.stop)
	return b
}

func (b *backend) start() {
	b.t.Helper()
	addr := b.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for try := 0; try < 50; try++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		b.t.Fatal(err)
	}
	b.addr = ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})}
	go srv.Serve(ln)
	b.mu.Lock()
	b.srv = srv
	b.mu.Unlock()
}

func (b *backend) stop() {
	b.mu.Lock()
	srv := b.srv
	b.srv = nil
	b.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

func (b *backend) url() string { return "http://" + b.addr }

// waitStatus polls node i until instance id has status want, and returns
// how long that took.
func waitStatus(t *testing.T, c *Cluster, i int, id string, want api.Status, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	var last api.Status
	for {
		list, _, err := c.Client(i).ListInstances(ctx, api.InstanceFilter{ID: id}, client.ListOptions{})
		if err == nil && len(list) == 1 {
			if last = list[0].Status; last == want {
				return time.Since(start)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("instance %s still %q after %v, want %s", id, last, limit, want)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func registerChecked(t *testing.T, c *Cluster, i int, req client.RegisterRequest) *api.Instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	in, err := c.Client(i).RegisterInstance(ctx, req)
	if err != nil {
		t.Fatalf("register %s on node%d: %v", req.URL, i+1, err)
	}
	return in
}

func secs(n float64) api.Duration { return api.Duration(time.Duration(n * float64(time.Second))) }

// An http check follows a real server down and up; when the node that
// checks the instance is killed, a survivor takes the check over and still
// sees the next failure.
func TestHTTPCheckFollowsTheServerAndSurvivesItsChecker(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3})
	owner := follower(c)
	b := newBackend(t)
	in := registerChecked(t, c, owner, client.RegisterRequest{URL: b.url(), Slug: "web",
		Check: &api.Check{Type: api.CheckHTTP, Path: "/health", Interval: secs(1), FailuresBeforeUnhealthy: 2}})
	if in.Check == nil || in.Check.Timeout.D() != time.Second || in.Status != api.StatusUnknown {
		t.Fatalf("stored check not completed: %+v", in.Check)
	}
	waitStatus(t, c, c.Leader(), in.ID, api.StatusHealthy, 5*time.Second)
	if got := c.Agent(owner).Health().Status().Checking; got != 1 {
		t.Fatalf("the nodeUrl node checks %d instances, want 1", got)
	}

	b.stop()
	took := waitStatus(t, c, c.Leader(), in.ID, api.StatusUnhealthy, 10*time.Second)
	t.Logf("stopped server: Unhealthy after %v (interval 1s x 2 failures)", took)
	list, _, _ := c.Client(0).ListInstances(t.Context(), api.InstanceFilter{ID: in.ID}, client.ListOptions{Consistent: true})
	if r := list[0]; r.StatusReason == "" || r.StatusChangedAt.IsZero() {
		t.Fatalf("no reason or time on the transition: %+v", r)
	}
	b.start()
	waitStatus(t, c, c.Leader(), in.ID, api.StatusHealthy, 5*time.Second)

	// Kill the checker; a survivor must take over and see the next failure.
	killed := time.Now()
	if err := c.Kill(owner); err != nil {
		t.Fatal(err)
	}
	var takeover time.Duration
	if err := Eventually(t.Context(), func() error {
		for _, i := range c.Running() {
			if c.Agent(i).Health().Status().Checking == 1 {
				takeover = time.Since(killed)
				return nil
			}
		}
		return fmt.Errorf("no survivor checks the instance")
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("checker killed: a survivor checks the instance after %v", takeover)
	b.stop()
	waitStatus(t, c, c.Running()[0], in.ID, api.StatusUnhealthy, 15*time.Second)
}

// A ttl instance is Healthy while it heartbeats, through any node, and goes
// Unhealthy no earlier than its ttl after the last heartbeat.
func TestTTLCheckAndHeartbeatsThroughAnyNode(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3})
	owner := follower(c)
	other := c.Leader()
	in := registerChecked(t, c, owner, client.RegisterRequest{URL: "http://10.1.2.3:80", Slug: "batch",
		Check: &api.Check{Type: api.CheckTTL, TTL: secs(2), Interval: secs(1)}})
	// At once through the third node, which may not have applied the
	// registration yet, and which does not check the instance: the
	// heartbeat waits for the registration and is handed to the checker.
	third := 3 - owner - other
	if _, err := c.Client(third).Heartbeat(t.Context(), in.ID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, other, in.ID, api.StatusHealthy, 5*time.Second)
	// last is when the last heartbeat was sent: the owner received it
	// later, so the ttl cannot run out before last + ttl.
	var last time.Time
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		sent := time.Now()
		if _, err := c.Client(other).Heartbeat(t.Context(), in.ID); err != nil {
			t.Fatal(err)
		}
		last = sent
	}
	list, _, _ := c.Client(owner).ListInstances(t.Context(), api.InstanceFilter{ID: in.ID}, client.ListOptions{})
	if list[0].Status != api.StatusHealthy {
		t.Fatalf("status %s while heartbeating", list[0].Status)
	}
	waitStatus(t, c, owner, in.ID, api.StatusUnhealthy, 10*time.Second)
	if since := time.Since(last); since < 2*time.Second {
		t.Fatalf("Unhealthy %v after the last heartbeat, before its 2s ttl", since)
	}

	// Heartbeats are for ttl checks only; a bad ID is a 400, an absent one 404.
	other2 := registerChecked(t, c, owner, client.RegisterRequest{URL: "http://10.1.2.4:80", Check: &api.Check{Type: api.CheckNone}})
	for id, code := range map[string]api.Code{other2.ID: api.CodeConflict, "nosuch": api.CodeNotFound, "a%20b": api.CodeInvalid} {
		if _, err := c.Client(other).Heartbeat(t.Context(), id); api.CodeOf(err) != code {
			t.Errorf("heartbeat %s: %v, want %s", id, err, code)
		}
	}
}

// Checkers follow the catalog by its change history, and read the whole
// catalog again when the history has turned over before they looked: with
// a history of 3 changes, every one of 12 ttl instances registered in a
// burst through all three nodes is checked (each runs out Unhealthy), and
// heartbeats keep the ones that get them Healthy.
func TestChecksFollowTheCatalogPastTheChangeHistory(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3, Configure: func(_ int, cfg *node.Config) { cfg.EventHistory = 3 }})
	var ids []string
	var wg sync.WaitGroup
	var mu sync.Mutex
	for k := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := registerChecked(t, c, k%3, client.RegisterRequest{URL: fmt.Sprintf("http://10.1.3.%d:80", k+1), Slug: "burst",
				Check: &api.Check{Type: api.CheckTTL, TTL: secs(2), Interval: secs(1)}})
			mu.Lock()
			ids = append(ids, in.ID)
			mu.Unlock()
		}()
	}
	wg.Wait()
	kept := ids[0]
	stop := make(chan struct{})
	beating := make(chan struct{})
	go func() {
		defer close(beating)
		for {
			c.Client(1).Heartbeat(t.Context(), kept)
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()
	defer func() { close(stop); <-beating }()
	for _, id := range ids[1:] {
		waitStatus(t, c, 0, id, api.StatusUnhealthy, 10*time.Second)
	}
	waitStatus(t, c, 2, kept, api.StatusHealthy, 5*time.Second)
}

// Passing checks cost no Raft writes, and a leader failover flips nothing.
func TestHealthyChecksAreQuietAndSurviveFailover(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3})
	b := newBackend(t)
	// One server, many instances: each instance URL is the server plus a
	// distinct path, checked over tcp every second.
	const n = 30
	var ids []string
	for i := range n {
		in := registerChecked(t, c, i%3, client.RegisterRequest{URL: fmt.Sprintf("%s/i%d", b.url(), i), Slug: "quiet",
			Check: &api.Check{Type: api.CheckTCP, Interval: secs(1), FailuresBeforeUnhealthy: 1}})
		ids = append(ids, in.ID)
	}
	allHealthy := func() error {
		list, _, err := c.Client(c.Running()[0]).ListInstances(t.Context(), api.InstanceFilter{Slug: "quiet"}, client.ListOptions{})
		if err != nil {
			return err
		}
		for _, in := range list {
			if in.Status != api.StatusHealthy {
				return fmt.Errorf("%s is %s", in.ID, in.Status)
			}
		}
		return nil
	}
	if err := Eventually(t.Context(), allHealthy); err != nil {
		t.Fatal(err)
	}
	l := c.Leader()
	before := c.Agent(l).Node.Status().LastLogIndex
	time.Sleep(3 * time.Second) // three rounds of checks
	if after := c.Agent(l).Node.Status().LastLogIndex; after != before {
		t.Fatalf("Raft log grew from %d to %d while every check passed", before, after)
	}
	checking := 0
	for i := range 3 {
		checking += c.Agent(i).Health().Status().Checking
	}
	if checking != n {
		t.Fatalf("nodes check %d instances in all, want each of %d once", checking, n)
	}

	if err := c.Kill(l); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if err := allHealthy(); err != nil {
			t.Fatalf("after the leader was killed: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// deregisterAfter removes an instance; self-preservation pauses it while
// half the instances are Unhealthy, and resumes when they recover.
func TestDeregisterAfterAndSelfPreservation(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3})
	cl := c.Client(follower(c))
	ctx := t.Context()
	var ids []string
	for i := range 6 {
		in := registerChecked(t, c, i%3, client.RegisterRequest{URL: fmt.Sprintf("http://10.2.0.%d:80", i+1), Slug: "jobs",
			Check: &api.Check{Type: api.CheckNone, DeregisterAfter: secs(1)}})
		ids = append(ids, in.ID)
	}
	gone := func(id string) error {
		list, _, err := cl.ListInstances(ctx, api.InstanceFilter{ID: id}, client.ListOptions{})
		if err != nil || len(list) != 0 {
			return fmt.Errorf("%s still registered (%v)", id, err)
		}
		return nil
	}
	if _, err := cl.SetInstanceStatus(ctx, ids[0], api.StatusUnhealthy, "crashed"); err != nil {
		t.Fatal(err)
	}
	if err := Eventually(ctx, func() error { return gone(ids[0]) }); err != nil {
		t.Fatal(err)
	}

	// Three of the five left fail at once: deregistration pauses.
	for _, id := range ids[1:4] {
		if _, err := cl.SetInstanceStatus(ctx, id, api.StatusUnhealthy, "partitioned"); err != nil {
			t.Fatal(err)
		}
	}
	if err := Eventually(ctx, func() error {
		st, err := cl.ClusterStatus(ctx)
		if err != nil || st.Health == nil || !st.Health.SelfPreservation {
			return fmt.Errorf("self-preservation not shown: %+v %v", st.Health, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // well past deregisterAfter
	for _, id := range ids[1:4] {
		if gone(id) == nil {
			t.Fatalf("%s was removed during self-preservation", id)
		}
	}
	// Two recover: one of five is Unhealthy, and it goes.
	for _, id := range ids[2:4] {
		if _, err := cl.SetInstanceStatus(ctx, id, api.StatusHealthy, "back"); err != nil {
			t.Fatal(err)
		}
	}
	if err := Eventually(ctx, func() error { return gone(ids[1]) }); err != nil {
		t.Fatal(err)
	}
}
