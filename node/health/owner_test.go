package health

import (
	"fmt"
	"testing"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/gossip"
)

func members(states ...gossip.State) []gossip.Member {
	var out []gossip.Member
	for i, s := range states {
		m := gossip.Member{Name: fmt.Sprintf("n%d", i+1), State: s}
		m.URL = fmt.Sprintf("http://127.0.0.1:%d", 11337+3*i)
		out = append(out, m)
	}
	return out
}

func TestOwnerPrefersTheAliveNodeOfNodeURL(t *testing.T) {
	ms := members(gossip.StateAlive, gossip.StateAlive, gossip.StateAlive)
	in := &api.Instance{ID: "i1", NodeURL: ms[1].URL + "/"}
	if m, ok := Owner(in, ms); !ok || m.Name != "n2" {
		t.Fatalf("owner %v %v, want n2 (its nodeUrl)", m.Name, ok)
	}
	ms[1].State = gossip.StateDead
	m, ok := Owner(in, ms)
	if !ok || m.Name == "n2" {
		t.Fatalf("owner %v with n2 dead", m.Name)
	}
	if _, ok := Owner(in, members(gossip.StateDead, gossip.StateLeft)); ok {
		t.Fatal("an owner among dead members")
	}
}

// Rendezvous hashing moves only the instances of the node that went, and
// spreads instances evenly.
func TestOwnerRendezvousIsStableAndEven(t *testing.T) {
	all := members(gossip.StateAlive, gossip.StateAlive, gossip.StateAlive, gossip.StateAlive)
	without3 := members(gossip.StateAlive, gossip.StateAlive, gossip.StateDead, gossip.StateAlive)
	count := map[string]int{}
	const n = 4000
	for i := range n {
		in := &api.Instance{ID: fmt.Sprintf("inst-%d", i)}
		before, _ := Owner(in, all)
		after, _ := Owner(in, without3)
		count[before.Name]++
		if before.Name != "n3" && before.Name != after.Name {
			t.Fatalf("%s moved from %s to %s though %s is alive", in.ID, before.Name, after.Name, before.Name)
		}
		if after.Name == "n3" {
			t.Fatalf("%s owned by dead n3", in.ID)
		}
	}
	for name, c := range count {
		if c < n/4*8/10 || c > n/4*12/10 {
			t.Errorf("%s owns %d of %d instances, want about %d", name, c, n, n/4)
		}
	}
}
