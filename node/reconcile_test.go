package node

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/gossip"
)

func member(id, az string, st gossip.State) gossip.Member {
	return gossip.Member{Name: id, State: st, Meta: gossip.Meta{ID: id, RaftAddr: id + ":1", AZ: az}}
}

func server(id string, s raft.ServerSuffrage) raft.Server {
	return raft.Server{ID: raft.ServerID(id), Address: raft.ServerAddress(id + ":1"), Suffrage: s}
}

func testReconciler(voters int) *reconciler {
	return newReconciler(&Node{id: "a", cfg: Config{Voters: voters, Servers: 5, DeadVoterWindow: 30 * time.Second, PromoteAfter: 3 * time.Second}})
}

func ops(cs []change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.op+" "+c.id)
	}
	return out
}

func TestPlanAddsThenPromotesPreferringNewAZs(t *testing.T) {
	r := testReconciler(3)
	t0 := time.Unix(1000, 0)
	members := []gossip.Member{member("a", "z1", gossip.StateAlive), member("b", "z1", gossip.StateAlive),
		member("c", "z2", gossip.StateAlive), member("d", "z3", gossip.StateAlive)}
	cfg := raft.Configuration{Servers: []raft.Server{server("a", raft.Voter)}}
	// Zones without a server first (a is in z1).
	if got := ops(r.plan(cfg, members, t0)); !slices.Equal(got, []string{"add-nonvoter c", "add-nonvoter d", "add-nonvoter b"}) {
		t.Fatalf("round 1: %v", got)
	}
	cfg.Servers = append(cfg.Servers, server("b", raft.Nonvoter), server("c", raft.Nonvoter), server("d", raft.Nonvoter))
	if got := r.plan(cfg, members, t0.Add(time.Second)); len(got) != 0 {
		t.Fatalf("promoted before PromoteAfter: %v", ops(got))
	}
	// b shares a's zone, so c and d (new zones) are promoted first.
	if got := ops(r.plan(cfg, members, t0.Add(4*time.Second))); !slices.Equal(got, []string{"promote c", "promote d"}) {
		t.Fatalf("promotion: %v", got)
	}
}

func TestPlanReplacesDeadVoterOnlyAfterWindowAndNeverShrinks(t *testing.T) {
	r := testReconciler(3)
	t0 := time.Unix(1000, 0)
	cfg := raft.Configuration{Servers: []raft.Server{server("a", raft.Voter), server("b", raft.Voter), server("c", raft.Voter)}}
	dead := []gossip.Member{member("a", "", gossip.StateAlive), member("b", "", gossip.StateAlive), member("c", "", gossip.StateDead)}
	for _, at := range []time.Duration{0, 10 * time.Second, time.Hour} {
		// No non-voter to replace c with: nothing changes, however long.
		if got := r.plan(cfg, dead, t0.Add(at)); len(got) != 0 {
			t.Fatalf("changed a 3-voter config with no replacement at %v: %v", at, ops(got))
		}
	}
	r = testReconciler(3)
	cfg.Servers = append(cfg.Servers, server("d", raft.Nonvoter))
	withSpare := append(dead, member("d", "", gossip.StateAlive))
	r.plan(cfg, withSpare, t0)
	if got := r.plan(cfg, withSpare, t0.Add(29*time.Second)); len(got) != 0 {
		t.Fatalf("replaced before the window: %v", ops(got))
	}
	if got := ops(r.plan(cfg, withSpare, t0.Add(31*time.Second))); !slices.Equal(got, []string{"remove c", "promote d"}) {
		t.Fatalf("replacement: %v", got)
	}
}

func TestPlanRemovesLeftMembersAndReaddresses(t *testing.T) {
	r := testReconciler(3)
	cfg := raft.Configuration{Servers: []raft.Server{server("a", raft.Voter), server("b", raft.Voter), server("c", raft.Nonvoter)}}
	moved := member("b", "", gossip.StateAlive)
	moved.RaftAddr = "b:2"
	got := ops(r.plan(cfg, []gossip.Member{member("a", "", gossip.StateAlive), moved, member("c", "", gossip.StateLeft)}, time.Now()))
	if !slices.Equal(got, []string{"readdress-voter b", "remove c"}) {
		t.Fatalf("%v", got)
	}
}

