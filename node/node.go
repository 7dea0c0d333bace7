package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/fsm"
	"github.com/rosterhq/roster/gossip"
	"github.com/rosterhq/roster/gossip/collect"
	"github.com/rosterhq/roster/internal/monotonic"
	"github.com/rosterhq/roster/internal/rounds"
)

// Node is one running member of a Roster cluster.
type Node struct {
	cfg Config
	id  string
	log *slog.Logger

	fsm  *fsm.FSM
	raft *raft.Raft
	// raftUp is raft for Raft's own goroutines (a snapshot's install),
	// which may run before Open has set n.raft.
	raftUp atomic.Pointer[raft.Raft]
	parts  *raftParts
	gossip *gossip.Gossip

	leaderCh chan bool
	// contacts is the leader's view of when each follower last answered.
	contacts *contactTracker
	// leaderMoves fires on every leader change Raft reports; barrierDone
	// when this node, as leader, has applied its barrier (readyTerm).
	leaderMoves, barrierDone *signal
	// readyTerm is the term in which this node, as leader, has applied
	// everything committed before it (the barrier): consistent reads wait
	// for it.
	readyTerm atomic.Uint64
	// bootIndex is the last Raft index on disk when the node started: it
	// may have answered reads up to there before a restart. caughtUp is set
	// once local reads can no longer go back in time (see CaughtUp).
	bootIndex uint64
	caughtUp  atomic.Bool
	// acked is the highest index of a forwarded write this node answered
	// on the leader's word, before applying it here (AckForwarded). Local
	// reads wait for it, so that no read on this node misses a write it
	// said was done.
	acked atomic.Uint64
	// catchUp caches catchUpIndex's answer for one target.
	catchUp atomic.Pointer[[2]uint64]
	// readRounds shares one leadership check among concurrent reads;
	// followerCheck, when set, proves it by asking the voters.
	readRounds    *rounds.Group[uint64]
	followerCheck atomic.Pointer[FollowerCheck]
	// lingering counts, per voter, follower checks left running after
	// their read index round ended (quorumcheck.go).
	lingering sync.Map
	// disk refuses writes while the data dir's disk is full (disk.go).
	disk *diskGuard
	// nodes numbers this node's view of the nodes (nodefeed.go).
	nodes nodeFeed
	// boot is how this node came into its cluster (see bootstrap.go).
	boot bootstrapTracker
	bootstrapSeen

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	closeMu  sync.Mutex
	closed   bool
	observer *raft.Observer
	// sampler is closed with the node when the node opened it.
	sampler *collect.Sampler
	// lock holds the data dir until Close.
	lock *DataDirLock
	// serverIDs maps each server's Raft address to its ID, from the newest
	// configuration this node has seen (the TLS dials check it).
	serverIDs atomic.Pointer[map[string]string]
	// peerChecks remembers identity checks of servers (see peercheck.go).
	peerChecks peerChecks
	// auth signs and checks gossip with the TLS keys; nil without TLS.
	auth *gossipAuth

	// applyMu orders the catalog's two sources: Raft and, on a client
	// agent, the replica stream (raftfsm.go, replica.go).
	applyMu sync.Mutex
	replica replicaState
	// openReplica is the road's call that opens a replica stream (set by
	// FollowServers).
	openReplica ReplicaOpener
	// replicaStreams counts the clients streaming from this server now;
	// replicaSnapshots the whole catalogs sent to them.
	replicaStreams   atomic.Int64
	replicaSnapshots atomic.Uint64
	// logs is Raft's log as Raft reads it: the newest entries from memory,
	// the rest from bolt. Replica streams read it too, so a server's
	// clients following the tip do not each read bolt for every entry.
	logs raft.LogStore
	// logFormat caches LogFormat for logFormatTTL from logFormatAt (unix ns).
	logFormat   atomic.Uint32
	logFormatAt atomic.Int64
}

