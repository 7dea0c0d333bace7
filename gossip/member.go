package gossip

import "time"

// State is a member's liveness as gossip sees it.
type State string

// Member states. memberlist does not expose suspicion to its delegates, so a
// suspected member shows as alive until it is declared dead.
const (
	StateAlive State = "alive"
	StateDead  State = "dead"
	StateLeft  State = "left"
)

// Member is one node of the gossip pool.
type Member struct {
	Meta
	// Name is the memberlist node name, which is the node ID.
	Name string
	// Addr is the gossip address, host:port.
	Addr  string
	State State
	// Since is when this node last saw the state change.
	Since time.Time
}
