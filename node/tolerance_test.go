package node

import (
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/gossip"
)

func toleranceOf(voters int, cfg []raft.Server, members ...gossip.Member) api.FaultTolerance {
	n := &Node{id: "a", cfg: Config{Voters: voters}, contacts: newContactTracker()}
	byID := map[string]gossip.Member{}
	for _, m := range members {
		byID[m.Name] = m
	}
	return n.faultTolerance(raft.Configuration{Servers: cfg}, byID, false)
}

func TestFaultTolerance(t *testing.T) {
	alive := func(id string) gossip.Member { return member(id, "", gossip.StateAlive) }
	three := []raft.Server{server("a", raft.Voter), server("b", raft.Voter), server("c", raft.Voter)}

	ft := toleranceOf(3, three, alive("a"), alive("b"), alive("c"))
	if ft.Tolerance != 1 || ft.Wanted != 1 || ft.Quorum != 2 || ft.Degraded {
		t.Fatalf("healthy three: %+v", ft)
	}
	ft = toleranceOf(3, three, alive("a"), alive("b"), member("c", "", gossip.StateDead))
	if ft.Tolerance != 0 || ft.Wanted != 1 || !ft.Degraded || len(ft.Reasons) != 1 || ft.Reasons[0] != "voter c is dead (gossip)" {
		t.Fatalf("one voter dead: %+v", ft)
	}
	ft = toleranceOf(3, three, alive("a"), member("b", "", gossip.StateDead), member("c", "", gossip.StateDead))
	if ft.Tolerance != 0 || !ft.Degraded || !strings.Contains(strings.Join(ft.Reasons, ";"), "quorum lost: 1 of 3") {
		t.Fatalf("quorum lost: %+v", ft)
	}
	// A lone node wants no more than it can have.
	ft = toleranceOf(3, []raft.Server{server("a", raft.Voter)}, alive("a"))
	if ft.Tolerance != 0 || ft.Wanted != 0 || ft.Degraded {
		t.Fatalf("lone node: %+v", ft)
	}
	// Five wanted, a dead voter, and a non-voter not yet promoted.
	five := append(three, server("d", raft.Voter), server("e", raft.Nonvoter))
	ft = toleranceOf(5, five, alive("a"), alive("b"), alive("c"), member("d", "", gossip.StateDead), alive("e"))
	if ft.Tolerance != 0 || ft.Wanted != 2 || !ft.Degraded ||
		!strings.Contains(strings.Join(ft.Reasons, ";"), "4 of 5 voters; non-voters awaiting promotion: [e]") {
		t.Fatalf("replacement pending: %+v", ft)
	}
	// No configuration yet: degraded, with the bootstrap's reason.
	ft = toleranceOf(3, nil, alive("a"))
	if !ft.Degraded || !strings.Contains(ft.Reasons[0], "no Raft configuration yet") {
		t.Fatalf("no configuration: %+v", ft)
	}
}
