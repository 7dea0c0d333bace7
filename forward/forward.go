// Package forward is how a node talks to the leader: every call a follower
// makes to it goes through a Forwarder — writes replayed one by one or
// batched (group commit), read indexes for ?consistent reads (coalesced),
// the health checkers' status batches — with one hold-and-retry rule
// (WithLeader), one typed peer call (Do) and one cut-off for a leader that
// freezes (a request ends as soon as a newer leader is known).
//
// The leader's side of the internal routes (WritesPath, ReadIndexPath) is
// served by the HTTP layer with the types declared here.
package forward

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/fsm"
	"github.com/rosterhq/roster/internal/rounds"
)

// Header marks a request forwarded by a follower; a node that gets one and
// does not lead answers not_leader instead of forwarding it again (one hop).
const Header = "X-Registry-Forwarded-By"

// ExpectHeader names the node a call is meant for: a node that is not it
// refuses the call (409) instead of answering in its place, so an answer
// that only that node may give (a voter's yes, a server's replica stream)
// cannot come from another node reached at a stale or forged address.
const ExpectHeader = "X-Registry-Expect-Node"

// CommitHeader, on the leader's answers to the internal routes (a read
// index, a batch of writes), is its Raft term and commit index when it
// answered, "term/commit" (node.CommitPoint). The follower passes them to
// Config.LearnCommit and applies up to there at once instead of on the
// leader's next append: a read index or a forwarded write's index is
// usually committed already, and waiting for the append cost a
// ?consistent read 2-3 ms under writes, and a lone write through a
// follower that serves reads the leader's commit timeout (5-10 ms).
const CommitHeader = "X-Registry-Leader-Commit"

// FormatCommitPoint is CommitHeader's value.
func FormatCommitPoint(term, commit uint64) string {
	return strconv.FormatUint(term, 10) + "/" + strconv.FormatUint(commit, 10)
}

// learnFrom passes the leader's commit point in h, if any and well formed,
// to LearnCommit. A malformed one is ignored: it only ever saves a wait.
func (f *Forwarder) learnFrom(h http.Header) {
	v := h.Get(CommitHeader)
	if v == "" || f.learnCommit == nil {
		return
	}
	t, c, ok := strings.Cut(v, "/")
	term, err1 := strconv.ParseUint(t, 10, 64)
	commit, err2 := strconv.ParseUint(c, 10, 64)
	if ok && err1 == nil && err2 == nil && term > 0 && commit > 0 {
		f.learnCommit(term, commit)
	}
}

// DefaultHold is how long a request waits for a leader (through an
// election) before answering no_leader, as Consul holds RPCs.
const DefaultHold = 7 * time.Second

// ErrUsualPath tells the caller to serve the request itself: this node
// leads now.
var ErrUsualPath = errors.New("this node leads: serve the request here")

// Node is what the road needs of the engine (a *node.Node has it; tests use
// fakes).
type Node interface {
	ID() string
	IsLeader() bool
	// Leader is the leader's node ID and HTTP URL, empty when unknown.
	Leader() (id, url string)
	// LeaderChanged is closed at the next leader change Raft reports.
	LeaderChanged() <-chan struct{}
	Apply(ctx context.Context, cmd *fsm.Command) (any, error)
	AppliedIndex() uint64
	WaitApplied(ctx context.Context, index uint64) error
}

// Config builds a Forwarder.
type Config struct {
	Node Node
	// HTTP carries the calls (its dialer is the node's, so tests' fault
	// switches cut it too).
	HTTP *http.Client
	// PeerHTTP, when set, makes the client for calls meant for one node
	// (expectID): its connections are verified to reach that node (with
	// TLS, the peer's certificate must name it). Without it such calls
	// take HTTP and rely on ExpectHeader alone.
	PeerHTTP func(expectID string) *http.Client
	// VoterTerm, when set, is this node's Raft term when it is a voter
	// (ok false otherwise): read-index requests carry it (VoterTermParam).
	VoterTerm func() (term uint64, ok bool)
	// LearnCommit, when set, is given the leader's term and commit index
	// its answers carry (CommitHeader): node.LearnCommit.
	LearnCommit func(term, commit uint64)
	// Hold is how long a call waits for a leader (default DefaultHold).
	Hold   time.Duration
	Logger *slog.Logger
}

// Forwarder is one node's road to the leader.
type Forwarder struct {
	n  Node
	hc *http.Client
	// peerHTTP and peers: the clients for calls meant for one node, one a
	// node ID, made on first use.
	peerHTTP func(expectID string) *http.Client
	peers    sync.Map
	// voterTerm is Config.VoterTerm.
	voterTerm   func() (uint64, bool)
	learnCommit func(term, commit uint64)
	hold        time.Duration
	log         *slog.Logger
	// stopped ends batches and read-index requests still looking for a
	// leader when the node closes.
	stopped context.Context
	stop    context.CancelFunc

	batch     *batcher
	readIndex *rounds.Group[uint64]
}

// New builds a Forwarder.
func New(cfg Config) *Forwarder {
	if cfg.Hold == 0 {
		cfg.Hold = DefaultHold
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	f := &Forwarder{n: cfg.Node, hc: cfg.HTTP, peerHTTP: cfg.PeerHTTP, voterTerm: cfg.VoterTerm, learnCommit: cfg.LearnCommit,
		hold: cfg.Hold, log: cfg.Logger}
	f.stopped, f.stop = context.WithCancel(context.Background())
	f.batch = &batcher{f: f}
	f.readIndex = rounds.New(f.fetchReadIndex)
	return f
}

// Hold is how long a call waits for a leader.
func (f *Forwarder) Hold() time.Duration { return f.hold }

// Close ends what is still waiting for a leader (its callers get
// shutting_down) and waits for the goroutines that were sending it; idle
// connections are released.
func (f *Forwarder) Close() {
	f.stop()
	f.batch.close()
	f.readIndex.Close(api.ErrShuttingDown)
	f.hc.CloseIdleConnections()
	f.peers.Range(func(_, c any) bool {
		c.(*http.Client).CloseIdleConnections()
		return true
	})
}

// peerClient is the client for calls meant for the node expectID.
func (f *Forwarder) peerClient(expectID string) *http.Client {
	if f.peerHTTP == nil {
		return f.hc
	}
	if c, ok := f.peers.Load(expectID); ok {
		return c.(*http.Client)
	}
	c, _ := f.peers.LoadOrStore(expectID, f.peerHTTP(expectID))
	return c.(*http.Client)
}
