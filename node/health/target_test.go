package health

import (
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/rosterhq/roster/api"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func probeTarget(status api.Status, failures, successes int) *target {
	ck := api.Check{Type: api.CheckTCP, Interval: api.Duration(time.Second), FailuresBeforeUnhealthy: failures, SuccessesBeforeHealthy: successes}
	ck.Complete()
	return newTarget(&api.Instance{ID: "i", URL: "http://a:1", Status: status}, ck, t0)
}

func TestThresholdsAndGrace(t *testing.T) {
	tg := probeTarget(api.StatusHealthy, 1, 2)
	// Inside the grace period a failure declares nothing, even at threshold 1.
	tg.observe(false, "refused", t0.Add(100*time.Millisecond))
	if _, ok := tg.statusUpdate(t0.Add(100 * time.Millisecond)); ok || tg.verdict != "" {
		t.Fatalf("unhealthy inside grace: %q", tg.verdict)
	}
	now := t0.Add(1100 * time.Millisecond)
	tg.observe(false, "refused", now)
	u, ok := tg.statusUpdate(now)
	if !ok || u.Status != api.StatusUnhealthy || u.From != api.StatusHealthy || u.Reason != "refused" {
		t.Fatalf("update %+v %v", u, ok)
	}
	// Proposed once; not again while the replica catches up.
	if _, ok := tg.statusUpdate(now.Add(time.Second)); ok {
		t.Fatal("re-proposed within the damping window")
	}
	tg.row = seenOf(&api.Instance{ID: "i", Status: api.StatusUnhealthy})
	tg.observe(true, "connected", now.Add(time.Second))
	if tg.verdict != api.StatusUnhealthy {
		t.Fatal("one success of two flipped the verdict")
	}
	tg.observe(true, "connected", now.Add(2*time.Second))
	u, ok = tg.statusUpdate(now.Add(2 * time.Second))
	if !ok || u.Status != api.StatusHealthy || !u.Heartbeat.Equal(now.Add(2*time.Second)) {
		t.Fatalf("recovery update %+v %v", u, ok)
	}
}

func TestStoppingIsLeftAlone(t *testing.T) {
	tg := probeTarget(api.StatusStopping, 1, 1)
	tg.observe(false, "refused", t0.Add(5*time.Second))
	if u, ok := tg.statusUpdate(t0.Add(5 * time.Second)); ok {
		t.Fatalf("changed a Stopping instance: %+v", u)
	}
}

func TestLeaderChangeRestartsGrace(t *testing.T) {
	tg := probeTarget(api.StatusHealthy, 1, 1)
	tg.extendGrace(t0.Add(10 * time.Second))
	tg.observe(false, "refused", t0.Add(10500*time.Millisecond))
	if tg.verdict != "" {
		t.Fatal("unhealthy within a second of a leader change")
	}
}

func TestTTLDeadline(t *testing.T) {
	ck := api.Check{Type: api.CheckTTL, TTL: api.Duration(30 * time.Second), Interval: api.Duration(10 * time.Second)}
	tg := newTarget(&api.Instance{ID: "i", Status: api.StatusHealthy}, ck, t0)
	if d := tg.ttlDeadline(); !d.Equal(t0.Add(30 * time.Second)) {
		t.Fatalf("a new checker's deadline %v, want a ttl after it took over", d)
	}
	tg.expire(t0.Add(29 * time.Second))
	if tg.verdict != "" {
		t.Fatal("expired before the ttl")
	}
	tg.beat(t0.Add(20 * time.Second))
	tg.expire(t0.Add(45 * time.Second))
	if tg.verdict != api.StatusHealthy {
		t.Fatalf("verdict %q after a heartbeat 25s ago", tg.verdict)
	}
	tg.expire(t0.Add(50 * time.Second))
	if tg.verdict != api.StatusUnhealthy {
		t.Fatalf("verdict %q 30s after the last heartbeat", tg.verdict)
	}
}

func TestRemovalAndRefresh(t *testing.T) {
	ck := api.Check{Type: api.CheckNone, DeregisterAfter: api.Duration(time.Minute)}
	row := &api.Instance{ID: "i", Status: api.StatusUnhealthy, StatusChangedAt: t0, ModifyIndex: 7}
	tg := newTarget(row, ck, t0)
	if _, ok := tg.removal(t0.Add(59 * time.Second)); ok {
		t.Fatal("removed before deregisterAfter")
	}
	u, ok := tg.removal(t0.Add(time.Minute))
	if !ok || !u.Remove || u.IfModifyIndex != 7 {
		t.Fatalf("removal %+v %v", u, ok)
	}
	if _, ok := tg.removal(t0.Add(61 * time.Second)); ok {
		t.Fatal("removal proposed twice within the damping window")
	}

	hb := probeTarget(api.StatusHealthy, 1, 1)
	hb.row.LastHeartbeat = t0
	hb.observe(true, "ok", t0.Add(20*time.Second))
	if _, ok := hb.heartbeatUpdate(30 * time.Second); ok {
		t.Fatal("refreshed a heartbeat only 20s old")
	}
	hb.observe(true, "ok", t0.Add(40*time.Second))
	if u, ok := hb.heartbeatUpdate(30 * time.Second); !ok || !u.Heartbeat.Equal(t0.Add(40*time.Second)) || u.Status != "" {
		t.Fatalf("refresh %+v %v", u, ok)
	}
}

// A target keeps what it reads of a row, not the row: the catalog builds a
// 320-byte *api.Instance for every read, and one held per checked instance
// would cost more than the catalog's own compact row.
func TestTargetHoldsNoRow(t *testing.T) {
	row := &api.Instance{ID: "i", URL: "http://10.1.1.1:80", IP: "10.1.1.1", Port: 80, Status: api.StatusHealthy,
		LastHeartbeat: t0, StatusChangedAt: t0, ModifyIndex: 3}
	ck := api.Check{Type: api.CheckTCP, Interval: api.Duration(time.Second), Timeout: api.Duration(time.Second)}
	tg := newTarget(row, ck, t0)
	if got := dialAddr(tg.row); got != "10.1.1.1:80" || tg.row.Status != api.StatusHealthy || tg.row.ModifyIndex != 3 {
		t.Fatalf("target reads %+v (dial %s)", tg.row, got)
	}
	held := weak.Make(row)
	row = nil
	for i := 0; held.Value() != nil; i++ {
		if i == 20 {
			t.Fatal("the target keeps the whole row alive")
		}
		runtime.GC()
	}
	runtime.KeepAlive(tg)
}
