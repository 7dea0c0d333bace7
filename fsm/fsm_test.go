package fsm

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// applier feeds commands to an FSM as Raft would, with increasing indexes.
type applier struct {
	t     *testing.T
	f     *FSM
	index uint64
	logs  []*raft.Log
}

func newApplier(t *testing.T) *applier { return &applier{t: t, f: New(nil)} }

func (a *applier) apply(c *Command) any {
	a.t.Helper()
	b, err := c.Encode()
	if err != nil {
		a.t.Fatal(err)
	}
	a.index++
	l := &raft.Log{Index: a.index, Type: raft.LogCommand, Data: b}
	a.logs = append(a.logs, l)
	return a.f.Apply(l)
}

func (a *applier) register(in Instance, newID string) (*Instance, error) {
	a.t.Helper()
	if err := NormalizeInstance(&in); err != nil {
		return nil, err
	}
	res := a.apply(&Command{Type: CmdRegisterInstance, Register: &RegisterCommand{Instance: in, NewID: newID, Now: t0}})
	if err, ok := res.(error); ok {
		return nil, err
	}
	return res.(*Instance), nil
}

func (a *applier) mustRegister(in Instance, newID string) *Instance {
	a.t.Helper()
	out, err := a.register(in, newID)
	if err != nil {
		a.t.Fatalf("register %+v: %v", in, err)
	}
	return out
}

func (a *applier) list(f InstanceFilter) []*Instance {
	a.t.Helper()
	out, _, err := a.f.Instances(nil, f)
	if err != nil {
		a.t.Fatal(err)
	}
	return out
}

func TestRegisterCreatesWithGeneratedIDAndDefaults(t *testing.T) {
	a := newApplier(t)
	got := a.mustRegister(Instance{URL: "http://user-service:8080", Slug: "user-svc"}, "inst-abc")
	if got.ID != "inst-abc" || got.Status != StatusUnknown || got.CreateIndex != 1 || got.ModifyIndex != 1 {
		t.Fatalf("unexpected row %+v", got)
	}
	if got.Host != "user-service" || got.Port != 8080 || got.Scheme != "http" || !got.LastHeartbeat.Equal(t0) {
		t.Fatalf("URL parts not derived: %+v", got)
	}
}

func TestRegisterIsUpsertByURL(t *testing.T) {
	a := newApplier(t)
	first := a.mustRegister(Instance{URL: "http://a:1", Slug: "s", Status: StatusHealthy, Tags: []string{"x"}}, "inst-1")
	second := a.mustRegister(Instance{URL: "http://a:1", DeploymentID: "depl_1"}, "inst-2")
	if second.ID != first.ID {
		t.Fatalf("re-register made a new row: %s then %s", first.ID, second.ID)
	}
	if second.Status != StatusHealthy || second.Slug != "s" || len(second.Tags) != 1 || second.DeploymentID != "depl_1" {
		t.Fatalf("merge lost or ignored fields: %+v", second)
	}
	if second.CreateIndex != 1 || second.ModifyIndex != 2 {
		t.Fatalf("indexes: create %d modify %d", second.CreateIndex, second.ModifyIndex)
	}
	if n := len(a.list(InstanceFilter{})); n != 1 {
		t.Fatalf("want 1 instance, have %d", n)
	}
}

func TestRegisterConflicts(t *testing.T) {
	a := newApplier(t)
	a.mustRegister(Instance{URL: "http://a:1", Slug: "owner"}, "inst-1")
	_, err := a.register(Instance{URL: "http://a:1", Slug: "thief"}, "inst-2")
	if CodeOf(err) != CodeConflict {
		t.Fatalf("foreign slug: want conflict, got %v", err)
	}
	_, err = a.register(Instance{ID: "other", URL: "http://a:1"}, "")
	if CodeOf(err) != CodeConflict {
		t.Fatalf("second id for one URL: want conflict, got %v", err)
	}
	got := a.list(InstanceFilter{})
	if len(got) != 1 || got[0].Slug != "owner" || got[0].ID != "inst-1" {
		t.Fatalf("a refused write changed state: %+v", got)
	}
}

// A generated ID that another row holds is refused, not stored over it:
// the other row stays whole and found by its URL and slug.
func TestRegisterRefusesAGeneratedIDThatIsTaken(t *testing.T) {
	a := newApplier(t)
	a.mustRegister(Instance{URL: "http://a:1", Slug: "s"}, "inst-1")
	_, err := a.register(Instance{URL: "http://b:1", Slug: "t"}, "inst-1")
	if CodeOf(err) != CodeConflict || !strings.Contains(err.Error(), "inst-1") {
		t.Fatalf("want a conflict naming the ID, got %v", err)
	}
	got := a.list(InstanceFilter{})
	if len(got) != 1 || got[0].URL != "http://a:1" || got[0].Slug != "s" {
		t.Fatalf("the refused write changed the catalog: %+v", got)
	}
	if got := a.list(InstanceFilter{Slug: "s"}); len(got) != 1 {
		t.Fatalf("slug s lost its row: %+v", got)
	}
	if got := a.list(InstanceFilter{Slug: "t"}); len(got) != 0 {
		t.Fatalf("slug t has a row: %+v", got)
	}
}

