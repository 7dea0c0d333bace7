package health

import (
	"encoding/json"
	"time"

	"github.com/rosterhq/roster/api"
)

// target is one instance this node checks, with the evidence gathered
// since it became the checker. Only the checker's loop goroutine touches it.
type target struct {
	id    string
	row   seen      // the latest row seen in the local replica
	check api.Check // the effective check
	key   string    // url and check: when they change the evidence is reset

	// since is when this node became the checker; nothing is declared
	// Unhealthy before graceUntil (one interval of own evidence, pushed
	// again by a leader change).
	since, graceUntil time.Time

	succ, fail int
	// verdict is Healthy or Unhealthy once a threshold was crossed, "" while
	// the evidence says nothing yet.
	verdict api.Status
	reason  string
	// lastPass is the last passing probe or heartbeat; lastBeat the last
	// heartbeat (ttl checks).
	lastPass, lastBeat time.Time

	// due is when the next probe (or ttl expiry) is; index is the heap slot,
	// -1 when not queued.
	due      time.Time
	index    int
	inFlight bool

	// proposed and proposedAt damp re-proposing a change the local replica
	// has not applied yet.
	proposed   api.Status
	proposedAt time.Time
}

// seen is what a target keeps of the latest row: what its probes and
// proposals read, about 130 bytes. Rows are built for each read of the
// catalog (fsm's compact rows), so keeping the whole *api.Instance would
// hold a 320-byte copy per checked instance.
type seen struct {
	URL, Host, IP                  string
	Port                           int
	Status                         api.Status
	LastHeartbeat, StatusChangedAt time.Time
	ModifyIndex                    uint64
}

func seenOf(row *api.Instance) seen {
	return seen{URL: row.URL, Host: row.Host, IP: row.IP, Port: row.Port, Status: row.Status,
		LastHeartbeat: row.LastHeartbeat, StatusChangedAt: row.StatusChangedAt, ModifyIndex: row.ModifyIndex}
}

// effectiveCheck is the check an instance is checked with. Rows stored
// before checks existed have none: they get the default for their URL.
func effectiveCheck(row *api.Instance, interval time.Duration) api.Check {
	if row.Check != nil {
		return *row.Check
	}
	return *api.DefaultCheck(row.URL, interval)
}

func targetKey(row *api.Instance, c api.Check) string {
	b, _ := json.Marshal(c)
	return row.URL + " " + string(b)
}

func newTarget(row *api.Instance, c api.Check, now time.Time) *target {
	t := &target{id: row.ID, index: -1}
	t.reset(row, c, now)
	return t
}

// reset starts the evidence afresh, as a new checker would.
func (t *target) reset(row *api.Instance, c api.Check, now time.Time) {
	*t = target{id: t.id, index: t.index, inFlight: t.inFlight, row: seenOf(row), check: c, key: targetKey(row, c), since: now}
	t.graceUntil = now.Add(t.graceSpan())
}

func (t *target) graceSpan() time.Duration {
	if t.check.Interval == 0 {
		return api.MinCheckInterval // none: still give the replica a moment
	}
	return t.check.Interval.D()
}

// extendGrace restarts the grace period (after a leader change).
func (t *target) extendGrace(now time.Time) {
	if g := now.Add(t.graceSpan()); g.After(t.graceUntil) {
		t.graceUntil = g
	}
}

// observe records one probe result.
func (t *target) observe(pass bool, reason string, now time.Time) {
	if pass {
		t.succ++
		t.fail = 0
		t.lastPass = now
		if t.succ >= max(t.check.SuccessesBeforeHealthy, 1) {
			t.verdict, t.reason = api.StatusHealthy, reason
		}
		return
	}
	t.fail++
	t.succ = 0
	if t.fail >= max(t.check.FailuresBeforeUnhealthy, 1) && !now.Before(t.graceUntil) {
		t.verdict, t.reason = api.StatusUnhealthy, reason
	}
}

// beat records a heartbeat of a ttl instance.
func (t *target) beat(at time.Time) {
	if at.After(t.lastBeat) {
		t.lastBeat = at
	}
	t.observe(true, "heartbeat received", at)
}

// ttlDeadline is when a ttl instance without a newer heartbeat expires: a
// ttl after its last heartbeat, and never sooner than a ttl after this node
// became its checker.
func (t *target) ttlDeadline() time.Time {
	base := t.since
	if t.lastBeat.After(base) {
		base = t.lastBeat
	}
	return base.Add(t.check.TTL.D())
}

// expire declares a ttl instance Unhealthy when its deadline has passed.
func (t *target) expire(now time.Time) {
	if now.Before(t.ttlDeadline()) {
		return
	}
	t.succ, t.fail = 0, t.fail+1
	t.verdict, t.reason = api.StatusUnhealthy, "no heartbeat for "+t.check.TTL.D().String()
}

// statusUpdate is the transition the evidence asks for, if any. A Stopping
// instance is left alone: failing checks are what stopping looks like.
func (t *target) statusUpdate(now time.Time) (api.StatusUpdate, bool) {
	cur := t.row.Status
	if t.verdict == "" || cur == t.verdict || cur == api.StatusStopping {
		return api.StatusUpdate{}, false
	}
	if t.proposed == t.verdict && now.Sub(t.proposedAt) < proposeDamping {
		return api.StatusUpdate{}, false
	}
	u := api.StatusUpdate{ID: t.id, Status: t.verdict, From: cur, Reason: t.reason, At: now}
	if t.verdict == api.StatusHealthy {
		u.Heartbeat = t.lastPass
	}
	t.proposed, t.proposedAt = t.verdict, now
	return u, true
}

// proposeDamping is how long a proposed change is not proposed again while
// the local replica catches up with it.
const proposeDamping = 2 * time.Second

// proposedRemoval marks a proposed deregistration in target.proposed.
const proposedRemoval api.Status = "(removal)"

// heartbeatUpdate refreshes lastHeartbeat of a healthy instance whose stored
// value is older than stale.
func (t *target) heartbeatUpdate(stale time.Duration) (api.StatusUpdate, bool) {
	if t.verdict != api.StatusHealthy || t.row.Status != api.StatusHealthy || t.lastPass.Sub(t.row.LastHeartbeat) < stale {
		return api.StatusUpdate{}, false
	}
	return api.StatusUpdate{ID: t.id, Heartbeat: t.lastPass}, true
}

// removal deregisters an instance that has been Unhealthy for its
// deregisterAfter, unless this node's own evidence says it is healthy or
// this node has not watched it for one interval yet.
func (t *target) removal(now time.Time) (api.StatusUpdate, bool) {
	after := t.check.DeregisterAfter.D()
	row := t.row
	if after == 0 || row.Status != api.StatusUnhealthy || row.StatusChangedAt.IsZero() ||
		now.Sub(row.StatusChangedAt) < after || now.Before(t.graceUntil) || t.verdict == api.StatusHealthy ||
		(t.proposed == proposedRemoval && now.Sub(t.proposedAt) < proposeDamping) {
		return api.StatusUpdate{}, false
	}
	t.proposed, t.proposedAt = proposedRemoval, now
	return api.StatusUpdate{ID: t.id, Remove: true, IfModifyIndex: row.ModifyIndex}, true
}
