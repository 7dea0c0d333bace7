package fsm

import (
	"fmt"
	"io"
	"testing"

	"github.com/hashicorp/raft"
)

func registerLogs(b *testing.B, n int) []*raft.Log {
	logs := make([]*raft.Log, n)
	for i := range logs {
		in := Instance{URL: fmt.Sprintf("http://host-%d:8080", i), Slug: fmt.Sprintf("svc-%d", i%100), Tags: []string{"t"}}
		if err := NormalizeInstance(&in); err != nil {
			b.Fatal(err)
		}
		data, err := (&Command{Type: CmdRegisterInstance, Register: &RegisterCommand{Instance: in, NewID: fmt.Sprintf("inst-%d", i), Now: t0}}).Encode()
		if err != nil {
			b.Fatal(err)
		}
		logs[i] = &raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: data}
	}
	return logs
}

// BenchmarkApplyBatchRegister measures the FSM side of a register, in the
// batches of 64 that Raft delivers.
func BenchmarkApplyBatchRegister(b *testing.B) {
	logs := registerLogs(b, b.N)
	f := New(nil)
	b.ResetTimer()
	for i := 0; i < len(logs); i += 64 {
		f.ApplyBatch(logs[i:min(i+64, len(logs))])
	}
}

// BenchmarkSnapshot20k measures persisting a 20,000-instance catalog.
func BenchmarkSnapshot20k(b *testing.B) {
	f := New(nil)
	f.ApplyBatch(registerLogs(b, 20000))
	b.ResetTimer()
	for range b.N {
		s, _ := f.Snapshot()
		if err := s.(*snapshot).write(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListBySlug measures a local read of one slug among 20,000.
func BenchmarkListBySlug(b *testing.B) {
	f := New(nil)
	f.ApplyBatch(registerLogs(b, 20000))
	b.ResetTimer()
	for range b.N {
		if list, _, _ := f.Instances(nil, InstanceFilter{Slug: "svc-7"}); len(list) != 200 {
			b.Fatalf("%d", len(list))
		}
	}
}
