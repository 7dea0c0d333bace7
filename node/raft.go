package node

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/rosterhq/roster/internal/logbridge"
)

// raftParts are what Raft is built from, kept so Close can release them.
type raftParts struct {
	store     *raftboltdb.BoltStore
	snaps     raft.SnapshotStore
	transport *raft.NetworkTransport
	hasState  bool
}

func (n *Node) openRaft() (*raftParts, *raft.Config, error) {
	hlog := hclog.New(&hclog.LoggerOptions{
		Name:   "raft",
		Level:  hclog.Info,
		Output: logbridge.Writer{Logger: n.log.With("component", "raft")},
	})
	// raft.db holds the log and the stable store; fsync stays on (NoSync
	// false): an acknowledged write survives power loss.
	if err := checkBolt(n.cfg.DataDir); err != nil {
		return nil, nil, err
	}
	var store *raftboltdb.BoltStore
	err := guard(n.cfg.DataDir, "opening raft.db", func() (err error) {
		store, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(n.cfg.DataDir, "raft.db"), BoltOptions: boltOptions()})
		return err
	})
	if err != nil {
		if !os.IsPermission(err) && !strings.Contains(err.Error(), "damaged") {
			err = damaged(n.cfg.DataDir, "raft.db cannot be opened: %v", err)
		}
		return nil, nil, err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(n.cfg.DataDir, 2, hlog)
	if err != nil {
		store.Close()
		return nil, nil, fmt.Errorf("open snapshots: %w", err)
	}
	if err := checkLogAndSnapshot(n.cfg.DataDir, store, snaps); err != nil {
		store.Close()
		return nil, nil, err
	}
	advertise := &net.TCPAddr{IP: net.ParseIP(n.cfg.Advertise), Port: mustPort(n.cfg.RaftAddr)}
	ln, err := net.Listen("tcp", n.cfg.RaftAddr)
	if err != nil {
		store.Close()
		return nil, nil, fmt.Errorf("listen for raft on %s: %w", n.cfg.RaftAddr, err)
	}
	// raft.NewTCPTransport with our own stream layer, so that its dials go
	// through the fault switch in tests and stop when the node closes.
	book := &addressBook{n: n}
	transport := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: &streamLayer{Listener: ln, advertise: advertise, sw: n.cfg.Faults, ctx: n.ctx,
			tls: n.cfg.TLS, ids: &n.serverIDs},
		ServerAddressProvider: book,
		MaxPool:               3,
		Timeout:               10 * time.Second,
		Logger:                hlog,
	})
	var hasState bool
	err = guard(n.cfg.DataDir, "reading raft.db", func() (err error) {
		hasState, err = raft.HasExistingState(store, store, snaps)
		return err
	})
	if err != nil {
		store.Close()
		transport.Close()
		return nil, nil, err
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.id)
	rc.Logger = hlog
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = raftTimings(n.cfg.Timing)
	// Followers learn the commit index only with the next append, or after
	// CommitTimeout (random, 1-2x) when writes stop. A follower that
	// forwarded a write answers once it has applied it (read your writes),
	// so raft's 50 ms default added most of that to every lone write
	// through a follower (the commit message that set this has the
	// figures). The library sends such an append only when the follower
	// has not acknowledged the commit index (third_party/raft/ROSTER.md),
	// so an idle cluster is not kept busy by them.
	rc.CommitTimeout = 5 * time.Millisecond
	// Concurrent writes queue for the leader in a buffered channel, so the
	// leader takes up to MaxAppendEntries of them per disk write.
	rc.BatchApplyCh = true
	// A removed node stays up so that it can be added back (as a non-voter)
	// if it is still alive; pre-vote keeps it from disrupting the cluster.
	rc.ShutdownOnRemove = false
	rc.NotifyCh = n.leaderCh
	if n.cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold, rc.SnapshotInterval = n.cfg.SnapshotThreshold, time.Second
	}
	if n.cfg.TrailingLogs > 0 {
		rc.TrailingLogs = n.cfg.TrailingLogs
	}
	return &raftParts{store: store, snaps: snaps, transport: transport, hasState: hasState}, rc, nil
}

func mustPort(addr string) int {
	p, _ := splitPort(addr) // validated in withDefaults
	return p
}

func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("data dir %s: %w", dir, err)
	}
	return nil
}

// boltOptions opens raft.db without writing bolt's freelist at every
// commit (NoFreelistSync, as Consul's raft_boltdb offers): once Raft has
// compacted its log, the freelist holds every page of the deleted entries
// (16,000 pages after 8,000 entries of 8 KB), and bolt sorted and wrote all
// of it, 128 KB, with each commit. In that state a commit took 295-309 µs
// against 205-233 µs without it (bbolt 1.3.11, fsync on, this machine).
// The cost moves to opening the file, when bolt finds the free pages by
// walking the tree, as checkBolt already does; files written either way
// open with either setting.
func boltOptions() *bolt.Options {
	return &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistArrayType}
}
