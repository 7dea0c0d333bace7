package testcluster

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/gossip/resource"
	"github.com/rosterhq/roster/httpapi/client"
	"github.com/rosterhq/roster/node"
)

// follow opens node i's change stream after index (NDJSON) and returns its
// events as they come; the stream ends with the test.
func follow(t *testing.T, c *Cluster, i int, query string) <-chan client.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.Member(i).URL+"/registry-svc/events?"+query, nil)
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events: HTTP %d", resp.StatusCode)
	}
	out := make(chan client.Event, 100)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "" {
				continue
			}
			var e client.Event
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				out <- e
			}
		}
	}()
	return out
}

func next(t *testing.T, evs <-chan client.Event) client.Event {
	t.Helper()
	select {
	case e, ok := <-evs:
		if !ok {
			t.Fatal("the stream ended")
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
	}
	return client.Event{}
}

// A follower's stream shows each change once, in index order; a reader
// that reconnects with the last index it saw gets exactly the rest; a slug
// filter holds; an index older than the history is 410 gone.
func TestChangeStreamMissesNothingAndRepeatsNothing(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3, Configure: func(_ int, cfg *node.Config) { cfg.EventHistory = 64 }})
	f := follower(c)
	resp, _ := do(t, http.MethodGet, c.Member(f).URL+"/registry-svc/instances", "")
	from := resp.Header.Get("X-Registry-Index")
	all := follow(t, c, f, "index="+from)
	onlyB := follow(t, c, f, "index="+from+"&slug=b")

	a := register(t, c, f, "http://10.6.1.1:80", "a")
	b := register(t, c, c.Leader(), "http://10.6.1.2:80", "b")
	if err := c.Client(f).DeleteInstance(t.Context(), a.ID); err != nil {
		t.Fatal(err)
	}
	var got []client.Event
	for range 3 {
		got = append(got, next(t, all))
	}
	want := []string{"upsert " + a.ID, "upsert " + b.ID, "delete " + a.ID}
	for i, e := range got {
		if e.Kind != api.EventInstance || e.Op+" "+e.ID != want[i] || (i > 0 && e.Index <= got[i-1].Index) {
			t.Fatalf("event %d: %+v (want %s, rising indexes)", i, e, want[i])
		}
	}
	if e := next(t, onlyB); e.ID != b.ID {
		t.Fatalf("slug filter: %+v", e)
	}

	// Reconnect after the first: the other two, nothing before.
	again := follow(t, c, f, fmt.Sprintf("index=%d", got[0].Index))
	for i := 1; i < 3; i++ {
		if e := next(t, again); e.Index != got[i].Index || e.ID != got[i].ID {
			t.Fatalf("resumed event %+v, want %+v", e, got[i])
		}
	}

	// A slug nothing changes after this (no check to move its status).
	if resp, body := do(t, http.MethodPut, c.Member(f).URL+"/registry-svc/instance", `{"url":"http://10.6.1.9:80","slug":"quiet","check":{"type":"none"}}`); resp.StatusCode != http.StatusCreated {
		t.Fatalf("register quiet: HTTP %d %s", resp.StatusCode, body)
	}
	// Past the history (64 changes): gone, with where it starts.
	for i := range 70 {
		register(t, c, f, fmt.Sprintf("http://10.6.2.%d:80", i+1), "bulk")
	}
	within(t, 5*time.Second, "the history moves on", func() error {
		resp, body := do(t, http.MethodGet, c.Member(f).URL+"/registry-svc/events?index="+from, "")
		if resp.StatusCode != http.StatusGone || resp.Header.Get("X-Registry-Oldest") == "" || !strings.Contains(body, `"gone"`) {
			return fmt.Errorf("HTTP %d %s", resp.StatusCode, body)
		}
		return nil
	})
	// A slug's list answers with the slug's own last change, older than the
	// history now: a stream of that slug resumes from it all the same (no
	// change of it since), and then shows its next change.
	resp, _ = do(t, http.MethodGet, c.Member(f).URL+"/registry-svc/instances?slug=quiet", "")
	fromQuiet := resp.Header.Get("X-Registry-Index")
	if resp, body := do(t, http.MethodGet, c.Member(f).URL+"/registry-svc/events?index="+fromQuiet, ""); resp.StatusCode != http.StatusGone {
		t.Fatalf("unfiltered from quiet's list index %s: HTTP %d %s", fromQuiet, resp.StatusCode, body)
	}
	resumed := follow(t, c, f, "index="+fromQuiet+"&slug=quiet")
	q2 := register(t, c, f, "http://10.6.1.10:80", "quiet")
	if e := next(t, resumed); e.ID != q2.ID || e.Op != "upsert" {
		t.Fatalf("slug quiet resumed from its list index: %+v, want the upsert of %s", e, q2.ID)
	}
	// A bad filter is a 400 naming it.
	if resp, body := do(t, http.MethodGet, c.Member(f).URL+"/registry-svc/events?kind=instance,nodes", ""); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"field":"kind"`) {
		t.Fatalf("kind=instance,nodes: HTTP %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodGet, c.Member(f).URL+"/registry-svc/events", nil)
	req.Header.Set("Last-Event-ID", "x")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("Last-Event-ID x: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

// The SSE form: id, event and data lines.
func TestChangeStreamSpeaksServerSentEvents(t *testing.T) {
	c := startCluster(t, Options{Nodes: 1})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.Member(0).URL+"/registry-svc/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	in := register(t, c, 0, "http://10.6.3.1:80", "sse")
	sc := bufio.NewScanner(resp.Body)
	var lines []string
	for sc.Scan() && len(lines) < 3 {
		if sc.Text() != "" {
			lines = append(lines, sc.Text())
		}
	}
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "id: ") || lines[1] != "event: instance" || !strings.Contains(lines[2], in.ID) {
		t.Fatalf("frame %q", lines)
	}
}

// roster watch prints each change as it happens, through the CLI.
func TestRosterWatchFollowsTheStream(t *testing.T) {
	bin := buildRoster(t)
	c := startCluster(t, Options{Nodes: 1})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "watch", "instances", "--slug", "watched", "-o", "json")
	cmd.Env = append(cleanEnv(os.Environ()), "ROSTER_ADDR="+c.Member(0).URL)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel() // ends the watch: it follows until stopped
		cmd.Wait()
	}()
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	time.Sleep(500 * time.Millisecond) // the stream is open
	register(t, c, 0, "http://10.6.4.1:80", "other")
	in := register(t, c, 0, "http://10.6.4.2:80", "watched")
	select {
	case l := <-lines:
		var e api.Event
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.ID != in.ID || e.Op != api.EventUpsert {
			t.Fatalf("first line %q: %v", l, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("roster watch printed nothing")
	}
	// Nodes: the table form starts with the node's row.
	nc := exec.CommandContext(ctx, bin, "watch", "nodes")
	nc.Env = cmd.Env
	nodes, err := nc.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		nc.Wait()
	}()
	sc := bufio.NewScanner(nodes)
	if !sc.Scan() {
		t.Fatal("roster watch nodes printed nothing")
	}
	id := c.Member(0).Config.NodeID
	if l := sc.Text(); !strings.Contains(l, "upsert\tnode\t"+id+"\t") || !strings.Contains(l, " alive leader ") {
		t.Fatalf("roster watch nodes: %q", l)
	}
}

// Node changes come from gossip: a stream of nodes starts with every row,
// then shows a node's death with a newer version; POST /nodes?index=N
// waits for the view to move and answers with the node's view sequence.
func TestNodeChangesStreamAndBlockNodeLists(t *testing.T) {
	// Samples every 5 minutes: the view then changes only with liveness
	// and roles, so a blocking list is seen to hold.
	c := startCluster(t, Options{Nodes: 3, StatusInterval: 5 * time.Minute})
	leader := c.Leader()
	watcher := (leader + 1) % 3
	victim := (leader + 2) % 3
	base := c.Member(watcher).URL
	nodes := follow(t, c, watcher, "kind=node")
	seen := map[string]client.Event{}
	for range 3 {
		e := next(t, nodes)
		if e.Kind != client.EventNode || e.Op != api.EventUpsert || e.Node == nil || e.Node.ID != e.ID || e.Version == 0 {
			t.Fatalf("first node events: %+v", e)
		}
		seen[e.ID] = e
	}
	if len(seen) != 3 {
		t.Fatalf("first rows: %v", seen)
	}

	first, meta, err := c.Client(watcher).WatchNodes(t.Context(), client.ListNodesRequest{}, 0, 0)
	if err != nil || len(first) != 3 || meta.Index == 0 {
		t.Fatalf("list: %d nodes, index %d, %v", len(first), meta.Index, err)
	}
	// Nothing changes: the blocking list holds for its wait (a lower
	// bound) and answers the same index. The first samples may still be
	// arriving: a few tries.
	within(t, 10*time.Second, "a quiet blocking node list", func() error {
		start := time.Now()
		_, same, err := c.Client(watcher).WatchNodes(t.Context(), client.ListNodesRequest{}, meta.Index, 300*time.Millisecond)
		switch {
		case err != nil:
			return err
		case same.Index != meta.Index:
			meta = same
			return fmt.Errorf("the view moved to %d", same.Index)
		case time.Since(start) < 300*time.Millisecond:
			return fmt.Errorf("answered after %v, before its wait", time.Since(start))
		}
		return nil
	})
	// A death wakes it.
	type answer struct {
		nodes []resource.Node
		meta  client.Meta
		err   error
	}
	woke, mine := make(chan answer, 1), make(chan time.Duration, 1)
	go func() {
		n, m, err := c.Client(watcher).WatchNodes(t.Context(), client.ListNodesRequest{}, meta.Index, time.Minute)
		woke <- answer{n, m, err}
	}()
	// A list filtered to the watcher's own row does not wake at another
	// node's death: it answers when its wait ends.
	watcherID := c.Member(watcher).Config.NodeID
	go func() {
		start := time.Now()
		_, _, err := c.Client(watcher).WatchNodes(t.Context(), client.ListNodesRequest{IDs: []string{watcherID}}, meta.Index, 3*time.Second)
		if err != nil {
			t.Error(err)
		}
		mine <- time.Since(start)
	}()
	victimID := c.Member(victim).Config.NodeID
	if err := c.Kill(victim); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-woke:
		if a.err != nil || a.meta.Index <= meta.Index {
			t.Fatalf("woken list: index %d after %d, %v", a.meta.Index, meta.Index, a.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the blocking node list did not wake at a death")
	}
	if took := <-mine; took < 3*time.Second {
		t.Fatalf("a list of %s woke after %v at another node's death", watcherID, took)
	}
	for {
		e := next(t, nodes)
		if e.ID != victimID {
			seen[e.ID] = e
			continue
		}
		if e.Version <= seen[victimID].Version {
			t.Fatalf("a change of %s with version %d after %d", victimID, e.Version, seen[victimID].Version)
		}
		seen[victimID] = e
		if e.Node != nil && (e.Node.Status == resource.StatusDead || e.Node.Status == resource.StatusSuspect) {
			break
		}
	}
	// Filters: by node URL, and catalog events are not in a nodes stream.
	only := follow(t, c, watcher, "kind=node&nodeUrl="+url.QueryEscape(c.Member(leader).URL))
	if e := next(t, only); e.ID != c.Member(leader).Config.NodeID {
		t.Fatalf("nodeUrl filter: %+v", e)
	}
	register(t, c, watcher, "http://10.6.9.1:80", "quiet")
	select {
	case e := <-only:
		t.Fatalf("a nodes stream showed %+v", e)
	case <-time.After(300 * time.Millisecond):
	}
	// Bad blocking parameters name themselves.
	if resp, body := do(t, http.MethodPost, base+"/registry-svc/nodes?index=x", "{}"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"field":"index"`) {
		t.Fatalf("index=x: HTTP %d %s", resp.StatusCode, body)
	}
}
