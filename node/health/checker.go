package health

import (
	"container/heap"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/gossip"
	"github.com/rosterhq/roster/node"
)

// Config wires a Checker to its node.
type Config struct {
	Node *node.Node
	// Submit proposes a batch of updates to the Raft leader
	// (forward.Forwarder.ProposeStatuses: applied here when this node
	// leads, else sent to the leader).
	Submit func(context.Context, []api.StatusUpdate) error
	// Settings are the agent's check settings (defaults filled in New).
	Settings Settings
	// Workers bounds concurrent probes (default 64).
	Workers int
	Logger  *slog.Logger
}

// Loop timings: how often the checker looks at leadership and flushes, and
// how often it rereads the catalog at most and at least.
const (
	tickEvery = 200 * time.Millisecond
	minResync = 500 * time.Millisecond
	// maxResync is how long a heartbeat for an instance this node does not
	// check is kept, waiting for its registration.
	maxResync = 5 * time.Second
	// fullResync is how often the whole catalog is read again although the
	// change history says what changed: a net under the incremental path.
	fullResync = 30 * time.Second
	// catchUpBatch bounds the changes taken from the history at a time.
	catchUpBatch  = 4096
	submitTimeout = 10 * time.Second
	// maxBatch bounds one proposal; a bigger flush is split.
	maxBatch = 1000
	// selfPreservationFloor: with fewer Unhealthy instances than this,
	// deregistration never pauses, so one dead instance in a small registry
	// is still removed.
	selfPreservationFloor = 3
)

// Checker checks the instances this node owns.
type Checker struct {
	cfg      Config
	n        *node.Node
	settings Settings
	log      *slog.Logger
	prober   *prober

	results chan result
	flushed chan error
	beatSig chan struct{}

	beatMu sync.Mutex
	beats  map[string]time.Time // heartbeats not yet taken by the loop

	statusMu sync.Mutex
	status   api.HealthStatus
	counts   counts

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	probes sync.WaitGroup

	// Loop state: only the run goroutine touches these.
	targets map[string]*target
	// early holds heartbeats for instances this node does not check (yet):
	// a heartbeat can arrive before the registration reaches the loop.
	early      map[string]time.Time
	queue      dueQueue
	inFlight   int
	flushing   bool
	lastResync time.Time
	resyncGap  time.Duration
	// seen is the catalog index up to which targets follow the catalog:
	// changes after it are taken from the FSM's change history (catchUp).
	seen uint64
	// membersSig is what ownership was computed from (ownerSig);
	// membersMoved says gossip reported a change since.
	membersSig   string
	membersMoved bool
	// unhealthy holds the IDs of Unhealthy instances, for the
	// self-preservation counts without a scan of the catalog.
	unhealthy   map[string]struct{}
	leader      string
	nextRefresh time.Time
	paused      bool
}

type result struct {
	t      *target
	pass   bool
	reason string
	start  time.Time
	at     time.Time
}

// New prepares a checker; Start runs it.
func New(cfg Config) *Checker {
	if cfg.Workers <= 0 {
		cfg.Workers = 64
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := cfg.Settings.WithDefaults()
	if err != nil {
		// The agent checks the settings before it builds a checker.
		panic(fmt.Sprintf("health: %v", err))
	}
	return &Checker{
		cfg: cfg, n: cfg.Node, settings: s, log: cfg.Logger, prober: newProber(s.Targets),
		results: make(chan result, cfg.Workers),
		flushed: make(chan error, 1),
		beatSig: make(chan struct{}, 1),
		beats:   map[string]time.Time{},
		status:  api.HealthStatus{SelfPreservationThreshold: s.SelfPreservation},
		targets: map[string]*target{},
		early:   map[string]time.Time{},
		done:    make(chan struct{}),
	}
}

// Start runs the checker until Stop.
func (c *Checker) Start() {
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go func() {
		defer close(c.done)
		c.run(c.ctx)
	}()
}

// Stop ends the checker and waits for its probes.
func (c *Checker) Stop() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	<-c.done
	c.prober.close()
}

// Status returns the checker's latest counts.
func (c *Checker) Status() api.HealthStatus {
	c.statusMu.Lock()
	defer c.statusMu.Unlock()
	return c.status
}

