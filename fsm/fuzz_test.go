package fsm

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/klauspost/compress/s2"
)

func seedCommands() [][]byte {
	var out [][]byte
	for _, c := range []*Command{
		{Type: CmdRegisterInstance, Register: &RegisterCommand{Instance: Instance{URL: "http://a:1", Slug: "s", Tags: []string{"x"}}, NewID: "i1", Now: time.Unix(1, 0)}},
		{Type: CmdDeregisterInstance, ID: "i1"},
		{Type: CmdSaveDefinition, Definition: &Definition{ID: "d", Image: &ImageSpec{Name: "n", InternalPorts: []uint16{80}}}},
		{Type: CmdDeleteDefinition, ID: "d"},
		{Type: CmdRegisterInstance, Register: &RegisterCommand{Instance: Instance{URL: "http://a:1", ID: "i2",
			Check: &Check{Type: CheckHTTP, Path: "/h", Interval: Duration(time.Second), Timeout: Duration(time.Second),
				FailuresBeforeUnhealthy: 2, SuccessesBeforeHealthy: 1, DeregisterAfter: Duration(time.Minute)}}, Now: time.Unix(2, 0)}},
		{Type: CmdSetStatuses, Statuses: []StatusUpdate{{ID: "i2", Status: StatusHealthy, From: StatusUnknown, At: time.Unix(3, 0), Heartbeat: time.Unix(3, 0)},
			{ID: "i2", Remove: true, IfModifyIndex: 1}}},
	} {
		// Every format a log may hold (3 whatever the block's size).
		for _, f := range []Format{FormatJSON, FormatBinary} {
			b, _ := c.EncodeAs(f)
			out = append(out, b)
		}
		b, _ := c.EncodeAs(FormatBinary)
		out = append(out, append([]byte{byte(FormatS2)}, s2.Encode(nil, b[1:])...))
	}
	return out
}

// Any log entry, however malformed, is applied or refused without a panic,
// and the state stays consistent enough to snapshot and restore.
func FuzzApplyCommand(f *testing.F) {
	for _, b := range seedCommands() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fsm := New(nil)
		fsm.ApplyBatch([]*raft.Log{{Index: 1, Type: raft.LogCommand, Data: data}, {Index: 2, Type: raft.LogCommand, Data: data}})
		var buf bytes.Buffer
		snap, _ := fsm.Snapshot()
		if err := snap.(*snapshot).write(&buf); err != nil {
			t.Fatalf("snapshot after applying %q: %v", data, err)
		}
		if err := New(nil).Restore(io.NopCloser(&buf)); err != nil {
			t.Fatalf("restore of own snapshot after %q: %v", data, err)
		}
	})
}

// A corrupt snapshot is refused without a panic and without touching the
// state that was there.
func FuzzRestore(f *testing.F) {
	a := New(nil)
	for i, b := range seedCommands()[:1] {
		a.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: b})
	}
	var good bytes.Buffer
	snap, _ := a.Snapshot()
	snap.(*snapshot).write(&good)
	f.Add(good.Bytes())
	f.Add([]byte("{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsm := New(nil)
		fsm.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: seedCommands()[0]})
		if err := fsm.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
			if list, _, _ := fsm.Instances(nil, InstanceFilter{}); len(list) != 1 {
				t.Fatalf("a refused snapshot changed the state: %d instances", len(list))
			}
		}
	})
}
