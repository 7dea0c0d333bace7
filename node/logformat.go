package node

import (
	"time"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/fsm"
	"github.com/rosterhq/roster/gossip"
)

// A replica that meets a command format it does not know skips the entry
// and falls out of step with the others. During a rolling upgrade the
// leader therefore writes the newest format only once every member
// gossips that it reads it (gossip meta "lf"); until then, and whenever a
// member that does not is seen again, it writes the newest one they all
// read. Adding a node of an older build to a cluster whose log already
// holds a newer format is a downgrade, and is not supported: that node
// cannot read the log it has to replay.

// logFormatTTL is how long a computed format is used before the members
// are looked at again: the leader asks on every write.
const logFormatTTL = time.Second

// LogFormat is the newest command format every member reads.
func (n *Node) LogFormat() fsm.Format {
	now := time.Now().UnixNano()
	if at := n.logFormatAt.Load(); at != 0 && now-at < int64(logFormatTTL) {
		return fsm.Format(n.logFormat.Load())
	}
	var servers []raft.Server
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		servers = f.Configuration().Servers
	}
	format := readableByAll(n.gossip.Members(), servers)
	n.logFormat.Store(uint32(format))
	n.logFormatAt.Store(now)
	return format
}

// readableByAll is the newest format every member reads: each gossip
// member's (whatever its state: a dead one may come back) and the JSON
// format for a Raft server gossip does not know.
func readableByAll(members []gossip.Member, servers []raft.Server) fsm.Format {
	format := fsm.NewestFormat
	known := make(map[string]bool, len(members))
	for _, m := range members {
		known[m.Name] = true
		format = min(format, fsm.Format(max(m.LogFormat, int(fsm.FormatJSON))))
	}
	for _, s := range servers {
		if !known[string(s.ID)] {
			format = fsm.FormatJSON
		}
	}
	return format
}