func TestLoadNodeIDPersistsAndRefusesAnother(t *testing.T) {
	dir := t.TempDir()
	id, err := loadNodeID(dir, "")
	if err != nil || len(id) != len("node-")+10 {
		t.Fatalf("generated %q, %v", id, err)
	}
	if again, _ := loadNodeID(dir, ""); again != id {
		t.Fatalf("not persisted: %q then %q", id, again)
	}
	if _, err := loadNodeID(dir, "other"); err == nil {
		t.Fatal("accepted a different node ID for an existing data dir")
	}
	if _, err := loadNodeID(t.TempDir(), "bad id"); err == nil {
		t.Fatal("accepted an invalid node ID")
	}
}

func TestConfigDefaultsAndSelfURL(t *testing.T) {
	c, err := Config{DataDir: "d", Advertise: "10.0.0.5", Insecure: true}.withDefaults()
	if err != nil || c.SelfURL != "http://127.0.0.1:11337" || c.BootstrapExpect != 1 || c.Voters != 3 {
		t.Fatalf("%+v %v", c, err)
	}
	c, _ = Config{DataDir: "d", Advertise: "10.0.0.5", HTTPAddr: ":8080", Join: []string{"x:1"}, Insecure: true}.withDefaults()
	if c.SelfURL != "http://10.0.0.5:8080" || c.BootstrapExpect != 0 {
		t.Fatalf("%+v", c)
	}
	for _, bad := range []Config{{}, {DataDir: "d", Voters: 12}, {DataDir: "d", SelfURL: "node1"}, {DataDir: "d", RaftAddr: "x"}, {DataDir: "d", Advertise: "0.0.0.0"},
		{DataDir: "d", BootstrapExpect: 5, Voters: 3}, {DataDir: "d", BootstrapExpect: -1}} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
	// A --join entry memberlist could never dial is refused with the entry,
	// not retried for good; the forms memberlist and Docker's DNS take pass.
	for _, j := range []string{",,,", "", "host:99999", "host:", "host:abc", "bad host", "a..b", "http://10.0.0.1:11338"} {
		_, err := Config{DataDir: "d", Join: []string{j}, Insecure: true}.withDefaults()
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("join %q", j)) {
			t.Errorf("join %q: %v", j, err)
		}
	}
	for _, j := range []string{"10.0.0.1", "10.0.0.1:11338", "[::1]:11338", "::1", "node1.example.com", "roster_node1_1:11338", "node1/10.0.0.1:11338"} {
		if _, err := (Config{DataDir: "d", Join: []string{j}, Insecure: true}).withDefaults(); err != nil {
			t.Errorf("join %q: %v", j, err)
		}
	}
	// Every expected member starts as a voter: the voter target grows to fit.
	if c, err := (Config{DataDir: "d", BootstrapExpect: 5}).withDefaults(); err != nil || c.Voters != 5 {
		t.Fatalf("expect 5: voters %d, %v", c.Voters, err)
	}
}

func TestSelfURLMustNameTheServedPort(t *testing.T) {
	_, err := Config{DataDir: "d", HTTPAddr: "127.0.0.1:11337", SelfURL: "http://127.0.0.1:13337"}.withDefaults()
	if err == nil || !strings.Contains(err.Error(), "http://127.0.0.1:13337") || !strings.Contains(err.Error(), "127.0.0.1:11337") {
		t.Fatalf("advertised a port nobody serves: %v", err)
	}
	_, err = Config{DataDir: "d", HTTPAddr: "0.0.0.0:8080", SelfURL: "https://node1.example.com", Insecure: true}.withDefaults()
	if err == nil || !strings.Contains(err.Error(), "port 443") {
		t.Fatalf("https without a port is 443: %v", err)
	}
	if _, err := (Config{DataDir: "d", HTTPAddr: "0.0.0.0:11337", SelfURL: "http://node1.example.com:11337", Insecure: true}).withDefaults(); err != nil {
		t.Fatal(err)
	}
}

