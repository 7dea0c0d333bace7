package fsm

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestDefaultCheck(t *testing.T) {
	cases := []struct {
		url  string
		want CheckType
	}{
		{"http://api:8080", CheckTCP},
		{"http://api.example.com/v1", CheckHTTP},
		{"https://api.example.com", CheckHTTP},
		{"grpc://api", CheckNone},
		{"https://[::1]:8443/x", CheckTCP},
	}
	for _, c := range cases {
		got := DefaultCheck(c.url, 0)
		if got.Type != c.want {
			t.Errorf("%q: %s, want %s", c.url, got.Type, c.want)
		}
		if err := ValidateCheck(got); err != nil {
			t.Errorf("%q: default check is invalid: %v", c.url, err)
		}
	}
	if c := DefaultCheck("http://a:1", time.Minute); c.Interval.D() != time.Minute || c.Timeout.D() != DefaultCheckTimeout ||
		c.FailuresBeforeUnhealthy != DefaultFailures || c.SuccessesBeforeHealthy != DefaultSuccesses {
		t.Errorf("defaults not filled: %+v", c)
	}
}

func TestValidateCheck(t *testing.T) {
	s := time.Second
	cases := []struct {
		name  string
		check Check
		field string // "" when valid
	}{
		{"http", Check{Type: CheckHTTP, Path: "/health"}, ""},
		{"tcp", Check{Type: CheckTCP, DeregisterAfter: Duration(time.Minute)}, ""},
		{"ttl", Check{Type: CheckTTL, TTL: Duration(30 * s)}, ""},
		{"none", Check{Type: CheckNone}, ""},
		{"none with deregister", Check{Type: CheckNone, DeregisterAfter: Duration(time.Hour)}, ""},
		{"no type", Check{}, "check.type"},
		{"bad type", Check{Type: "icmp"}, "check.type"},
		{"path without slash", Check{Type: CheckHTTP, Path: "health"}, "check.path"},
		{"path with space", Check{Type: CheckHTTP, Path: "/a b"}, "check.path"},
		{"path on tcp", Check{Type: CheckTCP, Path: "/x"}, "check.path"},
		{"ttl missing", Check{Type: CheckTTL}, "check.ttl"},
		{"ttl on http", Check{Type: CheckHTTP, TTL: Duration(s)}, "check.ttl"},
		{"negative interval", Check{Type: CheckTCP, Interval: Duration(-s)}, "check.interval"},
		{"interval too short", Check{Type: CheckTCP, Interval: Duration(100 * time.Millisecond)}, "check.interval"},
		{"timeout over interval", Check{Type: CheckTCP, Interval: Duration(2 * s), Timeout: Duration(3 * s)}, "check.timeout"},
		{"negative failures", Check{Type: CheckTCP, FailuresBeforeUnhealthy: -1}, "check.failuresBeforeUnhealthy"},
		{"too many successes", Check{Type: CheckHTTP, SuccessesBeforeHealthy: 101}, "check.successesBeforeHealthy"},
		{"failures on ttl", Check{Type: CheckTTL, TTL: Duration(s), FailuresBeforeUnhealthy: 2}, "check.failuresBeforeUnhealthy"},
		{"interval on none", Check{Type: CheckNone, Interval: Duration(s)}, "check.interval"},
		{"deregister before a check", Check{Type: CheckTCP, Interval: Duration(10 * s), DeregisterAfter: Duration(s)}, "check.deregisterAfter"},
		{"negative deregister", Check{Type: CheckNone, DeregisterAfter: Duration(-s)}, "check.deregisterAfter"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ck := c.check
			ck.Complete()
			err := ValidateCheck(&ck)
			if c.field == "" {
				if err != nil {
					t.Fatalf("valid check refused: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeInvalid || e.Field != c.field {
				t.Fatalf("want invalid %s, got %v", c.field, err)
			}
		})
	}
}

func TestDurationJSON(t *testing.T) {
	var c Check
	if err := json.Unmarshal([]byte(`{"type":"tcp","interval":"1m30s"}`), &c); err != nil || c.Interval.D() != 90*time.Second {
		t.Fatalf("got %v, %v", c.Interval.D(), err)
	}
	for _, bad := range []string{`{"interval":10}`, `{"interval":"ten"}`} {
		if err := json.Unmarshal([]byte(bad), &c); err == nil || !strings.Contains(err.Error(), "check.interval") {
			t.Errorf("%s: want an interval error, got %v", bad, err)
		}
	}
	b, _ := json.Marshal(Check{Type: CheckTTL, TTL: Duration(30 * time.Second)})
	if string(b) != `{"type":"ttl","ttl":"30s"}` {
		t.Errorf("marshal: %s", b)
	}
	var d Duration
	if err := json.Unmarshal([]byte(`"0s"`), &d); err == nil {
		t.Error("a zero duration was accepted")
	}
}

func TestRegisterStoresDefaultCheckAndKeepsGivenOne(t *testing.T) {
	a := newApplier(t)
	def := DefaultCheck("http://a:1", 0)
	res := a.apply(&Command{Type: CmdRegisterInstance, Register: &RegisterCommand{
		Instance: Instance{URL: "http://a:1"}, NewID: "i1", Now: t0, DefaultCheck: def}})
	row := res.(*Instance)
	if row.Check == nil || row.Check.Type != CheckTCP || !row.StatusChangedAt.Equal(t0) {
		t.Fatalf("default check not stored: %+v", row)
	}
	ttl := &Check{Type: CheckTTL, TTL: Duration(time.Minute), Interval: Duration(10 * time.Second)}
	res = a.apply(&Command{Type: CmdRegisterInstance, Register: &RegisterCommand{
		Instance: Instance{URL: "http://a:1", Check: ttl}, Now: t0.Add(time.Second), DefaultCheck: def}})
	if got := res.(*Instance).Check; got.Type != CheckTTL {
		t.Fatalf("re-registration with a check: %+v", got)
	}
	res = a.apply(&Command{Type: CmdRegisterInstance, Register: &RegisterCommand{
		Instance: Instance{URL: "http://a:1", Status: StatusHealthy}, Now: t0.Add(2 * time.Second), DefaultCheck: def}})
	row = res.(*Instance)
	if row.Check.Type != CheckTTL || !row.StatusChangedAt.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("re-registration without a check must keep it and stamp the status change: %+v", row)
	}
	bad := &Check{Type: CheckHTTP, Path: "nope"}
	if res := a.apply(&Command{Type: CmdRegisterInstance, Register: &RegisterCommand{
		Instance: Instance{URL: "http://a:1", Check: bad}, Now: t0}}); CodeOf(res.(error)) != CodeInvalid {
		t.Fatalf("invalid check applied: %v", res)
	}
}