// DefaultCheck is the check an instance registered here without one gets.
func (c *Checker) DefaultCheck(rawURL string) *api.Check {
	return api.DefaultCheck(rawURL, c.settings.CheckInterval)
}

// Owner is the node that checks inst in this node's gossip view.
func (c *Checker) Owner(inst *api.Instance) (gossip.Member, bool) {
	return Owner(inst, c.n.CheckMembers())
}

// Heartbeat records a heartbeat of a ttl instance. It never blocks: the
// loop takes it on its next turn.
func (c *Checker) Heartbeat(id string) {
	c.beatMu.Lock()
	c.beats[id] = time.Now()
	c.beatMu.Unlock()
	select {
	case c.beatSig <- struct{}{}:
	default:
	}
}

func (c *Checker) run(ctx context.Context) {
	changes, unsubscribe := c.n.SubscribeMembers()
	defer unsubscribe()
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	defer c.probes.Wait()
	c.leader, _ = c.n.Leader()
	c.resync(time.Now())
	for {
		c.resetTimer(timer)
		select {
		case <-ctx.Done():
			return
		case <-changes:
			c.membersMoved = true
		case <-c.beatSig:
			c.takeBeats()
		case r := <-c.results:
			c.record(r)
		case err := <-c.flushed:
			c.flushing = false
			if err != nil {
				c.log.Warn("proposing health updates failed; retrying", "err", err)
				c.forgetProposals()
			}
		case now := <-timer.C:
			c.dispatch(ctx, now)
		case now := <-tick.C:
			c.onTick(ctx, now)
		}
	}
}

func (c *Checker) onTick(ctx context.Context, now time.Time) {
	if id, _ := c.n.Leader(); id != c.leader {
		// A new leader, or none: give every instance one interval of fresh
		// evidence before anything is declared Unhealthy.
		c.leader = id
		for _, t := range c.targets {
			t.extendGrace(now)
		}
	}
	since := now.Sub(c.lastResync)
	switch {
	case since >= fullResync:
		c.resync(now)
	case c.membersMoved && since >= c.resyncGap:
		// Ownership follows the alive members: a sample or a suspicion
		// that leaves them as they were moves nothing.
		c.membersMoved = false
		if ownerSig(c.n.CheckMembers()) != c.membersSig {
			c.resync(now)
		}
	}
	if !c.catchUp(now) && since >= c.resyncGap {
		c.resync(now) // the history no longer reaches back far enough
	}
	for id, at := range c.early {
		if now.Sub(at) > maxResync {
			delete(c.early, id) // not an instance this node checks
		}
	}
	c.flush(ctx, now)
}

// resync rereads the catalog: which instances this node owns, their latest
// rows, and the counts behind self-preservation.
func (c *Checker) resync(now time.Time) {
	c.lastResync, c.membersMoved = now, false
	members := c.n.CheckMembers()
	c.membersSig = ownerSig(members)
	self := c.n.ID()
	total := 0
	unhealthy := map[string]struct{}{}
	owned := make(map[string]bool, len(c.targets))
	// Rows share their tags, meta and check with the FSM: targets only
	// read them.
	index, err := c.n.FSM().ScanInstances(func(row *api.Instance) {
		total++
		if row.Status == api.StatusUnhealthy {
			unhealthy[row.ID] = struct{}{}
		}
		if !needsChecker(row) {
			return // nothing to probe, wait for or remove: no memory spent
		}
		if m, ok := Owner(row, members); ok && m.Name == self {
			owned[row.ID] = true
			c.track(row, now)
		}
	})
	if err != nil {
		c.log.Error("reading instances", "err", err)
		return
	}
	c.seen, c.unhealthy = index, unhealthy
	for id, t := range c.targets {
		if !owned[id] {
			c.untrack(t)
		}
	}
	c.setCounts(total, len(unhealthy))
	// A big catalog is rescanned less often: about 1 s per 100,000 rows
	// on top of the floor, so churn does not keep the loop busy.
	c.resyncGap = minResync + time.Duration(total)*10*time.Microsecond
}