// Two servers that swapped addresses (containers recreated) cannot be
// re-addressed one after the other: each new address is the other's in the
// configuration. The one whose recorded address another now has is parked
// on a placeholder first.
func TestPlanParksAServerWhoseAddressAnotherTook(t *testing.T) {
	r := testReconciler(3)
	b, c := server("b", raft.Voter), server("c", raft.Voter)
	b.Address, c.Address = "10.0.0.2:1", "10.0.0.3:1"
	cfg := raft.Configuration{Servers: []raft.Server{server("a", raft.Voter), b, c}}
	mb, mc := member("b", "", gossip.StateAlive), member("c", "", gossip.StateAlive)
	mb.RaftAddr, mc.RaftAddr = "10.0.0.3:1", "10.0.0.2:1" // swapped
	plan := r.plan(cfg, []gossip.Member{member("a", "", gossip.StateAlive), mb, mc}, time.Now())
	got := ops(plan)
	if len(got) < 2 || got[0] != "park-voter c" || got[1] != "readdress-voter b" {
		t.Fatalf("%v", got)
	}
	if !strings.HasSuffix(plan[0].addr, ".invalid:1") {
		t.Fatalf("placeholder %q", plan[0].addr)
	}
	if plan[0].forID != "b" || plan[0].forAddr != "10.0.0.3:1" {
		t.Fatalf("the park must wait on b proving itself at 10.0.0.3:1: %+v", plan[0])
	}
	// The next round, with c parked, moves c to its new address.
	b.Address, c.Address = "10.0.0.3:1", raft.ServerAddress(plan[0].addr)
	cfg = raft.Configuration{Servers: []raft.Server{server("a", raft.Voter), b, c}}
	if got := ops(r.plan(cfg, []gossip.Member{member("a", "", gossip.StateAlive), mb, mc}, time.Now())); !slices.Equal(got, []string{"readdress-voter c"}) {
		t.Fatalf("second round: %v", got)
	}
}

func withMode(m gossip.Member, mode string) gossip.Member {
	m.ServerMode = mode
	return m
}

func TestPlanKeepsTheServerSetAndLeavesTheRestClients(t *testing.T) {
	r := testReconciler(3)
	t0 := time.Unix(1000, 0)
	var members []gossip.Member
	for i, id := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		members = append(members, member(id, []string{"z1", "z2"}[i%2], gossip.StateAlive))
	}
	cfg := raft.Configuration{Servers: []raft.Server{server("a", raft.Voter), server("b", raft.Voter), server("c", raft.Voter)}}
	// Five servers: two of the five clients join, one per zone (z1 has a
	// and c, z2 has b, so z2's d first, then by ID e in z1).
	if got := ops(r.plan(cfg, members, t0)); !slices.Equal(got, []string{"add-nonvoter d", "add-nonvoter e"}) {
		t.Fatalf("set of 5: %v", got)
	}
	cfg.Servers = append(cfg.Servers, server("d", raft.Nonvoter), server("e", raft.Nonvoter))
	if got := r.plan(cfg, members, t0.Add(time.Second)); len(got) != 0 {
		t.Fatalf("a full set changed: %v", ops(got))
	}
	// A spare dead past the window leaves the set and a client takes its
	// place; one dead for less stays.
	members[3].State = gossip.StateDead // d
	r.plan(cfg, members, t0.Add(2*time.Second))
	if got := r.plan(cfg, members, t0.Add(20*time.Second)); len(got) != 0 {
		t.Fatalf("replaced a spare before the window: %v", ops(got))
	}
	if got := ops(r.plan(cfg, members, t0.Add(40*time.Second))); !slices.Equal(got, []string{"remove d", "add-nonvoter f"}) {
		t.Fatalf("dead spare: %v", got)
	}
	// Too many servers (d came back while f joined): a surplus spare
	// returns to client, of the most crowded zone, highest ID first,
	// among those that have been spares for spareSettle (time to catch
	// up, so that the removal reaches them): first only e.
	members[3].State = gossip.StateAlive
	cfg.Servers = append(cfg.Servers, server("f", raft.Nonvoter))
	if got := ops(r.plan(cfg, members, t0.Add(41*time.Second))); !slices.Equal(got, []string{"demote e"}) {
		t.Fatalf("surplus: %v", got)
	}
	cfg.Servers = slices.DeleteFunc(cfg.Servers, func(s raft.Server) bool { return s.ID == "e" })
	cfg.Servers = append(cfg.Servers, server("g", raft.Nonvoter))
	members = append(members, member("g", "", gossip.StateAlive))
	if got := ops(r.plan(cfg, members, t0.Add(42*time.Second))); len(got) != 0 {
		t.Fatalf("demoted a spare that has not settled: %v", got)
	}
	if got := ops(r.plan(cfg, members, t0.Add(41*time.Second+spareSettle))); !slices.Equal(got, []string{"demote f"}) {
		t.Fatalf("surplus after settling: %v", got)
	}
}

