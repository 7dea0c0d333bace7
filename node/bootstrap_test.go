package node

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/gossip"
)

func expecting(id string, expect int, st gossip.State) gossip.Member {
	m := member(id, "", st)
	m.BootstrapExpect = expect
	return m
}

func TestBootstrapPlanTakesExactlyTheExpectedMembersAsVoters(t *testing.T) {
	members := []gossip.Member{expecting("c", 3, gossip.StateAlive), expecting("a", 3, gossip.StateAlive),
		expecting("b", 3, gossip.StateAlive), expecting("joiner", 0, gossip.StateAlive)}
	// Every expected member computes the same configuration, whoever it is.
	for _, self := range []string{"a", "b", "c"} {
		servers, state, reason := bootstrapPlan(self, members, 3)
		if len(servers) != 3 || servers[0].Name != "a" || servers[1].Name != "b" || servers[2].Name != "c" {
			t.Fatalf("%s: %v %s %s", self, servers, state, reason)
		}
	}
}

func TestBootstrapPlanWaitsAndRefuses(t *testing.T) {
	cases := []struct {
		name    string
		members []gossip.Member
		state   string
		reason  string
	}{
		{"too few alive", []gossip.Member{expecting("a", 3, gossip.StateAlive), expecting("b", 3, gossip.StateAlive),
			expecting("c", 3, gossip.StateDead)}, api.BootstrapWaiting, "2 of 3 expected members alive (a, b)"},
		{"disagreement", []gossip.Member{expecting("a", 3, gossip.StateAlive), expecting("b", 5, gossip.StateAlive),
			expecting("c", 3, gossip.StateAlive)}, api.BootstrapRefused, "this node expects 3, b expects 5"},
		{"surplus", []gossip.Member{expecting("a", 3, gossip.StateAlive), expecting("b", 3, gossip.StateAlive),
			expecting("c", 3, gossip.StateAlive), expecting("d", 3, gossip.StateAlive)}, api.BootstrapRefused, "4 alive members expect 3"},
		{"running cluster", []gossip.Member{expecting("a", 3, gossip.StateAlive), expecting("b", 3, gossip.StateAlive),
			func() gossip.Member { m := expecting("c", 3, gossip.StateAlive); m.InCluster = true; return m }()},
			api.BootstrapJoining, "already in a cluster: c"},
	}
	for _, tc := range cases {
		servers, state, reason := bootstrapPlan("a", tc.members, 3)
		if servers != nil || state != tc.state || !strings.Contains(reason, tc.reason) {
			t.Errorf("%s: got %v %q %q", tc.name, servers, state, reason)
		}
	}
}

func TestDataDirLockRefusesASecondAgentAtOnce(t *testing.T) {
	dir := t.TempDir()
	first, err := LockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = LockDataDir(dir)
	if !errors.Is(err, ErrDataDirInUse) || !strings.Contains(err.Error(), dir) ||
		!strings.Contains(err.Error(), fmt.Sprintf("(pid %d)", os.Getpid())) {
		t.Fatalf("second lock: %v", err)
	}
	first.Release()
	again, err := LockDataDir(dir)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	again.Release()
}
