package gossip

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func TestMetaSizeLimit(t *testing.T) {
	m := Meta{ID: "node-1", URL: "http://node1.cluster.local:11337", RaftAddr: "10.0.0.1:11339", Region: "us-east-1", AZ: "us-east-1a"}
	b, err := m.Encode()
	if err != nil || len(b) > memberlist.MetaMaxSize {
		t.Fatalf("ordinary meta: %d bytes, %v", len(b), err)
	}
	m.URL = "http://" + strings.Repeat("a", 500) + ":11337"
	_, err = m.Encode()
	if err == nil || !strings.Contains(err.Error(), "self URL") {
		t.Fatalf("long URL: want a clear size error, got %v", err)
	}
	if _, err := New(Config{BindAddr: "127.0.0.1:0", Meta: m}); err == nil {
		t.Fatal("gossip started with oversized meta")
	}
}

func TestDecodeMetaRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, {0}, {2, '{', '}'}, {1, '['}, append([]byte{1}, make([]byte, 600)...)} {
		if _, err := DecodeMeta(b); err == nil {
			t.Errorf("decoded %q", b)
		}
	}
	good, _ := Meta{ID: "a", URL: "http://a:1", RaftAddr: "a:2"}.Encode()
	if m, err := DecodeMeta(good); err != nil || m.ID != "a" {
		t.Fatalf("round trip: %+v %v", m, err)
	}
}

// A peer's identity is held to what a Roster node sends: the forgeries of a
// hostile member (a newline in its ID, a URL one slash away from another
// member's, an address that is not one) are refused when decoded.
func TestDecodeMetaRefusesForgedIdentities(t *testing.T) {
	raw := func(m Meta) []byte {
		b, _ := json.Marshal(m)
		return append([]byte{metaVersion}, b...)
	}
	ok := Meta{ID: "node1", URL: "http://127.0.0.1:11337", RaftAddr: "127.0.0.1:11339", Region: "eu", AZ: "eu-1",
		ServerMode: ServerNever, Upstream: "node2", LogFormat: 2}
	if _, err := DecodeMeta(raw(ok)); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]func(*Meta){
		"newline in id":     func(m *Meta) { m.ID = "evil\n[ERR] raft: forged" },
		"space in id":       func(m *Meta) { m.ID = "node 1" },
		"trailing slash":    func(m *Meta) { m.URL += "/" },
		"path":              func(m *Meta) { m.URL += "/x" },
		"query":             func(m *Meta) { m.URL += "?a=1" },
		"user":              func(m *Meta) { m.URL = "http://u:p@127.0.0.1:11337" },
		"scheme":            func(m *Meta) { m.URL = "gopher://127.0.0.1:11337" },
		"raft address":      func(m *Meta) { m.RaftAddr = "127.0.0.1" },
		"raft port":         func(m *Meta) { m.RaftAddr = "127.0.0.1:99999" },
		"control in region": func(m *Meta) { m.Region = "eu\x1b[31m" },
		"expectation":       func(m *Meta) { m.BootstrapExpect = -3 },
		"server mode":       func(m *Meta) { m.ServerMode = "sometimes" },
		"server mode auto":  func(m *Meta) { m.ServerMode = "auto" }, // auto travels as nothing
		"upstream":          func(m *Meta) { m.Upstream = "node2\n[ERR] forged" },
		"log format":        func(m *Meta) { m.LogFormat = -1 },
		"log format 256":    func(m *Meta) { m.LogFormat = 256 },
		"server upstream":   func(m *Meta) { m.Server = true }, // ok names an upstream
	} {
		m := ok
		bad(&m)
		if _, err := DecodeMeta(raw(m)); err == nil {
			t.Errorf("%s: accepted %+v", name, m)
		}
		if _, err := m.Encode(); err == nil {
			t.Errorf("%s: this node would send %+v", name, m)
		}
	}
	// The server flag is a JSON boolean, nothing else.
	for _, sv := range []string{`"yes"`, `1`, `null1`, `{}`} {
		b := append([]byte{metaVersion}, `{"id":"node1","url":"http://127.0.0.1:11337","sv":`+sv+`}`...)
		if m, err := DecodeMeta(b); err == nil {
			t.Errorf("sv %s: accepted %+v", sv, m)
		}
	}
}