func TestPlanHonoursServerAlwaysAndNever(t *testing.T) {
	r := testReconciler(3)
	r.n.cfg.Servers = 3
	t0 := time.Unix(1000, 0)
	members := []gossip.Member{member("a", "", gossip.StateAlive), member("b", "", gossip.StateAlive),
		withMode(member("c", "", gossip.StateAlive), gossip.ServerNever), withMode(member("d", "", gossip.StateAlive), gossip.ServerAlways),
		member("e", "", gossip.StateAlive), withMode(member("f", "", gossip.StateAlive), gossip.ServerNever)}
	cfg := raft.Configuration{Servers: []raft.Server{server("a", raft.Voter), server("b", raft.Voter)}}
	// d joins (whatever the count) and fills the third place; c and f
	// never join.
	if got := ops(r.plan(cfg, members, t0)); !slices.Equal(got, []string{"add-nonvoter d"}) {
		t.Fatalf("join: %v", got)
	}
	// Four servers for three places (e was added before d came): only an
	// auto spare may go, never d.
	cfg.Servers = append(cfg.Servers, server("d", raft.Nonvoter), server("e", raft.Nonvoter))
	r.plan(cfg, members, t0.Add(time.Second))
	if got := ops(r.plan(cfg, members, t0.Add(time.Second+spareSettle))); !slices.Contains(got, "demote e") || slices.Contains(got, "demote d") {
		t.Fatalf("surplus: %v", got)
	}
	// A voter restarted with --server never is replaced one for one by a
	// spare, and a spare with never leaves.
	cfg = raft.Configuration{Servers: []raft.Server{server("a", raft.Voter), server("b", raft.Voter), server("c", raft.Voter),
		server("d", raft.Nonvoter), server("f", raft.Nonvoter)}}
	r = testReconciler(3)
	r.n.cfg.Servers = 3
	r.plan(cfg, members, t0)
	if got := ops(r.plan(cfg, members, t0.Add(5*time.Second))); !slices.Equal(got, []string{"remove f", "remove c", "promote d"}) {
		t.Fatalf("never: %v", got)
	}
}

// A server removed while it was down comes back holding itself a server
// (gossip meta sv): after staleServerAfter the leader adds it again, so
// that the log tells it where it stands; once it has settled, the surplus
// returns to client. A member that gossips sv only briefly (a demoted
// server that has not yet said so) is left alone.
func TestPlanAddsAgainAServerRemovedWhileDown(t *testing.T) {
	r := testReconciler(3)
	r.n.cfg.Servers = 3
	t0 := time.Unix(1000, 0)
	stale := member("d", "", gossip.StateAlive)
	stale.Server = true
	members := []gossip.Member{member("a", "", gossip.StateAlive), member("b", "", gossip.StateAlive), member("c", "", gossip.StateAlive), stale}
	cfg := raft.Configuration{Servers: []raft.Server{server("a", raft.Voter), server("b", raft.Voter), server("c", raft.Voter)}}
	if got := ops(r.plan(cfg, members, t0)); len(got) != 0 {
		t.Fatalf("at once: %v", got)
	}
	if got := ops(r.plan(cfg, members, t0.Add(staleServerAfter-time.Second))); len(got) != 0 {
		t.Fatalf("before the window: %v", got)
	}
	if got := ops(r.plan(cfg, members, t0.Add(staleServerAfter))); !slices.Equal(got, []string{"add-nonvoter d"}) {
		t.Fatalf("after the window: %v", got)
	}
	cfg.Servers = append(cfg.Servers, server("d", raft.Nonvoter))
	if got := ops(r.plan(cfg, members, t0.Add(staleServerAfter+time.Second))); len(got) != 0 {
		t.Fatalf("an unsettled spare: %v", got)
	}
	if got := ops(r.plan(cfg, members, t0.Add(staleServerAfter+spareSettle))); !slices.Equal(got, []string{"demote d"}) {
		t.Fatalf("the surplus: %v", got)
	}
	// Demoted, it gossips sv for a moment longer: not added again.
	cfg.Servers = cfg.Servers[:3]
	if got := ops(r.plan(cfg, members, t0.Add(staleServerAfter+spareSettle+time.Second))); len(got) != 0 {
		t.Fatalf("just demoted: %v", got)
	}
	// Still claiming (the removal did not reach it, or it is not a Roster
	// node at all): added again only after twice the wait.
	t1 := t0.Add(staleServerAfter + spareSettle + time.Second)
	if got := ops(r.plan(cfg, members, t1.Add(staleServerAfter))); len(got) != 0 {
		t.Fatalf("again after one window: %v", got)
	}
	if got := ops(r.plan(cfg, members, t1.Add(2*staleServerAfter))); !slices.Equal(got, []string{"add-nonvoter d"}) {
		t.Fatalf("again after two windows: %v", got)
	}
	members[3].Server = false
	if got := ops(r.plan(cfg, members, t1.Add(time.Hour))); len(got) != 0 {
		t.Fatalf("a client: %v", got)
	}
	if r.staleTries["d"] != 0 {
		t.Fatalf("a client keeps %d tries", r.staleTries["d"])
	}
}
