package gossip

import (
	"fmt"
	"net"
	"strings"
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
