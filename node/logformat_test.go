package node

import (
	"testing"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/fsm"
	"github.com/rosterhq/roster/gossip"
)

// The leader writes a newer format only once every member, and every Raft
// server, says it reads it.
func TestTheLogFormatIsTheNewestEveryMemberReads(t *testing.T) {
	member := func(id string, lf int, st gossip.State) gossip.Member {
		return gossip.Member{Name: id, Meta: gossip.Meta{ID: id, LogFormat: lf}, State: st}
	}
	new1, new2 := member("n1", int(fsm.FormatS2), gossip.StateAlive), member("n2", int(fsm.FormatS2), gossip.StateAlive)
	servers := []raft.Server{{ID: "n1"}, {ID: "n2"}}
	for _, c := range []struct {
		name    string
		members []gossip.Member
		servers []raft.Server
		want    fsm.Format
	}{
		{"every member reads format 3", []gossip.Member{new1, new2}, servers, fsm.FormatS2},
		{"a member of the build before reads 2", []gossip.Member{new1, new2, member("n3", int(fsm.FormatBinary), gossip.StateAlive)}, servers, fsm.FormatBinary},
		{"a member of an older build (no lf)", []gossip.Member{new1, new2, member("old", 0, gossip.StateAlive)}, servers, fsm.FormatJSON},
		{"an older member that is dead may come back", []gossip.Member{new1, new2, member("old", 0, gossip.StateDead)}, servers, fsm.FormatJSON},
		{"a Raft server gossip does not know", []gossip.Member{new1, new2}, append(servers, raft.Server{ID: "n3"}), fsm.FormatJSON},
		{"a newer member does not raise it past this build", []gossip.Member{new1, new2, member("n4", 9, gossip.StateAlive)}, servers, fsm.NewestFormat},
	} {
		if got := readableByAll(c.members, c.servers); got != c.want {
			t.Errorf("%s: format %d, want %d", c.name, got, c.want)
		}
	}
}
