package fsm

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func regCmd(t *testing.T, url, id, newID string) Command {
	t.Helper()
	in := Instance{URL: url, ID: id, Slug: "svc"}
	if err := NormalizeInstance(&in); err != nil {
		t.Fatal(err)
	}
	return Command{Type: CmdRegisterInstance, Register: &RegisterCommand{Instance: in, NewID: newID, Now: t0}}
}

// Each write of a batch has its own outcome: refused ones change nothing,
// the others apply at the batch's index, in order.
func TestBatchWritesHaveTheirOwnResults(t *testing.T) {
	a := newApplier(t)
	old := a.mustRegister(Instance{URL: "http://10.0.0.9:80", Slug: "svc"}, "inst-old")
	res := a.apply(&Command{Type: CmdBatch, Batch: []Command{
		regCmd(t, "http://10.0.0.1:80", "", "inst-a"),
		regCmd(t, "http://10.0.0.9:80", "inst-other", "inst-x"), // URL held by inst-old
		{Type: CmdDeregisterInstance, ID: "inst-missing"},
		{Type: CmdDeregisterInstance, ID: old.ID},
		regCmd(t, "http://10.0.0.1:80", "", "inst-b"), // the same URL again: an update of inst-a
	}})
	rs, ok := res.([]BatchResult)
	if !ok || len(rs) != 5 {
		t.Fatalf("result %T %v, want 5 BatchResults", res, res)
	}
	a1, ok := rs[0].Row.(*Instance)
	if rs[0].Err != nil || !ok || a1.ID != "inst-a" || a1.ModifyIndex != a.index {
		t.Fatalf("write 0: %+v", rs[0])
	}
	var fe *Error
	if !errors.As(rs[1].Err, &fe) || fe.Code != CodeConflict || fe.Field != "url" {
		t.Fatalf("write 1: %+v, want a url conflict", rs[1])
	}
	if !errors.As(rs[2].Err, &fe) || fe.Code != CodeNotFound {
		t.Fatalf("write 2: %+v, want not found", rs[2])
	}
	if rs[3].Err != nil || rs[3].Row != nil {
		t.Fatalf("write 3: %+v", rs[3])
	}
	if a2 := rs[4].Row.(*Instance); a2.ID != "inst-a" || a2.CreateIndex != a.index {
		t.Fatalf("write 4 should update inst-a: %+v", a2)
	}
	got := a.list(InstanceFilter{})
	if len(got) != 1 || got[0].ID != "inst-a" {
		t.Fatalf("catalog after the batch: %v", got)
	}
	if a.f.AppliedIndex() != a.index {
		t.Fatalf("applied %d, want %d", a.f.AppliedIndex(), a.index)
	}
}

func TestBatchCommandsAreChecked(t *testing.T) {
	for name, c := range map[string]Command{
		"empty":      {Type: CmdBatch},
		"nested":     {Type: CmdBatch, Batch: []Command{{Type: CmdBatch, Batch: []Command{{Type: CmdDeregisterInstance, ID: "x"}}}}},
		"definition": {Type: CmdBatch, Batch: []Command{{Type: CmdDeleteDefinition, ID: "x"}}},
		"no payload": {Type: CmdBatch, Batch: []Command{{Type: CmdRegisterInstance}}},
		"too many":   {Type: CmdBatch, Batch: make([]Command, MaxBatch+1)},
	} {
		b, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeCommand(b); err == nil || !strings.Contains(err.Error(), "batch") {
			t.Errorf("%s: DecodeCommand = %v, want a batch error", name, err)
		}
	}
}

// EncodeBatch writes the same bytes as encoding the batch command whole.
func TestEncodeBatchMatchesEncode(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	cmds := []Command{
		{Type: CmdRegisterInstance, Register: &RegisterCommand{Instance: Instance{URL: "http://a:1", Slug: "s", Tags: []string{"x"}}, NewID: "inst-1", Now: now}},
		{Type: CmdDeregisterInstance, ID: "inst-2"},
	}
	// Every format, and the binary array's three length encodings.
	for _, f := range []Format{FormatJSON, FormatBinary, FormatS2} {
		for _, n := range []int{2, 40, 70000} {
			var batch []Command
			var parts [][]byte
			for i := range n {
				c := cmds[i%2]
				b, err := c.EncodeAs(f.Part())
				if err != nil {
					t.Fatal(err)
				}
				batch, parts = append(batch, c), append(parts, b)
			}
			whole, err := (&Command{Type: CmdBatch, Batch: batch}).EncodeAs(f)
			if err != nil {
				t.Fatal(err)
			}
			if got := EncodeBatch(parts, f); string(got) != string(whole) {
				t.Fatalf("format %d, %d writes: EncodeBatch:\n%.200x\nEncodeAs:\n%.200x", f, n, got, whole)
			}
			if n > MaxBatch {
				continue // too many to decode, and right to be
			}
			back, err := DecodeCommand(EncodeBatch(parts, f))
			if err != nil || len(back.Batch) != n {
				t.Fatalf("format %d, %d writes: %v", f, n, err)
			}
		}
	}
}
