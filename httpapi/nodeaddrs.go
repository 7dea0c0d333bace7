package httpapi

import "github.com/rosterhq/roster/node"

// nodeAddrs maps the host:port of every node's URL (as hostPort writes
// it) to the node's ID, at one sequence of this node's view of the nodes.
// A registration checks its URL against it: building it for every write
// parsed every node's URL, a cost that grew with the cluster (11% of a
// follower's CPU under a write load with 20 nodes).
type nodeAddrs struct {
	seq  uint64
	byHP map[string]string
}

// nodeAt returns the node whose URL is at hp. The addresses are rebuilt
// when the view moves on (a join, a leave, a new sample); before the view
// is first made, it is made now.
func (s *Server) nodeAt(hp string) (string, bool) {
	v := s.n.NodeView(false)
	if v.Seq == 0 {
		v = s.n.NodeView(true)
	}
	a := s.addrs.Load()
	if a == nil || a.seq != v.Seq {
		a = addrsOf(v)
		s.addrs.Store(a)
	}
	id, ok := a.byHP[hp]
	return id, ok
}

func addrsOf(v node.NodeView) *nodeAddrs {
	a := &nodeAddrs{seq: v.Seq, byHP: make(map[string]string, len(v.Nodes))}
	for _, st := range v.Nodes {
		if hp := hostPort(st.Row.URL); hp != "" {
			a.byHP[hp] = st.Row.ID
		}
	}
	return a
}