// catchUp applies the catalog's changes since the last look to the
// targets and counts: a write costs every node the rows it changed, not a
// read of the whole catalog (which took 2-5% of a core per node with
// 50,000 instances under writes). False when the change history no
// longer reaches back to what was seen (a snapshot was installed, or the
// history turned over): the caller reads the whole catalog.
func (c *Checker) catchUp(now time.Time) bool {
	var members []gossip.Member
	self := c.n.ID()
	changed := false
	for {
		evs, complete, _, _ := c.n.FSM().EventsSince(c.seen, catchUpBatch)
		if !complete {
			return false
		}
		for _, ev := range evs {
			c.seen = max(c.seen, ev.Index)
			if ev.Kind != api.EventInstance {
				continue
			}
			changed = true
			row := ev.Instance
			if ev.Op == api.EventDelete {
				delete(c.unhealthy, ev.ID)
				if t := c.targets[ev.ID]; t != nil {
					c.untrack(t)
				}
				continue
			}
			if row.Status == api.StatusUnhealthy {
				c.unhealthy[row.ID] = struct{}{}
			} else {
				delete(c.unhealthy, row.ID)
			}
			if members == nil {
				members = c.n.CheckMembers()
			}
			if m, ok := Owner(row, members); ok && m.Name == self && needsChecker(row) {
				c.track(row, now)
			} else if t := c.targets[row.ID]; t != nil {
				c.untrack(t) // no longer ours, or nothing left to check
			}
		}
		if len(evs) < catchUpBatch {
			break
		}
	}
	if changed {
		c.setCounts(c.n.FSM().Usage().Instances, len(c.unhealthy))
	}
	return true
}

func (c *Checker) untrack(t *target) {
	c.queue.remove(t)
	delete(c.targets, t.id)
}

// ownerSig is what Owner decides from: the alive members' names and URLs.
func ownerSig(members []gossip.Member) string {
	var b strings.Builder
	for _, m := range members {
		if m.State == gossip.StateAlive {
			b.WriteString(m.Name)
			b.WriteByte(0)
			b.WriteString(m.URL)
			b.WriteByte(0)
		}
	}
	return b.String()
}

// needsChecker reports whether an instance has anything for a checker to
// do: probes, a ttl, or a deregistration to time.
func needsChecker(row *api.Instance) bool {
	return row.Check == nil || row.Check.Type != api.CheckNone || row.Check.DeregisterAfter != 0
}

// track starts checking a row this node owns, or brings a tracked one up to
// date.
func (c *Checker) track(row *api.Instance, now time.Time) {
	ck := effectiveCheck(row, c.settings.CheckInterval)
	t := c.targets[row.ID]
	switch {
	case t == nil:
		t = newTarget(row, ck, now)
		c.targets[row.ID] = t
	case t.key != targetKey(row, ck):
		t.reset(row, ck, now)
	default:
		t.row = seenOf(row)
		return
	}
	c.queue.remove(t)
	switch ck.Type {
	case api.CheckHTTP, api.CheckTCP:
		// Spread first probes over up to a second (or the interval).
		t.due = now.Add(rand.N(min(ck.Interval.D(), time.Second)))
		c.queue.push(t)
	case api.CheckTTL:
		t.due = t.ttlDeadline()
		c.queue.push(t)
		if at, ok := c.early[row.ID]; ok {
			delete(c.early, row.ID)
			c.applyBeat(t, at)
		}
	}
}

func (c *Checker) setCounts(total, unhealthy int) {
	paused := unhealthy >= selfPreservationFloor && float64(unhealthy) >= c.settings.SelfPreservation*float64(total)
	if paused != c.paused {
		c.paused = paused
		if paused {
			c.log.Warn("self-preservation: automatic deregistration paused", "unhealthy", unhealthy, "instances", total,
				"threshold", c.settings.SelfPreservation)
		} else {
			c.log.Info("self-preservation over: automatic deregistration resumed", "unhealthy", unhealthy, "instances", total)
		}
	}
	c.statusMu.Lock()
	c.status = api.HealthStatus{Checking: len(c.targets), Instances: total, Unhealthy: unhealthy,
		SelfPreservation: paused, SelfPreservationThreshold: c.settings.SelfPreservation}
	c.statusMu.Unlock()
}