func TestRegisterByIDMovesURL(t *testing.T) {
	a := newApplier(t)
	a.mustRegister(Instance{ID: "inst_custom_123", URL: "http://old:1"}, "")
	moved := a.mustRegister(Instance{ID: "inst_custom_123", URL: "http://new:1"}, "")
	if moved.URL != "http://new:1" || moved.CreateIndex != 1 {
		t.Fatalf("move: %+v", moved)
	}
	if got := a.list(InstanceFilter{}); len(got) != 1 {
		t.Fatalf("move left %d rows", len(got))
	}
	if got := a.list(InstanceFilter{Host: "old"}); len(got) != 0 {
		t.Fatalf("old URL still indexed: %+v", got)
	}
}

func TestFiltersAreANDedAndUseIndexes(t *testing.T) {
	a := newApplier(t)
	a.mustRegister(Instance{URL: "http://h1:1", Slug: "a", Tags: []string{"dev", "x"}, NodeURL: "http://n1:11337"}, "i1")
	a.mustRegister(Instance{URL: "http://h2:1", Slug: "a", Tags: []string{"prod"}, Status: StatusHealthy}, "i2")
	a.mustRegister(Instance{URL: "https://10.0.0.1:443/v1", Slug: "b", DeploymentID: "depl_abc123"}, "i3")
	cases := []struct {
		f    InstanceFilter
		want []string
	}{
		{InstanceFilter{}, []string{"i1", "i2", "i3"}},
		{InstanceFilter{Slug: "a"}, []string{"i1", "i2"}},
		{InstanceFilter{Slug: "a", Tag: "dev"}, []string{"i1"}},
		{InstanceFilter{Tag: "prod", Status: "Healthy"}, []string{"i2"}},
		{InstanceFilter{Tag: "prod", Status: "Unknown"}, nil},
		{InstanceFilter{IP: "10.0.0.1"}, []string{"i3"}},
		{InstanceFilter{Host: "h2"}, []string{"i2"}},
		{InstanceFilter{Host: "10.0.0.1"}, []string{"i3"}}, // ?host= also finds an IP URL
		{InstanceFilter{Host: "10.0.0.1", Slug: "a"}, nil},
		{InstanceFilter{Path: "/v1", Scheme: "https"}, []string{"i3"}},
		{InstanceFilter{DeploymentID: "depl_abc123"}, []string{"i3"}},
		{InstanceFilter{NodeURL: "http://n1:11337"}, []string{"i1"}},
		{InstanceFilter{ID: "i2", Slug: "b"}, nil},
	}
	for _, c := range cases {
		var ids []string
		for _, in := range a.list(c.f) {
			ids = append(ids, in.ID)
		}
		if !slices.Equal(ids, c.want) {
			t.Errorf("filter %+v: got %v want %v", c.f, ids, c.want)
		}
	}
}

func TestDeregister(t *testing.T) {
	a := newApplier(t)
	a.mustRegister(Instance{URL: "http://a:1"}, "i1")
	if res := a.apply(&Command{Type: CmdDeregisterInstance, ID: "i1"}); res != nil {
		t.Fatalf("deregister: %v", res)
	}
	res := a.apply(&Command{Type: CmdDeregisterInstance, ID: "i1"})
	if err, _ := res.(error); CodeOf(err) != CodeNotFound {
		t.Fatalf("second deregister: want not found, got %v", res)
	}
	if _, idx, _ := a.f.Instances(nil, InstanceFilter{}); idx != 2 {
		t.Fatalf("index after delete: %d, want 2 (the failed delete must not bump it)", idx)
	}
}