func TestSetStatuses(t *testing.T) {
	a := newApplier(t)
	a.mustRegister(Instance{URL: "http://a:1"}, "a")
	b := a.mustRegister(Instance{URL: "http://b:1"}, "b")
	a.mustRegister(Instance{URL: "http://c:1"}, "c")
	at := t0.Add(time.Minute)
	res := a.apply(&Command{Type: CmdSetStatuses, Statuses: []StatusUpdate{
		{ID: "a", Status: StatusHealthy, From: StatusUnknown, At: at, Heartbeat: at, Reason: "GET / 200"},
		{ID: "b", Status: StatusUnhealthy, From: StatusHealthy, At: at}, // stale: b is Unknown
		{ID: "c", Remove: true, IfModifyIndex: b.ModifyIndex},           // stale index
		{ID: "gone", Status: StatusHealthy, At: at},
		{ID: "b", Heartbeat: t0.Add(-time.Hour)}, // never moves back
	}}).(*StatusResult)
	if !slices.Equal(res.Applied, []string{"a"}) || !slices.Equal(res.Skipped, []string{"b", "c", "b"}) ||
		!slices.Equal(res.Missing, []string{"gone"}) {
		t.Fatalf("result: %+v", res)
	}
	rows := a.list(InstanceFilter{ID: "a"})
	if r := rows[0]; r.Status != StatusHealthy || !r.StatusChangedAt.Equal(at) || !r.LastHeartbeat.Equal(at) ||
		r.StatusReason != "GET / 200" || r.ModifyIndex != a.index {
		t.Fatalf("row a: %+v", r)
	}
	c := a.list(InstanceFilter{ID: "c"})[0]
	res = a.apply(&Command{Type: CmdSetStatuses, Statuses: []StatusUpdate{{ID: "c", Remove: true, IfModifyIndex: c.ModifyIndex}}}).(*StatusResult)
	if len(res.Applied) != 1 || len(a.list(InstanceFilter{ID: "c"})) != 0 {
		t.Fatalf("conditional removal: %+v", res)
	}
	// An update that changes nothing is skipped and does not move the index.
	_, before, _ := a.f.Instances(nil, InstanceFilter{})
	res = a.apply(&Command{Type: CmdSetStatuses, Statuses: []StatusUpdate{{ID: "a", Status: StatusHealthy, At: at}}}).(*StatusResult)
	if _, after, _ := a.f.Instances(nil, InstanceFilter{}); len(res.Skipped) != 1 || after != before {
		t.Fatalf("no-op update: %+v, index %d -> %d", res, before, after)
	}
}