// Newer epochs win, so one far in the future would shadow a node's real
// samples for good: it is refused beyond a small skew.
func TestFarFutureEpochsAreRefused(t *testing.T) {
	g := &Gossip{id: "a", members: map[string]*Member{"a": {Name: "a"}}, status: map[string]*nodeStatus{}}
	now := time.Now().UnixNano()
	forged := usageMsg{ID: "a", Ep: math.MaxInt64, Seq: 1, At: 1, Iv: 1000, N: 0, Host: &hostUsage{C: amount{P: 99}}}
	if g.receiveUsage(forged) || g.BadMessageCount() != 1 {
		t.Fatal("a MaxInt64 epoch was taken")
	}
	inv := inventoryMsg{ID: "a", Ep: math.MaxInt64, Ver: 1, N: 1, G: []gpuInv{{I: 0, Name: "H100 (FORGED)"}}}
	if g.receiveInventory(inv) || g.BadMessageCount() != 2 {
		t.Fatal("a MaxInt64 inventory epoch was taken")
	}
	real := usageMsg{ID: "a", Ep: now, Seq: 1, At: 1, Iv: 1000, Host: &hostUsage{C: amount{P: 5}}}
	if !g.receiveUsage(real) {
		t.Fatal("a sample of now was refused")
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func start(t *testing.T, id string) *Gossip {
	t.Helper()
	return startWith(t, id, func(*Config) {})
}

// startWith starts a member on loopback with fast timings; edit changes the
// config first.
func startWith(t *testing.T, id string, edit func(*Config)) *Gossip {
	t.Helper()
	cfg := Config{
		BindAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), AdvertiseIP: "127.0.0.1", Timing: "local",
		Meta: Meta{ID: id, URL: "http://" + id + ":11337", RaftAddr: id + ":11339", AZ: "az-" + id},
	}
	edit(&cfg)
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func stateIn(g *Gossip, id string) State {
	for _, m := range g.Members() {
		if m.Name == id {
			return m.State
		}
	}
	return ""
}

func TestMembersSeeJoinLeaveAndDeath(t *testing.T) {
	a, b, c := start(t, "a"), start(t, "b"), start(t, "c")
	defer a.Shutdown()
	changes, unsubscribe := a.Subscribe()
	defer unsubscribe()
	b.Join(t.Context(), []string{a.LocalAddr()})
	c.Join(t.Context(), []string{a.LocalAddr()})
	waitFor(t, "three alive members everywhere", func() bool {
		for _, g := range []*Gossip{a, b, c} {
			if len(g.Members()) != 3 || stateIn(g, "a") != StateAlive || stateIn(g, "c") != StateAlive {
				return false
			}
		}
		return true
	})
	select {
	case <-changes:
	default:
		t.Fatal("no change notification after joins")
	}
	if m, ok := b.Member("c"); !ok || m.AZ != "az-c" || m.URL != "http://c:11337" {
		t.Fatalf("meta not carried: %+v", m)
	}

	if err := b.Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	b.Shutdown()
	c.Shutdown() // no leave: peers must see a death, not a departure
	waitFor(t, "b left and c dead", func() bool { return stateIn(a, "b") == StateLeft && stateIn(a, "c") == StateDead })
	a.Forget("b")
	if _, ok := a.Member("b"); ok {
		t.Fatal("forgotten member still listed")
	}
}

func TestDecodeMsgRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, {1}, {9, '{', '}'}, {1, '{', '}'}, {1, '['}, append([]byte{1}, make([]byte, 2000)...)} {
		if _, _, err := decodeMsg(b); err == nil {
			t.Errorf("decoded %q", b)
		}
	}
	g := start(t, "solo")
	defer g.Shutdown()
	(&delegate{g: g}).NotifyMsg([]byte{7, 7, 7})
	if g.BadMessageCount() != 1 {
		t.Fatalf("malformed message not counted")
	}
}

func TestPaceIntervalStretchesOnlyLargePools(t *testing.T) {
	for _, c := range []struct {
		members int
		want    time.Duration
	}{{3, 5 * time.Second}, {50, 5 * time.Second}, {200, 16 * time.Second}} {
		if got := paceInterval(5*time.Second, c.members, 4); got != c.want {
			t.Errorf("%d members: %v, want %v", c.members, got, c.want)
		}
	}
}

// A member whose name is not a node ID is not recorded; one whose meta
// claims another identity keeps its liveness but no URL or Raft address.
func TestUpdateIgnoresForgedMembers(t *testing.T) {
	g := &Gossip{id: "a", log: slog.New(slog.DiscardHandler), members: map[string]*Member{}, leaving: map[string]bool{},
		forgetting: map[string]time.Time{}, status: map[string]*nodeStatus{}}
	meta := func(m Meta) []byte { b, _ := json.Marshal(m); return append([]byte{metaVersion}, b...) }
	g.update(&memberlist.Node{Name: "evil\n[ERR] raft: forged", Addr: net.IPv4(127, 0, 0, 1), Port: 1,
		Meta: meta(Meta{ID: "evil", URL: "http://127.0.0.1:2"})}, StateAlive)
	g.update(&memberlist.Node{Name: "rogue", Addr: net.IPv4(127, 0, 0, 1), Port: 3,
		Meta: meta(Meta{ID: "node1", URL: "http://127.0.0.1:11337", RaftAddr: "127.0.0.1:4"})}, StateAlive)
	g.update(&memberlist.Node{Name: "slash", Addr: net.IPv4(127, 0, 0, 1), Port: 5,
		Meta: meta(Meta{ID: "slash", URL: "http://127.0.0.1:11337/", RaftAddr: "127.0.0.1:6"})}, StateAlive)
	if _, ok := g.members["evil\n[ERR] raft: forged"]; ok || len(g.members) != 2 {
		t.Fatalf("members: %v", g.members)
	}
	for _, id := range []string{"rogue", "slash"} {
		if m := g.members[id]; m.URL != "" || m.RaftAddr != "" || m.State != StateAlive || g.BadMetaCount() != 3 {
			t.Fatalf("%s kept a forged identity: %+v (bad meta %d)", id, m, g.BadMetaCount())
		}
	}
}

// A Forget from a request still being served while the node shuts down
// (the agent stops the node before its HTTP server) starts no background
// send once Shutdown has begun: Shutdown's wait never races it (run with
// -race).
func TestForgetWhileShuttingDown(t *testing.T) {
	a, b := start(t, "a"), start(t, "b")
	defer b.Shutdown()
	b.Join(t.Context(), []string{a.LocalAddr()})
	waitFor(t, "two members", func() bool { return len(a.Members()) == 2 })
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				_ = a.Forget("gone")
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	if err := a.Shutdown(); err != nil {
		t.Fatal(err)
	}
	stop.Store(true)
	wg.Wait()
}