// dispatch starts the probes that are due, as many as there are workers.
func (c *Checker) dispatch(ctx context.Context, now time.Time) {
	for c.queue.Len() > 0 && !c.queue.peek().due.After(now) {
		t := c.queue.peek()
		if t.check.Type == api.CheckTTL {
			heap.Pop(&c.queue)
			fails := t.fail
			t.expire(now)
			c.counts.add(api.CheckTTL, t.fail == fails)
			t.due = t.ttlDeadline()
			if !t.due.After(now) {
				t.due = now.Add(t.check.Interval.D())
			}
			c.queue.push(t)
			continue
		}
		if c.inFlight >= c.cfg.Workers {
			return // a result will free a worker and call dispatch again
		}
		heap.Pop(&c.queue)
		t.inFlight = true
		c.inFlight++
		row, ck := t.row, t.check
		c.probes.Add(1)
		go func() {
			defer c.probes.Done()
			start := time.Now()
			pass, reason := c.prober.probe(ctx, row, ck)
			c.counts.add(ck.Type, pass)
			select {
			case c.results <- result{t: t, pass: pass, reason: reason, start: start, at: time.Now()}:
			case <-ctx.Done():
			}
		}()
	}
}

// record takes a probe result and schedules the next probe one interval
// after this one started.
func (c *Checker) record(r result) {
	c.inFlight--
	t := r.t
	t.inFlight = false
	if c.targets[t.id] != t {
		return // no longer ours
	}
	t.observe(r.pass, r.reason, r.at)
	c.queue.remove(t) // re-tracked while probing: replace its schedule
	t.due = r.start.Add(t.check.Interval.D())
	c.queue.push(t)
	c.dispatch(c.ctx, time.Now())
}

func (c *Checker) takeBeats() {
	c.beatMu.Lock()
	beats := c.beats
	c.beats = map[string]time.Time{}
	c.beatMu.Unlock()
	for id, at := range beats {
		if t := c.targets[id]; t != nil {
			c.applyBeat(t, at)
		} else {
			c.early[id] = at // its registration may not have arrived yet
		}
	}
}

func (c *Checker) applyBeat(t *target, at time.Time) {
	if t.check.Type != api.CheckTTL {
		return
	}
	t.beat(at)
	c.queue.remove(t)
	t.due = t.ttlDeadline()
	c.queue.push(t)
}

func (c *Checker) resetTimer(timer *time.Timer) {
	d := time.Hour
	if c.queue.Len() > 0 {
		d = max(time.Until(c.queue.peek().due), 0)
	}
	timer.Reset(d)
}

// flush proposes what the evidence asks for: status changes, deregistrations
// and, once per refresh period, lastHeartbeat of healthy instances. One
// flush is in flight at a time; the next tick retries what did not land.
func (c *Checker) flush(ctx context.Context, now time.Time) {
	if c.flushing {
		return
	}
	var updates []api.StatusUpdate
	refresh := !now.Before(c.nextRefresh)
	for _, t := range c.targets {
		if u, ok := c.nextUpdate(t, now, refresh); ok {
			updates = append(updates, u)
		}
	}
	if refresh {
		c.nextRefresh = now.Add(c.settings.HeartbeatRefresh)
	}
	if len(updates) == 0 {
		return
	}
	c.flushing = true
	c.probes.Add(1)
	go func() {
		defer c.probes.Done()
		sctx, cancel := context.WithTimeout(ctx, submitTimeout)
		defer cancel()
		var err error
		for start := 0; start < len(updates) && err == nil; start += maxBatch {
			err = c.cfg.Submit(sctx, updates[start:min(start+maxBatch, len(updates))])
		}
		c.flushed <- err
	}()
}

// nextUpdate is the one update a target needs now, if any: a status change
// first, else a deregistration (unless paused), else a heartbeat refresh.
func (c *Checker) nextUpdate(t *target, now time.Time, refresh bool) (api.StatusUpdate, bool) {
	if u, ok := t.statusUpdate(now); ok {
		return u, true
	}
	if !c.paused {
		if u, ok := t.removal(now); ok {
			return u, true
		}
	}
	if refresh {
		return t.heartbeatUpdate(c.settings.HeartbeatRefresh / 2)
	}
	return api.StatusUpdate{}, false
}

// forgetProposals lets the next flush propose again at once.
func (c *Checker) forgetProposals() {
	for _, t := range c.targets {
		t.proposed, t.proposedAt = "", time.Time{}
	}
}