func TestValidateStatusUpdates(t *testing.T) {
	at := t0
	cases := []struct {
		us    []StatusUpdate
		field string
	}{
		{nil, "updates"},
		{[]StatusUpdate{{ID: "a/b", Status: StatusHealthy, At: at}}, "updates[0].id"},
		{[]StatusUpdate{{ID: "a", Status: "Fine", At: at}}, "updates[0].status"},
		{[]StatusUpdate{{ID: "a", Status: StatusHealthy}}, "updates[0].at"},
		{[]StatusUpdate{{ID: "a"}}, "updates[0].status"},
		{[]StatusUpdate{{ID: "a", Remove: true, Status: StatusHealthy, At: at}}, "updates[0].remove"},
		{[]StatusUpdate{{ID: "a", Status: StatusHealthy, At: at}, {ID: "b", From: "x", Status: StatusHealthy, At: at}}, "updates[1].from"},
	}
	for _, c := range cases {
		err := ValidateStatusUpdates(c.us)
		var e *Error
		if !errors.As(err, &e) || e.Field != c.field {
			t.Errorf("%+v: want %s, got %v", c.us, c.field, err)
		}
	}
	if err := ValidateStatusUpdates(make([]StatusUpdate, MaxStatusUpdates+1)); err == nil {
		t.Error("oversized batch accepted")
	}
}

func TestCheckJSONNamesTheField(t *testing.T) {
	cases := map[string]string{
		`{"type":"tcp","interval":"0s"}`:                "check.interval",
		`{"type":"tcp","interval":-5}`:                  "check.interval",
		`{"type":"tcp","timeout":"-1s"}`:                "check.timeout",
		`{"type":"tcp","failuresBeforeUnhealthy":0}`:    "check.failuresBeforeUnhealthy",
		`{"type":"tcp","successesBeforeHealthy":"two"}`: "check.successesBeforeHealthy",
		`{"type":"tcp","bogus":1}`:                      "check.bogus",
		`{"type":"ttl","ttl":"soon"}`:                   "check.ttl",
		`"tcp"`:                                         "check",
	}
	for in, field := range cases {
		var c Check
		err := json.Unmarshal([]byte(in), &c)
		var e *Error
		if !errors.As(err, &e) || e.Field != field {
			t.Errorf("%s: want an error naming %s, got %v", in, field, err)
		}
	}
}

func TestScanInstancesSeesEveryRow(t *testing.T) {
	a := newApplier(t)
	a.mustRegister(Instance{URL: "http://a:1"}, "a")
	a.mustRegister(Instance{URL: "http://b:1", Status: StatusUnhealthy}, "b")
	var ids []string
	index, err := a.f.ScanInstances(func(in *Instance) { ids = append(ids, in.ID+":"+string(in.Status)) })
	slices.Sort(ids)
	if err != nil || index != a.index || !slices.Equal(ids, []string{"a:Unknown", "b:Unhealthy"}) {
		t.Fatalf("scan: %v at %d (%v)", ids, index, err)
	}
}

// One transaction per batch: a refused entry in the middle changes nothing,
// and the entries around it, including one that depends on an earlier one
// of the same batch, apply.
func TestApplyBatchRefusesOneEntryAndAppliesTheRest(t *testing.T) {
	f := New(nil)
	enc := func(c *Command) []byte {
		b, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	reg := func(url, id, slug string) []byte {
		return enc(&Command{Type: CmdRegisterInstance, Register: &RegisterCommand{Instance: Instance{URL: url, Slug: slug}, NewID: id, Now: t0}})
	}
	logs := []*raft.Log{
		{Index: 1, Type: raft.LogCommand, Data: reg("http://a:1", "a", "s1")},
		{Index: 2, Type: raft.LogCommand, Data: reg("http://a:1", "a2", "s2")}, // conflict: slug
		{Index: 3, Type: raft.LogCommand, Data: enc(&Command{Type: CmdSetStatuses, Statuses: []StatusUpdate{{ID: "a", Status: StatusHealthy, At: t0}}})},
		{Index: 4, Type: raft.LogNoop},
	}
	out := f.ApplyBatch(logs)
	if CodeOf(out[1].(error)) != CodeConflict || out[0].(*Instance).ID != "a" || len(out[2].(*StatusResult).Applied) != 1 || out[3] != nil {
		t.Fatalf("results %v", out)
	}
	list, index, _ := f.Instances(nil, InstanceFilter{})
	if len(list) != 1 || list[0].Slug != "s1" || list[0].Status != StatusHealthy || index != 3 {
		t.Fatalf("state %+v at %d", list, index)
	}
}

// AppliedIndex moves after a batch is applied, survives a snapshot, and
// wakes waiters.
func TestAppliedIndexAndSnapshot(t *testing.T) {
	a := newApplier(t)
	ch := a.f.AppliedCh()
	a.mustRegister(Instance{URL: "http://a:1"}, "a")
	select {
	case <-ch:
	default:
		t.Fatal("AppliedCh not closed by an apply")
	}
	a.apply(&Command{Type: CmdDeregisterInstance, ID: "nosuch"}) // refused, still applied
	if got := a.f.AppliedIndex(); got != 2 {
		t.Fatalf("applied %d, want 2", got)
	}
	var buf bytes.Buffer
	snap, _ := a.f.Snapshot()
	if err := snap.(*snapshot).write(&buf); err != nil {
		t.Fatal(err)
	}
	f := New(nil)
	if err := f.Restore(io.NopCloser(&buf)); err != nil || f.AppliedIndex() != 2 {
		t.Fatalf("restored applied %d (%v), want 2", f.AppliedIndex(), err)
	}
}