func TestDefinitions(t *testing.T) {
	a := newApplier(t)
	d := &Definition{ID: "nginx-svc", Image: &ImageSpec{Name: "nginx:alpine", InternalPorts: []uint16{80}},
		Ports: []PortMapping{{Internal: 80, Host: 8080}}}
	if res := a.apply(&Command{Type: CmdSaveDefinition, Definition: d}); res.(*Definition).CreateIndex != 1 {
		t.Fatalf("save: %v", res)
	}
	a.apply(&Command{Type: CmdSaveDefinition, Definition: d})
	bad := &Definition{ID: "x", Image: &ImageSpec{Name: "a"}, Repository: &RepositorySpec{URL: "https://g/x.git"}}
	if err, _ := a.apply(&Command{Type: CmdSaveDefinition, Definition: bad}).(error); CodeOf(err) != CodeInvalid {
		t.Fatalf("both image and repository: want invalid, got %v", err)
	}
	defs, idx, _ := a.f.Definitions(nil)
	if len(defs) != 1 || defs[0].CreateIndex != 1 || defs[0].ModifyIndex != 2 || idx != 2 {
		t.Fatalf("definitions %+v index %d", defs, idx)
	}
	if res := a.apply(&Command{Type: CmdDeleteDefinition, ID: "nginx-svc"}); res != nil {
		t.Fatalf("delete: %v", res)
	}
	if err, _ := a.apply(&Command{Type: CmdDeleteDefinition, ID: "nginx-svc"}).(error); CodeOf(err) != CodeNotFound {
		t.Fatalf("delete absent: %v", err)
	}
}

func TestUndecodableEntryIsSkippedNotFatal(t *testing.T) {
	f := New(nil)
	res := f.ApplyBatch([]*raft.Log{
		{Index: 1, Type: raft.LogCommand, Data: []byte{9, '{'}},
		{Index: 2, Type: raft.LogConfiguration},
		{Index: 3, Type: raft.LogCommand, Data: []byte{1, '{', '}'}},
	})
	if len(res) != 3 || CodeOf(res[0].(error)) != CodeInvalid || res[1] != nil || CodeOf(res[2].(error)) != CodeInvalid {
		t.Fatalf("results %v", res)
	}
}

func snapshotBytes(t *testing.T, f *FSM) []byte {
	t.Helper()
	s, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.(*snapshot).write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSnapshotRestoreRoundTripAndDeterminism(t *testing.T) {
	a := newApplier(t)
	for i, u := range []string{"http://a:1", "http://b:2", "http://c:3/x"} {
		a.mustRegister(Instance{URL: u, Slug: "s", Tags: []string{"t"}}, "i"+string(rune('0'+i)))
	}
	a.apply(&Command{Type: CmdSaveDefinition, Definition: &Definition{ID: "d", Repository: &RepositorySpec{URL: "git@github.com:x/y.git"}}})
	a.apply(&Command{Type: CmdDeregisterInstance, ID: "i1"})

	// A second replica fed the same log reaches byte-identical state.
	replica := New(nil)
	replica.ApplyBatch(a.logs)
	want := snapshotBytes(t, a.f)
	if got := snapshotBytes(t, replica); !bytes.Equal(got, want) {
		t.Fatalf("replicas diverge:\n%s\n%s", want, got)
	}

	// Restore discards prior state and wakes watchers of the old state.
	restored := New(nil)
	abandoned := restored.AbandonCh()
	if _, _, err := restored.Instances(nil, InstanceFilter{}); err != nil {
		t.Fatal(err)
	}
	if err := restored.Restore(io.NopCloser(bytes.NewReader(want))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-abandoned:
	default:
		t.Fatal("restore did not close the abandon channel")
	}
	if got := snapshotBytes(t, restored); !bytes.Equal(got, want) {
		t.Fatalf("restore differs:\n%s\n%s", want, got)
	}
	if restored.Index() != a.f.Index() {
		t.Fatalf("index %d != %d", restored.Index(), a.f.Index())
	}
}

func TestRestoreRejectsGarbage(t *testing.T) {
	for _, in := range []string{"", "{}", `{"format":99}`, "{\"format\":1}\n{}", "{\"format\":1}\n{\"bogus\":1}"} {
		f := New(nil)
		if err := f.Restore(io.NopCloser(bytes.NewReader([]byte(in)))); err == nil {
			t.Errorf("restore of %q succeeded", in)
		}
	}
}

func TestWatchFiresOnChange(t *testing.T) {
	a := newApplier(t)
	ws := memdb.NewWatchSet()
	if _, _, err := a.f.Instances(ws, InstanceFilter{Slug: "s"}); err != nil {
		t.Fatal(err)
	}
	a.mustRegister(Instance{URL: "http://a:1", Slug: "s"}, "i1")
	if timedOut := ws.Watch(time.After(time.Second)); timedOut {
		t.Fatal("watch did not fire after a matching write")
	}
}

func TestDecodeCommandRejects(t *testing.T) {
	for _, in := range [][]byte{nil, {2, '{', '}'}, []byte("\x01{\"type\":1}"), []byte("\x01{\"type\":77,\"id\":\"x\"}"), []byte("\x01[")} {
		if _, err := DecodeCommand(in); err == nil {
			t.Errorf("decoded %q", in)
		}
	}
}

func TestErrorsCarryFieldAndCode(t *testing.T) {
	err := ValidateID("id", "a/b")
	var e *Error
	if !errors.As(err, &e) || e.Field != "id" || e.Code != CodeInvalid {
		t.Fatalf("%#v", err)
	}
}