// Open starts a node: data dir, gossip, Raft, and the background loops.
func Open(cfg Config) (*Node, error) {
	if len(cfg.EncryptKey) == 0 && cfg.DataDir != "" {
		// A keyring saved by an earlier run is this node's gossip key.
		if keys, err := loadKeyring(cfg.DataDir, nil, nil); err == nil && len(keys) > 0 {
			cfg.EncryptKey = keys[0]
		}
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.TLS != nil {
		// The certificate names the node: peers believe nothing else.
		if cfg.NodeID == "" {
			cfg.NodeID = cfg.TLS.NodeID
		} else if cfg.NodeID != cfg.TLS.NodeID {
			return nil, fmt.Errorf("node ID %q, but the TLS certificate names node %q: "+
				"make one for this node with `roster tls cert create --node-id %s`", cfg.NodeID, cfg.TLS.NodeID, cfg.NodeID)
		}
	}
	lock, err := LockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if err := checkRaftDB(cfg.DataDir); err != nil {
		lock.Release()
		return nil, err
	}
	id, err := loadNodeID(cfg.DataDir, cfg.NodeID)
	if err != nil {
		lock.Release()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		cfg: cfg, id: id, log: cfg.Logger.With("node", id),
		leaderCh: make(chan bool, 16),
		contacts: newContactTracker(), leaderMoves: newSignal(), barrierDone: newSignal(),
		ctx: ctx, cancel: cancel, lock: lock,
	}
	n.readRounds = rounds.New(n.confirmLeadership)
	n.replica.announce = make(chan roleNews, 1)
	n.disk = &diskGuard{dir: cfg.DataDir, reserve: cfg.DiskReserve}
	n.fsm = fsm.New(n.log.With("component", "fsm"))
	if cfg.EventHistory > 0 {
		n.fsm.SetEventHistory(cfg.EventHistory)
	}
	if err := n.start(); err != nil {
		cancel()
		lock.Release()
		return nil, err
	}
	return n, nil
}

func (n *Node) start() error {
	parts, rc, err := n.openRaft()
	if err != nil {
		return err
	}
	n.parts = parts
	sampler := n.cfg.Sampler
	if sampler == nil {
		n.sampler = collect.New(collect.Options{DiskPath: n.cfg.DataDir, Logger: n.log.With("component", "resources")})
		sampler = n.sampler
	}
	keys, err := loadKeyring(n.cfg.DataDir, n.cfg.EncryptKey, n.log)
	var auth *gossipAuth
	if err == nil && n.cfg.TLS != nil {
		auth, err = newGossipAuth(n)
	}
	if err != nil {
		n.closeSampler()
		parts.close()
		return err
	}
	var gauth gossip.Auth
	if auth != nil {
		gauth, n.auth = auth, auth
	}
	n.gossip, err = gossip.New(gossip.Config{
		Sampler:        sampler,
		StatusInterval: n.cfg.StatusInterval,
		BindAddr:       n.cfg.GossipAddr,
		AdvertiseIP:    n.cfg.Advertise,
		Timing:         n.cfg.Timing,
		Keys:           keys,
		Auth:           gauth,
		Logger:         n.log.With("component", "gossip"),
		Faults:         n.cfg.Faults,
		Meta: gossip.Meta{
			ID: n.id, URL: n.cfg.SelfURL, RaftAddr: string(parts.transport.LocalAddr()),
			Region: n.cfg.Region, AZ: n.cfg.AZ, Version: n.cfg.Version,
			BootstrapExpect: n.cfg.BootstrapExpect, InCluster: parts.hasState,
			ServerMode: gossipMode(n.cfg.ServerMode),
			LogFormat:  int(fsm.NewestFormat),
		},
	})
	if err != nil {
		n.closeSampler()
		parts.close()
		return err
	}
	// The cache keeps the newest entries for replication. One entry is a
	// whole batch of forwarded writes (often dozens), so Consul's 512 kept
	// megabytes of encoded commands live on the leader; 128 still covers a
	// follower a few round trips behind, and one further back reads bolt.
	logs, err := raft.NewLogCache(128, parts.store)
	n.logs = logs
	if err == nil {
		err = guard(n.cfg.DataDir, "reading the Raft log and snapshots", func() (err error) {
			n.raft, err = raft.NewRaft(rc, raftFSM{n}, logs, parts.store, parts.snaps, parts.transport)
			return err
		})
	}
	if err != nil {
		n.gossip.Shutdown()
		n.closeSampler()
		parts.close()
		return fmt.Errorf("start raft: %w", err)
	}
	n.raftUp.Store(n.raft)
	if parts.hasState {
		n.bootIndex = max(n.raft.LastIndex(), n.fsm.AppliedIndex())
	}
	n.observeHeartbeats()
	if isLoopbackURL(n.cfg.SelfURL) && joinsRemote(n.cfg.Join) {
		n.log.Warn("self URL is loopback but peers are remote: other nodes cannot forward writes or reach this node; set OB_SELF_URL",
			"self_url", n.cfg.SelfURL, "join", n.cfg.Join)
	}
	if !isLoopbackURL(n.cfg.SelfURL) && isLoopbackAddr(n.cfg.HTTPAddr) {
		n.log.Warn("SELF URL IS NOT SERVED: the HTTP API listens on loopback only, so other machines cannot reach "+
			"the advertised self URL; set --http-addr (ROSTER_HTTP_ADDR) to an address they can reach, e.g. 0.0.0.0:PORT",
			"self_url", n.cfg.SelfURL, "http_addr", n.cfg.HTTPAddr)
	}
	if auth != nil {
		n.goLoop(auth.fetchLoop)
	}
	n.gossip.Join(n.ctx, n.cfg.Join)
	n.goLoop(n.monitorLeadership)
	n.goLoop(n.followNodes)
	n.goLoop(n.announceUpstream)
	n.boot.st.Expect = n.cfg.BootstrapExpect
	switch {
	case parts.hasState:
		n.boot.set(api.BootstrapExistingData, "")
	case n.cfg.BootstrapExpect == 0:
		n.boot.set(api.BootstrapJoining, "no bootstrap-expect: waiting to be added by a leader")
		n.goLoop(n.bootstrapWhenExpected)
	default:
		n.goLoop(n.bootstrapWhenExpected)
	}
	if cfg := n.cfg; cfg.Insecure && (cfg.TLS == nil || len(cfg.EncryptKey) == 0) {
		n.log.Warn("INSECURE: running without TLS or without a gossip key (--insecure): any host that reaches the gossip "+
			"or Raft port can join the cluster, read the catalog and rewrite it", "tls", cfg.TLS != nil, "gossip_key", len(cfg.EncryptKey) > 0)
	}
	n.log.Info("node started", "self_url", n.cfg.SelfURL, "raft", parts.transport.LocalAddr(),
		"gossip", n.gossip.LocalAddr(), "existing_state", parts.hasState)
	return nil
}

func (p *raftParts) close() {
	p.transport.Close()
	p.store.Close()
}

func (n *Node) goLoop(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// ID is this node's ID.
func (n *Node) ID() string { return n.id }

// SelfURL is this node's HTTP URL as peers reach it.
func (n *Node) SelfURL() string { return n.cfg.SelfURL }

// FSM gives read access to the local replica of the catalog.
func (n *Node) FSM() *fsm.FSM { return n.fsm }

// Members is the gossip member table.
func (n *Node) Members() []gossip.Member { return n.gossip.Members() }

// IsLeader reports whether this node is the Raft leader.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the leader's node ID and HTTP URL as gossip knows it, or
// empty strings when there is no known leader.
func (n *Node) Leader() (id, url string) {
	_, lid := n.raft.LeaderWithID()
	if lid == "" && !n.IsServer() {
		// A client agent learns the leader from its upstream server.
		lid = raft.ServerID(n.replica.leader())
	}
	if lid == "" {
		return "", ""
	}
	if string(lid) == n.id {
		return n.id, n.cfg.SelfURL
	}
	m, ok := n.gossip.Member(string(lid))
	if !ok {
		return string(lid), ""
	}
	return string(lid), m.URL
}

// LastContact is how long ago this node last heard from the leader (zero on
// the leader itself).
func (n *Node) LastContact() time.Duration {
	if n.IsLeader() {
		return 0
	}
	// A client agent's contact is its replica stream's. IsServer second:
	// it copies Raft's configuration, and every answer asks.
	if t, _ := n.replica.lastContact(); !t.IsZero() && !n.IsServer() {
		return time.Since(t)
	}
	lc := n.raft.LastContact()
	if lc.IsZero() {
		return -1
	}
	return time.Since(lc)
}

// AppliedIndex is the index of the last log entry this node's FSM has
// applied. It is the FSM's own count, not raft's: raft moves its
// AppliedIndex when it hands a batch to the FSM, so a write answered just
// after its Apply returned could carry an index older than itself, and a
// follower waiting for that index would read before the write.
func (n *Node) AppliedIndex() uint64 { return n.fsm.AppliedIndex() }

// WaitApplied waits until this node's FSM has applied the log up to index,
// or ctx ends, or the node closes (ErrShutdown). It is woken by the FSM,
// not by polling.
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	return n.waitApplied(ctx, index, nil)
}

// WaitAppliedFor is WaitApplied for at most d: ErrApplyWait when d passes
// first. A timer of its own costs a write's answer less than a context
// with a timeout (which registers with its parent and is taken out again).
func (n *Node) WaitAppliedFor(ctx context.Context, index uint64, d time.Duration) error {
	if n.fsm.AppliedIndex() >= index {
		return nil // no timer to set up
	}
	t := time.NewTimer(d)
	defer t.Stop()
	return n.waitApplied(ctx, index, t.C)
}

// AckForwarded records that this node answered a write the leader applied
// at index before applying it here: reads wait for it (AckedIndex).
func (n *Node) AckForwarded(index uint64) { monotonic.Raise(&n.acked, index) }

// AckedIndex is the highest index AckForwarded was given: a local read
// answered before this node has applied it could miss a write the node
// has acknowledged.
func (n *Node) AckedIndex() uint64 { return n.acked.Load() }

// ErrApplyWait is WaitAppliedFor's answer when its time is up.
var ErrApplyWait = errors.New("not applied in time")

func (n *Node) waitApplied(ctx context.Context, index uint64, timeout <-chan time.Time) error {
	for {
		ch := n.fsm.AppliedCh()
		if n.fsm.AppliedIndex() >= index {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout:
			return ErrApplyWait
		case <-n.ctx.Done():
			// Closed: nothing more will be applied here, so the wait
			// ends now rather than when the caller's time runs out
			// (an agent stopping under reads would wait on them).
			return ErrShutdown
		case <-ch:
		}
	}
}

// CaughtUp reports whether local reads are safe from going back in time.
// A restarted node replays its log only as far as the commit index it
// learns from a leader, so right after a restart its catalog can be older
// than what it answered before. Whatever it applied before was committed,
// and committed entries are never truncated, so it is caught up once its
// FSM has applied the last index it had on disk, or, if a new leader has
// since replaced an uncommitted tail of that log, the log's last index now.
// A leader is caught up once its barrier is applied; a node outside the
// Raft configuration once its replica has synced with a server. It stays
// caught up.
func (n *Node) CaughtUp() bool {
	if h := n.replica.hold.Load(); h != nil {
		// Raft installed a snapshot older than the catalog (a promoted
		// client, a snapshot sent again) and is replaying up to where
		// the catalog was. Raft having applied past that index is as
		// good: nothing below it is left to replay. That is an
		// operator's restore at once (Raft places it after its log),
		// whose catalog index stays the backup's until the next write.
		if ra := n.raft.AppliedIndex(); n.fsm.AppliedIndex() < h.index && (ra < h.index || ra <= h.raftAt) {
			return false
		}
		n.replica.hold.CompareAndSwap(h, nil)
	}
	if n.caughtUp.Load() {
		return true
	}
	if !n.IsServer() {
		// Outside the Raft configuration (a client agent, or a node not
		// yet added) the catalog is only as current as the replica
		// stream: it answers once the stream has caught up with a server
		// since this start. Before that its catalog is empty, or older
		// than what it answered before a restart (the chaos campaign saw
		// a restarted client answer index 1 after 5337, having read
		// before it learnt of any server).
		if !n.replica.synced.Load() {
			return false
		}
		n.caughtUp.Store(true)
		return true
	}
	ok := n.fsm.AppliedIndex() >= n.catchUpIndex(min(n.bootIndex, n.raft.LastIndex()))
	if !ok && n.raft.State() == raft.Leader {
		ok = n.readyTerm.Load() == n.raft.CurrentTerm()
	}
	if ok {
		n.caughtUp.Store(true)
	}
	return ok
}

// catchUpIndex is the index the FSM must have applied for CaughtUp: the
// last entry at or below target that raft hands the FSM (a command or a
// configuration). Raft applies its no-op and barriers without the FSM, so
// a log that ends with one (a consistent read's barrier, a new leader's
// no-op) would otherwise never count as applied, and every local read after
// a restart waited out its deadline. An entry already compacted away lies
// in the snapshot the FSM restored.
func (n *Node) catchUpIndex(target uint64) uint64 {
	if c := n.catchUp.Load(); c != nil && c[0] == target {
		return c[1]
	}
	visible := target
	var l raft.Log
	for i := target; i > 0; i-- {
		if err := n.parts.store.GetLog(i, &l); err != nil {
			if errors.Is(err, raft.ErrLogNotFound) {
				visible = 0
			}
			break // any other error: keep the strict target
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			visible = i
			break
		}
	}
	n.catchUp.Store(&[2]uint64{target, visible})
	return visible
}

// WaitCaughtUp waits until CaughtUp, woken by the FSM's applies, or
// returns ErrCatchingUp when ctx ends first.
func (n *Node) WaitCaughtUp(ctx context.Context) error {
	for !n.CaughtUp() {
		select {
		case <-ctx.Done():
			return ErrCatchingUp
		case <-n.fsm.AppliedCh():
		case <-time.After(50 * time.Millisecond): // a truncated log applies nothing
		}
	}
	return nil
}

// Apply writes a command through Raft and returns the FSM's result. It works
// only on the leader; the HTTP layer forwards writes that land elsewhere.
func (n *Node) Apply(ctx context.Context, cmd *fsm.Command) (any, error) {
	if !n.IsLeader() {
		return nil, ErrNotLeader
	}
	b, err := cmd.EncodeAs(n.LogFormat())
	if err != nil {
		return nil, err
	}
	return n.ApplyEncoded(ctx, b)
}

// ApplyEncoded is Apply of a command already encoded (fsm.EncodeBatch).
func (n *Node) ApplyEncoded(ctx context.Context, b []byte) (any, error) {
	if !n.IsLeader() {
		return nil, ErrNotLeader
	}
	if len(b) > fsm.MaxCommandSize {
		// Committed, it would be skipped by every replica's FSM as
		// undecodable; refused, nothing is written.
		return nil, &api.Error{Code: api.CodeTooLarge, Message: fmt.Sprintf("the write encodes to %d bytes; one Raft entry may hold %d", len(b), fsm.MaxCommandSize)}
	}
	if err := n.disk.admit(); err != nil {
		return nil, err
	}
	timeout := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	f := n.raft.Apply(b, timeout)
	if err := n.await(n.ctx, f); err != nil {
		if errors.Is(err, errGaveUp) {
			// The write may have been appended before Raft stopped.
			return nil, ErrLeadershipLost
		}
		return nil, n.disk.failed(err, mapRaftErr(err))
	}
	if err, ok := f.Response().(error); ok {
		return nil, err
	}
	return f.Response(), nil
}

func mapRaftErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader):
		return ErrNotLeader
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return ErrLeadershipLost
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return ErrTimeout
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrShutdown
	}
	return err
}

