package httpapi

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/forward"
	"github.com/rosterhq/roster/fsm"
	"github.com/rosterhq/roster/gossip/resource"
	"github.com/rosterhq/roster/node"
)

// Node is what the HTTP layer needs of the engine; *node.Node has it.
// Traffic to the leader goes through the forward package (which needs the
// subset forward.Node).
type Node interface {
	forward.Node
	// WaitAppliedFor is WaitApplied for at most a duration.
	WaitAppliedFor(ctx context.Context, index uint64, d time.Duration) error
	// AckForwarded records a forwarded write answered before this node
	// applied it; AckedIndex is the highest (readYourWrites waits for it).
	AckForwarded(index uint64)
	AckedIndex() uint64
	SelfURL() string
	// FSM is the local replica of the catalog, for reads.
	FSM() *fsm.FSM
	LastContact() time.Duration
	// CaughtUp reports whether local reads are safe now; WaitCaughtUp
	// waits until they are.
	CaughtUp() bool
	WaitCaughtUp(ctx context.Context) error
	VerifyLeader(ctx context.Context) error
	ReadIndex(ctx context.Context) (uint64, error)
	// ReadIndexFor is ReadIndex asked by a follower, which may say the
	// term it was in as a voter when it asked (0: it did not).
	ReadIndexFor(ctx context.Context, asker string, voterTerm uint64) (uint64, error)
	// VoterTerm is this node's term while it is a voter (ok false when
	// it is not): what its read-index requests say.
	VoterTerm() (term uint64, ok bool)
	// CommitPoint is this leader's term and commit index (ok false when
	// it does not lead); a follower that hears them passes them to
	// LearnCommit.
	CommitPoint() (term, commit uint64, ok bool)
	LearnCommit(term, commit uint64)
	// Follows answers a leader proving a read index: nil when this server
	// follows leaderID in term.
	Follows(leaderID string, term uint64) error
	// LogFormat is the command format every member reads: the one the
	// leader writes.
	LogFormat() fsm.Format
	Status() api.ClusterStatus
	Nodes() []resource.Node
	// NodeView numbers this node's view of the nodes for blocking node
	// lists and node events (see node/nodefeed.go).
	NodeView(refresh bool) node.NodeView
	Self() resource.Node
	RemoveNode(ctx context.Context, id string) error
	// DialContext dials peers (through a test's fault switch).
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	// PeerTLS configures calls to other nodes; nil when the cluster runs
	// without TLS. When it is not nil, the routes between nodes require a
	// node certificate (see peers.go).
	PeerTLS(expectID string) *tls.Config
	// ApplyEncoded applies a command already encoded (a batch built by
	// fsm.EncodeBatch from its writes' encodings).
	ApplyEncoded(ctx context.Context, b []byte) (any, error)
	// RestoreSnapshot replaces the catalog with a snapshot stream through
	// Raft (leader only) and returns the index it holds from.
	RestoreSnapshot(ctx context.Context, state io.Reader, size int64, index uint64) (uint64, error)
	// Keyring and ChangeKeyring read and rotate this node's gossip keys.
	Keyring() api.NodeKeyring
	ChangeKeyring(api.KeyringChange) error
	// ServeReplica streams this server's committed log to a client agent
	// (node/replicaserve.go).
	ServeReplica(ctx context.Context, after uint64, w io.Writer, flush func()) error
}