// Leave removes this node from the cluster on purpose: leadership is handed
// over first, then peers learn of the departure by gossip and the leader
// removes this node from the Raft configuration. The node is closed after.
func (n *Node) Leave(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	if n.IsLeader() && n.voterCount() > 1 {
		if err := n.raft.LeadershipTransfer().Error(); err != nil {
			n.log.Warn("leadership transfer before leave failed", "err", err)
		}
	}
	if err := n.gossip.Leave(time.Until(deadline) / 2); err != nil {
		n.log.Warn("gossip leave", "err", err)
	}
	// Wait until the leader has removed us, as far as this node can tell.
	for time.Now().Before(deadline) && n.IsServer() && n.voterCount() > 1 {
		time.Sleep(100 * time.Millisecond)
	}
	return n.Close()
}

func (n *Node) voterCount() int {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return 0
	}
	c := 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			c++
		}
	}
	return c
}

// Close stops the node without leaving: it stays in the Raft configuration,
// as a restart needs. Safe to call more than once.
func (n *Node) Close() error {
	n.closeMu.Lock()
	defer n.closeMu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	n.cancel()
	if n.observer != nil {
		n.raft.DeregisterObserver(n.observer)
	}
	err := n.raft.Shutdown().Error()
	n.wg.Wait()
	n.readRounds.Close(ErrShutdown)
	if gerr := n.gossip.Shutdown(); err == nil {
		err = gerr
	}
	n.closeSampler()
	n.parts.close()
	n.lock.Release()
	return err
}

func (n *Node) closeSampler() {
	if n.sampler != nil {
		n.sampler.Close()
	}
}

// DialContext opens a TCP connection from this node to another one: the
// HTTP layer forwards to the leader through it, so a test's fault switch
// (Config.Faults) cuts or slows that path as well.
func (n *Node) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return n.cfg.Faults.DialContext(ctx, network, addr)
}
